//! Stage 3b: the OpenAPI 3.1 document (`openapi/openapi.json` and `.yaml`), built with utoipa's
//! `openapi` model types. Reads only the [`Api`] model.
//!
//! Choices, each matching what the gateway does at run time:
//! - one operation per binding, `operationId` as in `RouteSpec::operation_id`; one tag per service;
//! - property names are proto field names (the gateway's default output);
//! - a multi-segment variable such as `{name=shelves/*/books/*}` becomes one path parameter per
//!   wildcard (`/shelves/{shelf}/books/{book}`), because OpenAPI parameters cannot contain `/`;
//! - components are named by full proto name (`users.v1.User`), so packages never collide;
//! - everything is emitted in model order (services and components sorted), so output is stable.

use std::collections::BTreeSet;

use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, Paths, RefOr, Required,
    ResponseBuilder, ResponsesBuilder,
};

use crate::Error;
use crate::httprule::{Segment, VarSegment};
use crate::model::{
    Api, Binding, Body, Enum, FieldRef, FieldType, Label, Message, Method, Service,
};

/// The component name of the shared error body.
pub const STATUS_SCHEMA: &str = "google.rpc.Status";

/// The shared response component every operation references for errors.
pub const ERROR_RESPONSE: &str = "Error";

/// Options of the OpenAPI emitter.
#[derive(Debug, Clone)]
pub struct Options {
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// `info.license` as an SPDX expression (`MIT OR Apache-2.0`); omitted when `None`.
    pub license: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            title: "Gateway API".to_owned(),
            version: "0.1.0".to_owned(),
            license: None,
        }
    }
}

/// The document in both encodings.
#[derive(Debug, Clone)]
pub struct Document {
    /// Pretty-printed JSON, newline-terminated.
    pub json: String,
    /// YAML.
    pub yaml: String,
}

/// Renders the document.
pub fn emit(api: &Api, options: &Options) -> Result<Document, Error> {
    let mut paths = Paths::new();
    let mut tags = Vec::new();
    for service in &api.services {
        let tag = tag_name(api, service);
        tags.push(
            TagBuilder::new()
                .name(tag.clone())
                .description(Some(
                    service
                        .description
                        .clone()
                        .unwrap_or_else(|| format!("`{}`", service.full_name)),
                ))
                .build(),
        );
        for method in &service.methods {
            for binding in &method.bindings {
                let Some(http_method) = http_method(&binding.http_method) else {
                    // A custom kind OpenAPI has no field for: served, but not documented.
                    continue;
                };
                let (path, operation) = operation(api, &tag, method, binding);
                paths.add_path_operation(path, vec![http_method], operation);
            }
        }
    }

    let mut components = ComponentsBuilder::new()
        .schema(STATUS_SCHEMA, status_schema())
        .response(ERROR_RESPONSE, error_response());
    for message in api.messages.values() {
        components =
            components.schema(message.full_name.clone(), message_schema(api, message, &[]));
    }
    for item in api.enums.values() {
        components = components.schema(item.full_name.clone(), enum_schema(item));
    }

    let license = options.license.as_ref().map(|spdx| {
        utoipa::openapi::LicenseBuilder::new()
            .name(spdx.clone())
            .identifier(Some(spdx.clone()))
            .build()
    });
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(options.title.clone())
                .version(options.version.clone())
                .license(license)
                .description(Some(format!(
                    "Generated from {} by the gateway generator (build-support). Do not edit.",
                    api.files.join(", ")
                )))
                .build(),
        )
        // Relative: the document describes the gateway that serves it, wherever it listens.
        .servers(Some(vec![utoipa::openapi::Server::new("/")]))
        .paths(paths)
        .components(Some(components.build()))
        .tags(Some(tags))
        .build();
    prune_unreferenced_schemas(&mut doc)?;
    let json = doc
        .to_pretty_json()
        .map_err(|e| Error::Emit(format!("OpenAPI as JSON: {e}")))?;
    let yaml = doc
        .to_yaml()
        .map_err(|e| Error::Emit(format!("OpenAPI as YAML: {e}")))?;
    Ok(Document {
        json: json + "\n",
        yaml,
    })
}

fn tag_name(api: &Api, service: &Service) -> String {
    let shared = api
        .services
        .iter()
        .filter(|s| s.name == service.name)
        .count()
        > 1;
    if shared {
        service.full_name.clone()
    } else {
        service.name.clone()
    }
}

