//! Stage 3b: the OpenAPI 3.1 document (`openapi/openapi.json` and `.yaml`), built with utoipa's
//! `openapi` model types. Reads only the [`Api`] model.
//!
//! Choices, each matching what the gateway does at run time:
//! - one operation per binding, `operationId` as in `RouteSpec::operation_id`; one tag per service;
//! - property names are proto field names (the gateway's default output);
//! - a multi-segment variable such as `{name=shelves/*/books/*}` becomes one path parameter per
//!   wildcard (`/shelves/{shelf}/books/{book}`), because OpenAPI parameters cannot contain `/`;
//! - parameters are named after the template, not the field: after the literal before the
//!   wildcard (`shelves/*` -> `shelf`), else after the field's own name (`{book.id}` -> `id`);
//! - one path item per URL: bindings whose templates match the same URLs (`get {name=*/feeds/*}`
//!   and `patch {feed.name=*/feeds/*}`) share it, with the parameter names of the first one, as
//!   OpenAPI requires (paths differing only in parameter names are the same path);
//! - components are named by full proto name (`users.v1.User`), so packages never collide; the
//!   generator's own error body is [`STATUS_SCHEMA`], in the generator's `gateway.v1` namespace,
//!   so an API using `google.rpc.Status` itself keeps its own schema;
//! - well-known types are inlined as their JSON form wherever they occur (responses, bodies,
//!   fields), never referenced;
//! - a method's declared headers (`gateway.v1.header`) are `in: header` string parameters of each
//!   of its operations, after the path and query parameters;
//! - a server stream's 200 response lists both framings (`application/x-ndjson` and
//!   `text/event-stream`), and a `resume_field` (`gateway.v1.event_stream`) adds a
//!   `Last-Event-ID` header parameter ([`stream`]);
//! - everything is emitted in model order (services and components sorted), so output is stable.

use std::collections::{BTreeSet, HashMap, HashSet};

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

mod integers;
mod rules;
pub mod stream;
use crate::model::{
    Api, Binding, Body, Enum, FieldRef, FieldType, Label, Message, Method, Service,
};

/// The component name of the shared error body (what the gateway sends for every error: a
/// `google.rpc.Status` with `code` and `message` always set). Not `google.rpc.Status` itself: an
/// API may use that message (in `google.longrunning.Operation.error`), and its schema is the
/// proto's.
pub const STATUS_SCHEMA: &str = "gateway.v1.Status";

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
    let mut tags = Vec::new();
    // Every documented binding with its path, before the parameter names are settled.
    let mut documented = Vec::new();
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
                let path = PathDoc::new(binding);
                documented.push((tag.clone(), method, binding, http_method, path));
            }
        }
    }
    // One set of parameter names per URL shape: the first binding's.
    let mut names: HashMap<String, Vec<String>> = HashMap::new();
    for (.., path) in &documented {
        names
            .entry(path.shape())
            .or_insert_with(|| path.proposed_names());
    }
    let mut paths = Paths::new();
    let mut taken: HashSet<(String, String)> = HashSet::new();
    for (tag, method, binding, http_method, path) in documented {
        let names = names
            .get(&path.shape())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (url, parameters) = path.render(binding, names);
        // Two templates OpenAPI cannot tell apart (`{x=*}` and `{x=**}` on the same method): the
        // first is documented; both are served.
        if !taken.insert((url.clone(), binding.http_method.clone())) {
            continue;
        }
        let operation = operation(api, &tag, method, binding, parameters);
        paths.add_path_operation(url, vec![http_method], operation);
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

/// One piece of a binding's OpenAPI path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal text.
    Literal(String),
    /// The path parameter with this index.
    Param(usize),
}

/// What one path parameter stands for.
#[derive(Debug, Clone)]
enum ParamRole {
    /// A bare `*` or `**` (`multi`), matched but not sent upstream.
    Bare { multi: bool },
    /// A whole single-segment variable (`{id}`): the field's own value and type.
    Whole { field: usize },
    /// One wildcard of a longer variable (`{name=shelves/*}`); `pieces` are the variable's.
    Part {
        field: usize,
        multi: bool,
        pieces: std::ops::Range<usize>,
    },
}