fn http_method(method: &str) -> Option<HttpMethod> {
    Some(match method {
        "GET" => HttpMethod::Get,
        "PUT" => HttpMethod::Put,
        "POST" => HttpMethod::Post,
        "DELETE" => HttpMethod::Delete,
        "PATCH" => HttpMethod::Patch,
        "HEAD" => HttpMethod::Head,
        "OPTIONS" => HttpMethod::Options,
        "TRACE" => HttpMethod::Trace,
        _ => return None,
    })
}

/// The OpenAPI path for a binding and its path parameters.
fn openapi_path(binding: &Binding) -> (String, Vec<Parameter>) {
    let mut path = String::new();
    let mut params = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut unique = |base: String| -> String {
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        used.insert(name.clone());
        name
    };
    let mut var_index = 0;
    for segment in &binding.parsed.segments {
        path.push('/');
        match segment {
            Segment::Literal(text) => path.push_str(text),
            Segment::Wildcard | Segment::DoubleWildcard => {
                let multi = matches!(segment, Segment::DoubleWildcard);
                let name = unique(if multi { "rest" } else { "segment" }.to_owned());
                path.push_str(&format!("{{{name}}}"));
                let description = if multi {
                    "Matches the rest of the path (`**`, any number of segments); not sent upstream."
                } else {
                    "Matches any one segment (`*`); not sent upstream."
                };
                params.push(path_parameter(
                    &name,
                    string_schema(),
                    Some(description.to_owned()),
                ));
            }
            Segment::Variable(var) => {
                let field = &binding.path_fields[var_index];
                var_index += 1;
                let joined = var.field_path.join(".");
                if var.segments == [VarSegment::Wildcard] {
                    let name = unique(joined.clone());
                    path.push_str(&format!("{{{name}}}"));
                    params.push(path_parameter(
                        &name,
                        element_schema(&field.ty),
                        field.description.clone(),
                    ));
                    continue;
                }
                // `{name=shelves/*/books/*}`: one parameter per wildcard, named after the
                // literal before it; the gateway sends the whole matched text as `name`.
                let mut previous: Option<&str> = None;
                let mut pieces = Vec::new();
                let mut wildcard_params = Vec::new();
                for (i, inner) in var.segments.iter().enumerate() {
                    match inner {
                        VarSegment::Literal(text) => {
                            pieces.push(text.clone());
                            previous = Some(text);
                        }
                        VarSegment::Wildcard | VarSegment::DoubleWildcard => {
                            let only_wildcard = var
                                .segments
                                .iter()
                                .filter(|s| !matches!(s, VarSegment::Literal(_)))
                                .count()
                                == 1;
                            let base = match previous {
                                Some(text) => singular(text),
                                None if only_wildcard => joined.clone(),
                                None => format!("{}_{}", var.field_path.join("_"), i + 1),
                            };
                            let name = unique(sanitize(&base));
                            pieces.push(format!("{{{name}}}"));
                            wildcard_params
                                .push((name, matches!(inner, VarSegment::DoubleWildcard)));
                            previous = None;
                        }
                    }
                }
                let shape = pieces.join("/");
                path.push_str(&shape);
                for (name, multi) in wildcard_params {
                    let mut description = format!(
                        "{}part of `{joined}` (`{shape}`): the gateway sends the whole matched path as `{joined}`.",
                        if multi {
                            "The remaining segments, "
                        } else {
                            "One segment, "
                        }
                    );
                    if let Some(text) = &field.description {
                        description = format!("{text}\n\n{description}");
                    }
                    params.push(path_parameter(&name, string_schema(), Some(description)));
                }
            }
        }
    }
    if let Some(verb) = &binding.parsed.verb {
        path.push(':');
        path.push_str(verb);
    }
    (path, params)
}

/// `shelves` -> `shelf`, `books` -> `book`, `categories` -> `category`.
fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = word.strip_suffix("ves") {
        format!("{stem}f")
    } else if let Some(stem) = word.strip_suffix('s').filter(|s| !s.ends_with('s')) {
        stem.to_owned()
    } else {
        format!("{word}_id")
    }
}

/// Keeps parameter names to `[A-Za-z0-9_.-]`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn path_parameter(name: &str, schema: RefOr<Schema>, description: Option<String>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(description)
        .schema(Some(schema))
        .build()
}

fn summary(description: &str) -> String {
    let first = description.split("\n\n").next().unwrap_or(description);
    let sentence = match first.find(". ") {
        Some(end) => &first[..=end],
        None => first,
    };
    sentence.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn operation(api: &Api, tag: &str, method: &Method, binding: &Binding) -> (String, Operation) {
    let (path, mut parameters) = openapi_path(binding);
    for query in &binding.query_params {
        let element = element_schema(&query.ty);
        let schema: RefOr<Schema> = if query.repeated {
            ArrayBuilder::new().items(element).build().into()
        } else {
            element
        };
        parameters.push(
            ParameterBuilder::new()
                .name(query.name.clone())
                .parameter_in(ParameterIn::Query)
                .required(if query.required {
                    Required::True
                } else {
                    Required::False
                })
                .description(query.description.clone())
                .schema(Some(schema))
                .build(),
        );
    }

    let request_body = match &binding.body {
        Body::None => None,
        Body::Whole => {
            let bound: Vec<&[String]> = binding
                .path_fields
                .iter()
                .map(|f| f.path.as_slice())
                .collect();
            Some(body_schema(api, &method.input_type, &bound))
        }
        Body::Field(field) => Some(field_schema(field)),
    }
    .map(|schema| {
        RequestBodyBuilder::new()
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .required(Some(Required::True))
            .build()
    });

    let response_schema = match &binding.response_body {
        Some(field) => field_schema(field),
        None => message_ref(&method.output_type),
    };
    let ok = if method.server_streaming {
        ResponseBuilder::new()
            .description("A stream of messages, one JSON value per line.")
            .content(
                "application/x-ndjson",
                ContentBuilder::new().schema(Some(response_schema)).build(),
            )
    } else {
        ResponseBuilder::new().description("OK").content(
            "application/json",
            ContentBuilder::new().schema(Some(response_schema)).build(),
        )
    };
    let error = || RefOr::Ref(utoipa::openapi::Ref::from_response_name(ERROR_RESPONSE));

    let operation = OperationBuilder::new()
        .tag(tag)
        .operation_id(Some(binding.operation_id.clone()))
        .summary(method.description.as_deref().map(summary))
        .description(method.description.clone())
        .parameters((!parameters.is_empty()).then_some(parameters))
        .request_body(request_body)
        .responses(
            ResponsesBuilder::new()
                .response("200", ok.build())
                // Every binding can fail validation (a bad path value, query value or body).
                .response("400", error())
                .response("default", error())
                .build(),
        )
        .build();
    (path, operation)
}

fn message_ref(full_name: &str) -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(full_name))
}

fn string_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .build()
        .into()
}

fn typed(ty: Type, format: Option<SchemaFormat>) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(ty).format(format)
}

fn nullable(ty: Type, format: Option<SchemaFormat>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([ty, Type::Null]))
        .format(format)
        .build()
        .into()
}

fn known(format: KnownFormat) -> Option<SchemaFormat> {
    Some(SchemaFormat::KnownFormat(format))
}

fn custom(format: &str) -> Option<SchemaFormat> {
    Some(SchemaFormat::Custom(format.to_owned()))
}

/// A float or double: a JSON number, or one of the strings proto3 JSON uses for non-finite values.
fn floating(format: KnownFormat) -> RefOr<Schema> {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(typed(Type::Number, known(format)).build())
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["NaN", "Infinity", "-Infinity"]))
                    .build(),
            )
            .build(),
    )
    .into()
}

/// The schema of one value of a field (the element of a list, the value of a map).
fn element_schema(ty: &FieldType) -> RefOr<Schema> {
    match ty {
        FieldType::Bool => typed(Type::Boolean, None).build().into(),
        FieldType::Int32 => typed(Type::Integer, known(KnownFormat::Int32))
            .build()
            .into(),
        FieldType::Uint32 => typed(Type::Integer, custom("uint32"))
            .minimum(Some(0))
            .build()
            .into(),
        FieldType::Int64 => typed(Type::String, known(KnownFormat::Int64))
            .build()
            .into(),
        FieldType::Uint64 => typed(Type::String, custom("uint64")).build().into(),
        FieldType::Float => floating(KnownFormat::Float),
        FieldType::Double => floating(KnownFormat::Double),
        FieldType::String => typed(Type::String, None).build().into(),
        FieldType::Bytes => typed(Type::String, known(KnownFormat::Byte)).build().into(),
        FieldType::Enum(name) => message_ref(name),
        FieldType::Message(name) => well_known_schema(name).unwrap_or_else(|| message_ref(name)),
    }
}