/// A path parameter before its name is settled.
#[derive(Debug, Clone)]
struct ParamDoc {
    /// The name this binding alone would give it.
    proposed: String,
    /// What it stands for.
    role: ParamRole,
}

/// A binding's OpenAPI path with its parameters unnamed, so that every binding matching the same
/// URLs can be given the same names.
#[derive(Debug, Clone)]
struct PathDoc {
    /// The path after the leading `/`, in order; the segments are joined by `/`.
    pieces: Vec<Piece>,
    /// The trailing verb.
    verb: Option<String>,
    /// The parameters, in path order.
    params: Vec<ParamDoc>,
}

impl PathDoc {
    /// The path of `binding`, each parameter with the name it would have alone: after the
    /// literal before the wildcard (`shelves/*` -> `shelf`), else after the field's last name.
    fn new(binding: &Binding) -> Self {
        let mut pieces = Vec::new();
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
        fn push(
            pieces: &mut Vec<Piece>,
            params: &mut Vec<ParamDoc>,
            proposed: String,
            role: ParamRole,
        ) {
            pieces.push(Piece::Param(params.len()));
            params.push(ParamDoc { proposed, role });
        }
        let mut var_index = 0;
        for segment in &binding.parsed.segments {
            match segment {
                Segment::Literal(text) => pieces.push(Piece::Literal(text.clone())),
                Segment::Wildcard | Segment::DoubleWildcard => {
                    let multi = matches!(segment, Segment::DoubleWildcard);
                    let name = unique(if multi { "rest" } else { "segment" }.to_owned());
                    push(&mut pieces, &mut params, name, ParamRole::Bare { multi });
                }
                Segment::Variable(var) => {
                    let field = var_index;
                    var_index += 1;
                    let leaf = sanitize(var.field_path.last().map(String::as_str).unwrap_or("x"));
                    if var.segments == [VarSegment::Wildcard] {
                        push(
                            &mut pieces,
                            &mut params,
                            unique(leaf),
                            ParamRole::Whole { field },
                        );
                        continue;
                    }
                    let start = pieces.len();
                    let wildcards = var
                        .segments
                        .iter()
                        .filter(|s| !matches!(s, VarSegment::Literal(_)))
                        .count();
                    let mut previous: Option<&str> = None;
                    let mut roles = Vec::new();
                    for (i, inner) in var.segments.iter().enumerate() {
                        match inner {
                            VarSegment::Literal(text) => {
                                pieces.push(Piece::Literal(text.clone()));
                                previous = Some(text);
                            }
                            VarSegment::Wildcard | VarSegment::DoubleWildcard => {
                                let multi = *inner == VarSegment::DoubleWildcard;
                                let base = match previous {
                                    Some(text) => sanitize(&singular(text)),
                                    None if wildcards == 1 => leaf.clone(),
                                    // `{parent=docs/*/**}`: the rest of the resource path.
                                    None if multi => format!("{leaf}_path"),
                                    None => format!("{leaf}_{}", i + 1),
                                };
                                roles.push((pieces.len(), unique(base), inner.clone()));
                                // A placeholder, replaced below once the variable's end is known.
                                pieces.push(Piece::Literal(String::new()));
                                previous = None;
                            }
                        }
                    }
                    let range = start..pieces.len();
                    for (at, name, inner) in roles {
                        pieces[at] = Piece::Param(params.len());
                        params.push(ParamDoc {
                            proposed: name,
                            role: ParamRole::Part {
                                field,
                                multi: inner == VarSegment::DoubleWildcard,
                                pieces: range.clone(),
                            },
                        });
                    }
                }
            }
        }
        PathDoc {
            pieces,
            verb: binding.parsed.verb.clone(),
            params,
        }
    }

    /// The URL shape, parameters unnamed (`/v1/{}/feeds/{}:get`): bindings with the same shape
    /// share one OpenAPI path item.
    fn shape(&self) -> String {
        self.text(&self.pieces, &[], true)
    }

    /// The names this binding alone would give its parameters.
    fn proposed_names(&self) -> Vec<String> {
        self.params.iter().map(|p| p.proposed.clone()).collect()
    }

    /// `pieces` as text, parameters named by `names` (`{}` past its end); as a `whole` path, with
    /// the leading `/` and the verb.
    fn text(&self, pieces: &[Piece], names: &[String], whole: bool) -> String {
        let mut out = String::new();
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 || whole {
                out.push('/');
            }
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Param(n) => {
                    out.push('{');
                    out.push_str(names.get(*n).map(String::as_str).unwrap_or_default());
                    out.push('}');
                }
            }
        }
        if let (Some(verb), true) = (&self.verb, whole) {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// The OpenAPI path and its parameters, named by `names` (the shape's settled names).
    fn render(&self, binding: &Binding, names: &[String]) -> (String, Vec<Parameter>) {
        let names: Vec<String> = if names.len() == self.params.len() {
            names.to_vec()
        } else {
            self.proposed_names()
        };
        let mut parameters = Vec::new();
        for (param, name) in self.params.iter().zip(&names) {
            let parameter = match &param.role {
                ParamRole::Bare { multi } => {
                    let description = if *multi {
                        "Matches any number of segments (`**`); not sent upstream."
                    } else {
                        "Matches any one segment (`*`); not sent upstream."
                    };
                    path_parameter(name, string_schema(), Some(description.to_owned()))
                }
                ParamRole::Whole { field } => {
                    let field = &binding.path_fields[*field];
                    path_parameter(
                        name,
                        rules::apply(element_schema(&field.ty), &field.ty, field.rules.as_deref()),
                        field.description.clone(),
                    )
                }
                ParamRole::Part {
                    field,
                    multi,
                    pieces,
                } => {
                    let field = &binding.path_fields[*field];
                    let joined = field.path.join(".");
                    let shape = self.text(&self.pieces[pieces.clone()], &names, false);
                    let mut description = format!(
                        "{}part of `{joined}` (`{shape}`): the gateway sends the whole matched path as `{joined}`.",
                        if *multi {
                            "Any number of segments (`**`, possibly none), "
                        } else {
                            "One segment, "
                        }
                    );
                    if let Some(text) = &field.description {
                        description = format!("{text}\n\n{description}");
                    }
                    path_parameter(name, string_schema(), Some(description))
                }
            };
            parameters.push(parameter);
        }
        (self.text(&self.pieces, &names, true), parameters)
    }
}