/// The JSON mapping of the well-known types.
fn well_known_schema(name: &str) -> Option<RefOr<Schema>> {
    let any_value = || {
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .build()
    };
    Some(match name {
        "google.protobuf.Timestamp" => typed(Type::String, known(KnownFormat::DateTime))
            .description(Some(
                "RFC 3339 timestamp, for example `2024-01-01T00:00:00Z`.",
            ))
            .build()
            .into(),
        "google.protobuf.Duration" => typed(Type::String, None)
            .pattern(Some(r"^-?[0-9]+(\.[0-9]{1,9})?s$"))
            .description(Some("Seconds with an `s` suffix, for example `1.5s`."))
            .build()
            .into(),
        "google.protobuf.FieldMask" => typed(Type::String, None)
            .description(Some(
                "Comma-separated lowerCamelCase field paths, for example `name,address.city`.",
            ))
            .build()
            .into(),
        "google.protobuf.Struct" => typed(Type::Object, None)
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .build()
            .into(),
        "google.protobuf.Value" => any_value().into(),
        "google.protobuf.ListValue" => ArrayBuilder::new().items(any_value()).build().into(),
        "google.protobuf.Empty" => typed(Type::Object, None).build().into(),
        "google.protobuf.Any" => typed(Type::Object, None)
            .property(
                "@type",
                typed(Type::String, None).description(Some("The type URL of the message.")),
            )
            .required("@type")
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .build()
            .into(),
        "google.protobuf.DoubleValue" => nullable(Type::Number, known(KnownFormat::Double)),
        "google.protobuf.FloatValue" => nullable(Type::Number, known(KnownFormat::Float)),
        "google.protobuf.Int64Value" => nullable(Type::String, known(KnownFormat::Int64)),
        "google.protobuf.UInt64Value" => nullable(Type::String, custom("uint64")),
        "google.protobuf.Int32Value" => nullable(Type::Integer, known(KnownFormat::Int32)),
        "google.protobuf.UInt32Value" => nullable(Type::Integer, custom("uint32")),
        "google.protobuf.BoolValue" => nullable(Type::Boolean, None),
        "google.protobuf.StringValue" => nullable(Type::String, None),
        "google.protobuf.BytesValue" => nullable(Type::String, known(KnownFormat::Byte)),
        _ => return None,
    })
}

/// A field's full schema (lists and maps included) with its description and `readOnly`.
fn property_schema(
    ty: &FieldType,
    label: &Label,
    description: Option<&str>,
    read_only: bool,
) -> RefOr<Schema> {
    let element = element_schema(ty);
    let whole: RefOr<Schema> = match label {
        Label::Singular => element,
        Label::Repeated => ArrayBuilder::new().items(element).build().into(),
        Label::Map(_) => typed(Type::Object, None)
            .additional_properties(Some(element))
            .build()
            .into(),
    };
    annotate(whole, description, read_only)
}

/// Adds a description and `readOnly` to a schema or reference.
fn annotate(schema: RefOr<Schema>, description: Option<&str>, read_only: bool) -> RefOr<Schema> {
    match schema {
        RefOr::Ref(mut reference) => {
            if let Some(text) = description {
                reference.description = text.to_owned();
            }
            if read_only {
                reference.read_only = Some(true);
            }
            RefOr::Ref(reference)
        }
        RefOr::T(Schema::Object(mut object)) => {
            if description.is_some() {
                object.description = description.map(str::to_owned);
            }
            if read_only {
                object.read_only = Some(true);
            }
            RefOr::T(Schema::Object(object))
        }
        RefOr::T(Schema::Array(mut array)) => {
            // utoipa's `Array` has no `readOnly`; the description carries the meaning.
            if description.is_some() {
                array.description = description.map(str::to_owned);
            }
            RefOr::T(Schema::Array(array))
        }
        RefOr::T(Schema::OneOf(mut one_of)) => {
            if description.is_some() {
                one_of.description = description.map(str::to_owned);
            }
            RefOr::T(Schema::OneOf(one_of))
        }
        other => other,
    }
}

fn field_schema(field: &FieldRef) -> RefOr<Schema> {
    property_schema(&field.ty, &field.label, field.description.as_deref(), false)
}

/// The body of a `body: "*"` binding: the request message minus the fields the path binds, inlined
/// only as deep as those fields are (a reference when the path binds nothing in it).
fn body_schema(api: &Api, type_name: &str, bound: &[&[String]]) -> RefOr<Schema> {
    match api.messages.get(type_name) {
        Some(message) if !bound.is_empty() => message_schema(api, message, bound).into(),
        _ => message_ref(type_name),
    }
}