/// `shelves` -> `shelf`, `books` -> `book`, `categories` -> `category`, `boxes` -> `box`.
fn singular(word: &str) -> String {
    if ["sses", "xes", "ches", "shes", "zzes"]
        .iter()
        .any(|ending| word.ends_with(ending))
    {
        word[..word.len() - 2].to_owned()
    } else if let Some(stem) = word.strip_suffix("ies") {
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

/// The operation of one binding; `parameters` are its path parameters (query and header
/// parameters follow them).
fn operation(
    api: &Api,
    tag: &str,
    method: &Method,
    binding: &Binding,
    mut parameters: Vec<Parameter>,
) -> Operation {
    for query in &binding.query_params {
        // The field's rules, as for a body field (a repeated key is a list).
        let label = if query.repeated {
            Label::Repeated
        } else {
            Label::Singular
        };
        let schema = property_schema(&query.ty, &label, None, false, query.rules.as_deref());
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

    // Declared request headers (`gateway.v1.header`): forwarded upstream as metadata.
    for header in &method.headers {
        parameters.push(
            ParameterBuilder::new()
                .name(header.name.clone())
                .parameter_in(ParameterIn::Header)
                .required(if header.required {
                    Required::True
                } else {
                    Required::False
                })
                .description(header.description.clone())
                .schema(Some(match &header.pattern {
                    Some(pattern) => ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(pattern.clone()))
                        .build()
                        .into(),
                    None => string_schema(),
                }))
                .build(),
        );
    }
    parameters.extend(stream::last_event_id(method));

    let raw_request = match &binding.body {
        Body::None => false,
        Body::Whole => method.input_type == HTTP_BODY,
        Body::Field(field) => is_http_body_field(field),
    };
    let request_body = match &binding.body {
        Body::None => None,
        _ if raw_request => Some(binary_schema()),
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
        // A raw body is whatever the client sends, under its own content type; a client
        // stream of JSON messages is newline-delimited JSON (a JSON array is accepted too).
        let (media, description) = if raw_request {
            ("*/*", None)
        } else if method.client_streaming {
            (
                "application/x-ndjson",
                Some(
                    "A stream of messages, one JSON value per line (a JSON array is accepted too).",
                ),
            )
        } else {
            ("application/json", None)
        };
        RequestBodyBuilder::new()
            .description(description)
            .content(media, ContentBuilder::new().schema(Some(schema)).build())
            .required(Some(Required::True))
            .build()
    });

    let raw_response = match &binding.response_body {
        Some(field) => is_http_body_field(field),
        None => method.output_type == HTTP_BODY,
    };
    let response_schema = match &binding.response_body {
        _ if raw_response => binary_schema(),
        Some(field) => field_schema(field),
        None => type_schema(&method.output_type),
    };
    let ok = if raw_response {
        // The bytes of `data`, with `content_type` as the Content-Type (one message after
        // another for a stream).
        ResponseBuilder::new()
            .description("The raw response bytes, with the content type the method chose.")
            .content(
                "*/*",
                ContentBuilder::new().schema(Some(response_schema)).build(),
            )
    } else if method.server_streaming {
        stream::response(method, response_schema)
    } else {
        ResponseBuilder::new().description("OK").content(
            "application/json",
            ContentBuilder::new().schema(Some(response_schema)).build(),
        )
    };
    let error = || RefOr::Ref(utoipa::openapi::Ref::from_response_name(ERROR_RESPONSE));

    OperationBuilder::new()
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
        .build()
}

/// `google.api.HttpBody`: a raw HTTP body and its content type, not JSON.
const HTTP_BODY: &str = "google.api.HttpBody";

/// A singular `google.api.HttpBody` field (a `body` or `response_body` carried raw).
fn is_http_body_field(field: &FieldRef) -> bool {
    field.label == Label::Singular && field.ty == FieldType::Message(HTTP_BODY.to_owned())
}

/// Bytes of any content type.
fn binary_schema() -> RefOr<Schema> {
    typed(
        Type::String,
        Some(SchemaFormat::KnownFormat(KnownFormat::Binary)),
    )
    .build()
    .into()
}

/// The schema of the message named `full_name`: its JSON form for a well-known type, else a
/// reference to its component.
fn type_schema(full_name: &str) -> RefOr<Schema> {
    well_known_schema(full_name).unwrap_or_else(|| message_ref(full_name))
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
        // JSON numbers within the type's range.
        FieldType::Int32 => int_bounds(typed(Type::Integer, known(KnownFormat::Int32)), ty),
        FieldType::Uint32 => int_bounds(typed(Type::Integer, custom("uint32")), ty),
        // proto3 JSON writes 64-bit integers as decimal strings: exactly those of the type's range.
        FieldType::Int64 => typed(Type::String, known(KnownFormat::Int64))
            .pattern(rules::type_range(ty).and_then(rules::decimal_pattern))
            .build()
            .into(),
        FieldType::Uint64 => typed(Type::String, custom("uint64"))
            .pattern(rules::type_range(ty).and_then(rules::decimal_pattern))
            .build()
            .into(),
        FieldType::Float => floating(KnownFormat::Float),
        FieldType::Double => floating(KnownFormat::Double),
        FieldType::String => typed(Type::String, None).build().into(),
        FieldType::Bytes => typed(Type::String, known(KnownFormat::Byte)).build().into(),
        FieldType::Enum(name) => message_ref(name),
        FieldType::Message(name) => type_schema(name),
    }
}