/// A message as an object schema, leaving out the fields at the `excluded` paths.
fn message_schema(api: &Api, message: &Message, excluded: &[&[String]]) -> Schema {
    let mut object = typed(Type::Object, None).description(message.description.clone());
    for field in &message.fields {
        if excluded
            .iter()
            .any(|path| path.len() == 1 && path[0] == field.name)
        {
            continue;
        }
        let nested: Vec<&[String]> = excluded
            .iter()
            .filter(|path| path.len() > 1 && path[0] == field.name)
            .map(|path| &path[1..])
            .collect();
        let schema = match (&field.ty, &field.label) {
            (FieldType::Message(name), Label::Singular) if !nested.is_empty() => annotate(
                body_schema(api, name, &nested),
                field.description.as_deref(),
                field.output_only,
            ),
            _ => property_schema(
                &field.ty,
                &field.label,
                field.description.as_deref(),
                field.output_only,
            ),
        };
        object = object.property(field.name.clone(), schema);
        if field.required {
            object = object.required(field.name.clone());
        }
    }
    object.build().into()
}

fn enum_schema(item: &Enum) -> Schema {
    let mut description = item.description.clone().unwrap_or_default();
    let documented: Vec<String> = item
        .values
        .iter()
        .filter_map(|(name, doc)| {
            doc.as_ref()
                .map(|d| format!("- `{name}`: {}", d.replace('\n', " ")))
        })
        .collect();
    if !documented.is_empty() {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&documented.join("\n"));
    }
    typed(Type::String, None)
        .description((!description.is_empty()).then_some(description))
        .enum_values(Some(item.values.iter().map(|(name, _)| name.clone())))
        .build()
        .into()
}

/// `google.rpc.Status` as the gateway sends it for every error.
/// The one error response: a `google.rpc.Status` body whatever the status.
fn error_response() -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(
            "An error: a `google.rpc.Status` with the HTTP status mapped from its gRPC code.",
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(message_ref(STATUS_SCHEMA)))
                .build(),
        )
        .build()
}

/// Drops component schemas no operation reaches (e.g. a `CreateUserResponse` wrapper that
/// `response_body` bypasses), so the document and the clients generated from it describe only
/// what the HTTP API exchanges.
fn prune_unreferenced_schemas(doc: &mut utoipa::openapi::OpenApi) -> Result<(), Error> {
    fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", serde_json::Value::String(target)) => {
                            if let Some(name) = target.strip_prefix("#/components/schemas/") {
                                out.push(name.to_owned());
                            }
                        }
                        _ => collect_refs(value, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
    let to_value = |what: &str, value: Result<serde_json::Value, serde_json::Error>| {
        value.map_err(|e| Error::Emit(format!("OpenAPI {what} as JSON: {e}")))
    };
    let Some(components) = doc.components.as_mut() else {
        return Ok(());
    };
    let mut pending = Vec::new();
    collect_refs(
        &to_value("paths", serde_json::to_value(&doc.paths))?,
        &mut pending,
    );
    collect_refs(
        &to_value("responses", serde_json::to_value(&components.responses))?,
        &mut pending,
    );
    let mut reachable = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if reachable.insert(name.clone())
            && let Some(schema) = components.schemas.get(&name)
        {
            collect_refs(
                &to_value("schema", serde_json::to_value(schema))?,
                &mut pending,
            );
        }
    }
    components
        .schemas
        .retain(|name, _| reachable.contains(name));
    Ok(())
}

fn status_schema() -> Schema {
    typed(Type::Object, None)
        .description(Some(
            "The error body (`google.rpc.Status`): the gRPC code, a message, and typed details.",
        ))
        .property(
            "code",
            typed(Type::Integer, known(KnownFormat::Int32))
                .description(Some("The gRPC status code.")),
        )
        .property(
            "message",
            typed(Type::String, None).description(Some("A developer-facing message.")),
        )
        .property(
            "details",
            ArrayBuilder::new().items(
                typed(Type::Object, None)
                    .property(
                        "@type",
                        typed(Type::String, None)
                            .description(Some("The type URL of the detail message.")),
                    )
                    .required("@type")
                    .additional_properties(Some(AdditionalProperties::FreeForm(true))),
            ),
        )
        .required("code")
        .required("message")
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::{singular, summary};

    #[test]
    fn parameter_names_from_collection_literals() {
        assert_eq!(singular("shelves"), "shelf");
        assert_eq!(singular("books"), "book");
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("address"), "address_id");
        assert_eq!(singular("v1"), "v1_id");
    }

    #[test]
    fn summary_is_the_first_sentence() {
        assert_eq!(
            summary("Reads one user by id. A missing user is NOT_FOUND."),
            "Reads one user by id."
        );
        assert_eq!(summary("Lists\nthings\n\nMore."), "Lists things");
    }
}