/// An integer schema bounded by the range of the integer type `ty`.
fn int_bounds(object: ObjectBuilder, ty: &FieldType) -> RefOr<Schema> {
    match rules::type_range(ty) {
        Some((lo, hi)) => object
            .minimum(Some(rules::number(proto_validate::rules::Num::Int(lo))))
            .maximum(Some(rules::number(proto_validate::rules::Num::Int(hi)))),
        None => object,
    }
    .build()
    .into()
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
        // Read as an ordinary message: a field it does not have is rejected.
        "google.protobuf.Empty" => typed(Type::Object, None)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build()
            .into(),
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
    field_rules: Option<&proto_validate::FieldRules>,
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
    annotate(rules::apply(whole, ty, field_rules), description, read_only)
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
    property_schema(
        &field.ty,
        &field.label,
        field.description.as_deref(),
        false,
        field.rules.as_deref(),
    )
}

/// The body of a `body: "*"` binding: the request message minus the fields the path binds, inlined
/// only as deep as those fields are (a reference when the path binds nothing in it).
fn body_schema(api: &Api, type_name: &str, bound: &[&[String]]) -> RefOr<Schema> {
    match api.messages.get(type_name) {
        Some(message) if !bound.is_empty() => message_schema(api, message, bound).into(),
        _ => type_schema(type_name),
    }
}

/// A message as an object schema, leaving out the fields at the `excluded` paths.
///
/// The object is closed (`additionalProperties: false`): the gateway rejects unknown fields, so
/// an object with a property the schema does not list must not be called valid. What that
/// leaves out: proto3 JSON also reads each field under its lowerCamelCase JSON name (and a field
/// the path binds, when a `*` body repeats it), which the document does not list. Listing them
/// (`patternProperties` with each field's schema) would state that exactly, but generated clients
/// turn `patternProperties` into an index signature of every message type (openapi-typescript
/// makes `products` a `Product[] & string`), so the document states the one spelling it
/// documents everywhere, the proto names, and calls that the interface.
fn message_schema(api: &Api, message: &Message, excluded: &[&[String]]) -> Schema {
    let mut object = typed(Type::Object, None)
        .description(message.description.clone())
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
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
                field.rules.as_ref(),
            ),
        };
        object = object.property(field.name.clone(), schema);
        if field.required || field.rules.as_ref().is_some_and(|r| r.required) {
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
                    .description(Some(
                        "A detail message as a `google.protobuf.Any`: `@type` and the message's \
                         fields. A request breaking `buf.validate` rules gets one \
                         `google.rpc.BadRequest` with a field violation per broken rule.",
                    ))
                    .property(
                        "@type",
                        typed(Type::String, None)
                            .description(Some("The type URL of the detail message.")),
                    )
                    .property(
                        "fieldViolations",
                        ArrayBuilder::new()
                            .items(
                                typed(Type::Object, None)
                                    .property(
                                        "field",
                                        typed(Type::String, None).description(Some(
                                            "The proto field path (`user_id`, `part.name`, `tags[0]`).",
                                        )),
                                    )
                                    .property(
                                        "description",
                                        typed(Type::String, None)
                                            .description(Some("What is wrong, readable.")),
                                    )
                                    .property(
                                        "reason",
                                        typed(Type::String, None).description(Some(
                                            "The broken rule's id (`string.min_len`).",
                                        )),
                                    )
                                    .required("field")
                                    .required("description"),
                            )
                            .description(Some(
                                "`google.rpc.BadRequest` only: one entry per broken rule.",
                            )),
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
        assert_eq!(singular("boxes"), "box");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("branches"), "branch");
        assert_eq!(singular("databases"), "database");
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
