//! Stage 2: proto descriptors -> validated HTTP bindings.
//!
//! Reads the `google.api.http` option (and one level of `additional_bindings`) of every method of
//! every service in the input files, resolves each field path against the request and response
//! messages, and rejects what HttpRule forbids with an error naming the proto file, the service and
//! the method. The emitters read only the [`Api`] built here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_reflect::{
    Cardinality, DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind,
    MessageDescriptor, MethodDescriptor, ServiceDescriptor, Value,
};

use crate::Error;
use crate::httprule::{CompiledTemplate, Template};

/// Everything the emitters need, resolved and validated.
#[derive(Debug, Clone)]
pub struct Api {
    /// The input files, relative to the include directories, sorted.
    pub files: Vec<String>,
    /// The services of the input files with at least one HTTP binding, sorted by full name.
    pub services: Vec<Service>,
    /// Every message reachable from a bound method (well-known types excluded), by full name.
    pub messages: BTreeMap<String, Message>,
    /// Every enum reachable from a bound method, by full name.
    pub enums: BTreeMap<String, Enum>,
    /// The protox-encoded `FileDescriptorSet` (imports and source info included).
    pub descriptor_set: Vec<u8>,
}

/// A gRPC service with HTTP bindings.
#[derive(Debug, Clone)]
pub struct Service {
    /// Fully qualified name (`users.v1.UserService`).
    pub full_name: String,
    /// Short name (`UserService`); the prefix of operation ids and the OpenAPI tag.
    pub name: String,
    /// The proto file that declares it.
    pub file: String,
    /// The proto comment.
    pub description: Option<String>,
    /// The bound methods, in declaration order.
    pub methods: Vec<Method>,
}

/// A gRPC method with at least one HTTP binding.
#[derive(Debug, Clone)]
pub struct Method {
    /// Short name (`GetUser`).
    pub name: String,
    /// gRPC path (`/users.v1.UserService/GetUser`).
    pub grpc_path: String,
    /// Fully qualified request message name.
    pub input_type: String,
    /// Fully qualified response message name.
    pub output_type: String,
    /// The proto comment.
    pub description: Option<String>,
    /// Responses are streamed.
    pub server_streaming: bool,
    /// The rule itself first, then its additional bindings.
    pub bindings: Vec<Binding>,
}

/// One HTTP binding of a method.
#[derive(Debug, Clone)]
pub struct Binding {
    /// `Service_Method`, plus `_1`, `_2`, ... for additional bindings.
    pub operation_id: String,
    /// Upper-case HTTP method.
    pub http_method: String,
    /// The template as written.
    pub template: String,
    /// The parsed template.
    pub parsed: Template,
    /// The compiled template (runtime shape).
    pub compiled: CompiledTemplate,
    /// The type of each path variable's field, parallel to `compiled.params`.
    pub path_fields: Vec<FieldRef>,
    /// Where the body goes.
    pub body: Body,
    /// The top-level response field that is the HTTP body, if any.
    pub response_body: Option<FieldRef>,
    /// Every request field that may come from the query string.
    pub query_params: Vec<QueryParam>,
}

/// A resolved request or response field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// Proto field names from the message root.
    pub path: Vec<String>,
    /// The last field's type.
    pub ty: FieldType,
    /// The last field's shape.
    pub label: Label,
    /// The last field's comment.
    pub description: Option<String>,
    /// The last field is `REQUIRED`.
    pub required: bool,
}

/// Where the HTTP request body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// `*`: every field not bound by the path.
    Whole,
    /// A top-level field.
    Field(FieldRef),
}

/// A field settable from the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParam {
    /// Dotted proto field names (`page.size`).
    pub name: String,
    /// The field's type (scalar, enum or string-valued well-known type).
    pub ty: FieldType,
    /// Repeated: given by repeating the key.
    pub repeated: bool,
    /// The field's comment.
    pub description: Option<String>,
    /// `REQUIRED` (top-level fields only).
    pub required: bool,
}

/// A message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Fully qualified name.
    pub full_name: String,
    /// The proto comment.
    pub description: Option<String>,
    /// The fields in declaration order.
    pub fields: Vec<Field>,
}

/// A message field.
#[derive(Debug, Clone)]
pub struct Field {
    /// Proto name (`user_id`).
    pub name: String,
    /// JSON name (`userId`, or `json_name`).
    pub json_name: String,
    /// The proto comment.
    pub description: Option<String>,
    /// The element type (the value type for maps).
    pub ty: FieldType,
    /// Singular, repeated or map.
    pub label: Label,
    /// `google.api.field_behavior = REQUIRED`.
    pub required: bool,
    /// `google.api.field_behavior = OUTPUT_ONLY`.
    pub output_only: bool,
}

/// A field's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    /// One value.
    Singular,
    /// A list.
    Repeated,
    /// A map with this key type (the field's `ty` is the value type).
    Map(FieldType),
}

/// A field's element type, with the wire-level variants folded into their JSON meaning.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldType {
    /// `bool`.
    Bool,
    /// `int32`, `sint32`, `sfixed32`.
    Int32,
    /// `uint32`, `fixed32`.
    Uint32,
    /// `int64`, `sint64`, `sfixed64` (a JSON string).
    Int64,
    /// `uint64`, `fixed64` (a JSON string).
    Uint64,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `string`.
    String,
    /// `bytes` (base64 in JSON).
    Bytes,
    /// An enum, by full name.
    Enum(String),
    /// A message, by full name (well-known types included).
    Message(String),
}

/// An enum.
#[derive(Debug, Clone)]
pub struct Enum {
    /// Fully qualified name.
    pub full_name: String,
    /// The proto comment.
    pub description: Option<String>,
    /// Value names and comments, in declaration order.
    pub values: Vec<(String, Option<String>)>,
}

/// The well-known types with a special JSON mapping (`google.protobuf.*`).
pub fn is_well_known(full_name: &str) -> bool {
    matches!(
        full_name,
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.Struct"
            | "google.protobuf.Value"
            | "google.protobuf.ListValue"
            | "google.protobuf.Any"
            | "google.protobuf.Empty"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
    )
}

/// Well-known types whose JSON form is a single scalar, so they can be path or query values.
fn is_scalar_well_known(full_name: &str) -> bool {
    is_well_known(full_name)
        && !matches!(
            full_name,
            "google.protobuf.Struct"
                | "google.protobuf.Value"
                | "google.protobuf.ListValue"
                | "google.protobuf.Any"
                | "google.protobuf.Empty"
        )
}

const FIELD_BEHAVIOR_REQUIRED: i32 = 2;
const FIELD_BEHAVIOR_OUTPUT_ONLY: i32 = 3;

/// Builds the model from protox-encoded descriptor bytes.
///
/// `files` are the input files (their services are bound); imports only provide types.
pub fn build(files: &[String], descriptor_set: Vec<u8>) -> Result<Api, Error> {
    let pool = DescriptorPool::decode(descriptor_set.as_slice())?;
    let builder = Builder::new(&pool);
    let input: BTreeSet<&str> = files.iter().map(String::as_str).collect();

    let mut services = Vec::new();
    let mut pool_services: Vec<ServiceDescriptor> = pool
        .services()
        .filter(|s| input.contains(s.parent_file().name()))
        .collect();
    pool_services.sort_by(|a, b| a.full_name().cmp(b.full_name()));

    // Operation ids start with the short service name unless two services share it.
    let mut short_names: HashMap<&str, usize> = HashMap::new();
    for service in &pool_services {
        *short_names.entry(service.name()).or_default() += 1;
    }

    for service in &pool_services {
        let prefix = if short_names.get(service.name()).copied().unwrap_or(0) > 1 {
            service.full_name().replace('.', "_")
        } else {
            service.name().to_owned()
        };
        let mut methods = Vec::new();
        for method in service.methods() {
            if let Some(m) = builder.method(service, &method, &prefix)? {
                methods.push(m);
            }
        }
        if methods.is_empty() {
            continue;
        }
        services.push(Service {
            full_name: service.full_name().to_owned(),
            name: service.name().to_owned(),
            file: service.parent_file().name().to_owned(),
            description: builder
                .comments
                .get(service.parent_file().name(), service.path()),
            methods,
        });
    }

    check_duplicates(&services)?;

    let mut messages = BTreeMap::new();
    let mut enums = BTreeMap::new();
    for service in &services {
        for method in &service.methods {
            for name in [&method.input_type, &method.output_type] {
                if let Some(desc) = pool.get_message_by_name(name) {
                    builder.collect(&desc, &mut messages, &mut enums);
                }
            }
        }
    }

    let mut files = files.to_vec();
    files.sort();
    Ok(Api {
        files,
        services,
        messages,
        enums,
        descriptor_set,
    })
}

fn check_duplicates(services: &[Service]) -> Result<(), Error> {
    let mut seen: HashMap<(String, Vec<crate::httprule::PatternSegment>, Option<String>), String> =
        HashMap::new();
    for service in services {
        for method in &service.methods {
            for binding in &method.bindings {
                let key = (
                    binding.http_method.clone(),
                    binding.compiled.segments.clone(),
                    binding.compiled.verb.clone(),
                );
                let here = format!("{}/{}", service.full_name, method.name);
                if let Some(first) = seen.get(&key) {
                    return Err(Error::Binding {
                        file: service.file.clone(),
                        service: service.full_name.clone(),
                        method: method.name.clone(),
                        message: format!(
                            "`{} {}` matches the same requests as a binding of {first}",
                            binding.http_method, binding.template
                        ),
                    });
                }
                seen.insert(key, here);
            }
        }
    }
    Ok(())
}

/// Leading comments by (file, source path).
struct Comments {
    by_location: HashMap<(String, Vec<i32>), String>,
}

impl Comments {
    fn new(pool: &DescriptorPool) -> Self {
        let mut by_location = HashMap::new();
        for file in pool.files() {
            let proto = file.file_descriptor_proto();
            let Some(info) = &proto.source_code_info else {
                continue;
            };
            for location in &info.location {
                if let Some(text) = location.leading_comments.as_deref().and_then(clean_comment) {
                    by_location.insert((file.name().to_owned(), location.path.clone()), text);
                }
            }
        }
        Comments { by_location }
    }

    fn get(&self, file: &str, path: &[i32]) -> Option<String> {
        self.by_location
            .get(&(file.to_owned(), path.to_vec()))
            .cloned()
    }
}

/// Strips the one space after `//` and surrounding blank lines.
fn clean_comment(raw: &str) -> Option<String> {
    let lines: Vec<&str> = raw
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

struct Builder {
    comments: Comments,
    http: Option<ExtensionDescriptor>,
    field_behavior: Option<ExtensionDescriptor>,
}

/// The parts of one `HttpRule` the model reads.
struct Rule {
    method: String,
    path: String,
    body: String,
    response_body: String,
    additional: Vec<DynamicMessage>,
}

impl Builder {
    fn new(pool: &DescriptorPool) -> Self {
        Builder {
            comments: Comments::new(pool),
            http: pool.get_extension_by_name("google.api.http"),
            field_behavior: pool.get_extension_by_name("google.api.field_behavior"),
        }
    }

    fn method(
        &self,
        service: &ServiceDescriptor,
        method: &MethodDescriptor,
        prefix: &str,
    ) -> Result<Option<Method>, Error> {
        let Some(http) = &self.http else {
            return Ok(None);
        };
        let options = method.options();
        if !options.has_extension(http) {
            return Ok(None);
        }
        let fail = |message: String| Error::Binding {
            file: service.parent_file().name().to_owned(),
            service: service.full_name().to_owned(),
            method: method.name().to_owned(),
            message,
        };
        if method.is_client_streaming() {
            return Err(fail(if method.is_server_streaming() {
                "bidirectional streaming methods cannot be transcoded to REST".to_owned()
            } else {
                "client streaming methods cannot be transcoded to REST".to_owned()
            }));
        }
        let Value::Message(rule) = options.get_extension(http).into_owned() else {
            return Err(fail("`google.api.http` is not an HttpRule".to_owned()));
        };
        let top = read_rule(&rule).map_err(&fail)?;
        let mut rules = vec![top];
        let additional = std::mem::take(&mut rules[0].additional);
        for (i, extra) in additional.iter().enumerate() {
            let extra =
                read_rule(extra).map_err(|m| fail(format!("additional binding {}: {m}", i + 1)))?;
            if !extra.additional.is_empty() {
                return Err(fail(format!(
                    "additional binding {} has its own additional_bindings (only one level is allowed)",
                    i + 1
                )));
            }
            rules.push(extra);
        }

        let input = method.input();
        let output = method.output();
        let mut bindings = Vec::new();
        for (i, rule) in rules.into_iter().enumerate() {
            let operation_id = if i == 0 {
                format!("{prefix}_{}", method.name())
            } else {
                format!("{prefix}_{}_{i}", method.name())
            };
            let binding = self
                .binding(&input, &output, rule, operation_id)
                .map_err(&fail)?;
            bindings.push(binding);
        }
        Ok(Some(Method {
            name: method.name().to_owned(),
            grpc_path: format!("/{}/{}", service.full_name(), method.name()),
            input_type: input.full_name().to_owned(),
            output_type: output.full_name().to_owned(),
            description: self
                .comments
                .get(method.parent_file().name(), method.path()),
            server_streaming: method.is_server_streaming(),
            bindings,
        }))
    }

    fn binding(
        &self,
        input: &MessageDescriptor,
        output: &MessageDescriptor,
        rule: Rule,
        operation_id: String,
    ) -> Result<Binding, String> {
        let where_ = format!("`{} {}`", rule.method, rule.path);
        let parsed = Template::parse(&rule.path).map_err(|e| e.to_string())?;
        let compiled = parsed.compile();

        let mut path_fields = Vec::new();
        for param in &compiled.params {
            let field = self.resolve(input, &param.field_path).map_err(|m| {
                format!(
                    "{where_}: path variable `{}`: {m}",
                    param.field_path.join(".")
                )
            })?;
            let ok = field.label == Label::Singular
                && match &field.ty {
                    FieldType::Message(name) => is_scalar_well_known(name),
                    _ => true,
                };
            if !ok {
                return Err(format!(
                    "{where_}: path variable `{}` must name a singular scalar, enum or string-valued well-known type field",
                    param.field_path.join(".")
                ));
            }
            path_fields.push(field);
        }

        let body = match rule.body.as_str() {
            "" => Body::None,
            "*" => Body::Whole,
            name => {
                if name.contains('.') {
                    return Err(format!(
                        "{where_}: body `{name}` must be a top-level field of {}",
                        input.full_name()
                    ));
                }
                let field = self
                    .resolve(input, &[name.to_owned()])
                    .map_err(|m| format!("{where_}: body: {m}"))?;
                // A path variable inside the body field (`{book.name=...}` with `body: "book"`,
                // the usual update pattern) is fine; only the whole field bound twice is not.
                if compiled
                    .params
                    .iter()
                    .any(|p| p.field_path.len() == 1 && p.field_path[0] == name)
                {
                    return Err(format!(
                        "{where_}: body field `{name}` is also bound by the path"
                    ));
                }
                Body::Field(field)
            }
        };
        if body != Body::None && matches!(rule.method.as_str(), "GET" | "DELETE") {
            return Err(format!(
                "{where_}: a {} binding may not have a body",
                rule.method
            ));
        }

        let response_body = match rule.response_body.as_str() {
            "" => None,
            name => {
                if name.contains('.') {
                    return Err(format!(
                        "{where_}: response_body `{name}` must be a top-level field of {}",
                        output.full_name()
                    ));
                }
                Some(
                    self.resolve(output, &[name.to_owned()])
                        .map_err(|m| format!("{where_}: response_body: {m}"))?,
                )
            }
        };

        let query_params = match &body {
            Body::Whole => Vec::new(),
            other => {
                let bound: Vec<Vec<String>> = compiled
                    .params
                    .iter()
                    .map(|p| p.field_path.clone())
                    .chain(match other {
                        Body::Field(f) => Some(f.path.clone()),
                        _ => None,
                    })
                    .collect();
                let mut out = Vec::new();
                let mut chain = vec![input.full_name().to_owned()];
                self.query_params(input, &[], &bound, &mut chain, &mut out);
                out
            }
        };

        Ok(Binding {
            operation_id,
            http_method: rule.method,
            template: rule.path,
            parsed,
            compiled,
            path_fields,
            body,
            response_body,
            query_params,
        })
    }

    fn query_params(
        &self,
        message: &MessageDescriptor,
        prefix: &[String],
        bound: &[Vec<String>],
        chain: &mut Vec<String>,
        out: &mut Vec<QueryParam>,
    ) {
        for field in message.fields() {
            let mut path = prefix.to_vec();
            path.push(field.name().to_owned());
            if bound.contains(&path) || field.is_map() {
                continue;
            }
            let ty = field_type(&field);
            let scalar_like = match &ty {
                FieldType::Message(name) => is_scalar_well_known(name),
                _ => true,
            };
            if scalar_like {
                out.push(QueryParam {
                    name: path.join("."),
                    ty,
                    repeated: field.is_list(),
                    description: self.comments.get(field.parent_file().name(), field.path()),
                    required: prefix.is_empty() && self.behaviors(&field).0,
                });
            } else if let (FieldType::Message(name), false, Kind::Message(sub)) =
                (&ty, field.is_list(), field.kind())
            {
                if is_well_known(name) || chain.contains(name) {
                    continue;
                }
                chain.push(name.clone());
                self.query_params(&sub, &path, bound, chain, out);
                chain.pop();
            }
        }
    }

    /// Walks a field path from `root`: every step but the last must be a singular message field.
    fn resolve(&self, root: &MessageDescriptor, path: &[String]) -> Result<FieldRef, String> {
        let mut message = root.clone();
        for (i, name) in path.iter().enumerate() {
            let Some(field) = message.get_field_by_name(name) else {
                return Err(format!("{} has no field `{name}`", message.full_name()));
            };
            if i + 1 == path.len() {
                let (required, _) = self.behaviors(&field);
                return Ok(FieldRef {
                    path: path.to_vec(),
                    ty: field_type(&field),
                    label: label(&field),
                    description: self.comments.get(field.parent_file().name(), field.path()),
                    required,
                });
            }
            match field.kind() {
                Kind::Message(sub)
                    if !field.is_list() && !field.is_map() && !is_well_known(sub.full_name()) =>
                {
                    message = sub;
                }
                _ => {
                    return Err(format!(
                        "`{name}` in {} is not a singular message field, so it cannot be traversed",
                        message.full_name()
                    ));
                }
            }
        }
        Err("empty field path".to_owned())
    }

    /// (REQUIRED, OUTPUT_ONLY) from `google.api.field_behavior`.
    fn behaviors(&self, field: &FieldDescriptor) -> (bool, bool) {
        let Some(ext) = &self.field_behavior else {
            return (false, false);
        };
        let options = field.options();
        if !options.has_extension(ext) {
            return (false, false);
        }
        let value = options.get_extension(ext);
        let numbers: Vec<i32> = match value.as_ref() {
            Value::List(items) => items.iter().filter_map(Value::as_enum_number).collect(),
            Value::EnumNumber(n) => vec![*n],
            _ => Vec::new(),
        };
        (
            numbers.contains(&FIELD_BEHAVIOR_REQUIRED),
            numbers.contains(&FIELD_BEHAVIOR_OUTPUT_ONLY),
        )
    }

    fn collect(
        &self,
        desc: &MessageDescriptor,
        messages: &mut BTreeMap<String, Message>,
        enums: &mut BTreeMap<String, Enum>,
    ) {
        if is_well_known(desc.full_name()) || messages.contains_key(desc.full_name()) {
            return;
        }
        // Inserted before recursing so that recursive messages terminate.
        messages.insert(
            desc.full_name().to_owned(),
            Message {
                full_name: desc.full_name().to_owned(),
                description: self.comments.get(desc.parent_file().name(), desc.path()),
                fields: Vec::new(),
            },
        );
        let mut fields = Vec::new();
        for field in desc.fields() {
            let (required, output_only) = self.behaviors(&field);
            let ty = field_type(&field);
            match field.kind() {
                Kind::Message(sub) => {
                    let target = if field.is_map() {
                        sub.map_entry_value_field().kind()
                    } else {
                        Kind::Message(sub)
                    };
                    match target {
                        Kind::Message(m) => self.collect(&m, messages, enums),
                        Kind::Enum(e) => self.collect_enum(&e, enums),
                        _ => {}
                    }
                }
                Kind::Enum(e) => self.collect_enum(&e, enums),
                _ => {}
            }
            fields.push(Field {
                name: field.name().to_owned(),
                json_name: field.json_name().to_owned(),
                description: self.comments.get(field.parent_file().name(), field.path()),
                ty,
                label: label(&field),
                required,
                output_only,
            });
        }
        if let Some(message) = messages.get_mut(desc.full_name()) {
            message.fields = fields;
        }
    }

    fn collect_enum(
        &self,
        desc: &prost_reflect::EnumDescriptor,
        enums: &mut BTreeMap<String, Enum>,
    ) {
        if enums.contains_key(desc.full_name()) {
            return;
        }
        let file = desc.parent_file();
        enums.insert(
            desc.full_name().to_owned(),
            Enum {
                full_name: desc.full_name().to_owned(),
                description: self.comments.get(file.name(), desc.path()),
                values: desc
                    .values()
                    .map(|v| {
                        (
                            v.name().to_owned(),
                            self.comments.get(file.name(), v.path()),
                        )
                    })
                    .collect(),
            },
        );
    }
}

fn read_rule(rule: &DynamicMessage) -> Result<Rule, String> {
    let text = |name: &str| -> String {
        rule.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut found = None;
    for verb in ["get", "put", "post", "delete", "patch"] {
        if rule.has_field_by_name(verb) {
            found = Some((verb.to_uppercase(), text(verb)));
        }
    }
    if rule.has_field_by_name("custom")
        && let Some(Value::Message(custom)) =
            rule.get_field_by_name("custom").map(|v| v.into_owned())
    {
        let get = |name: &str| {
            custom
                .get_field_by_name(name)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let kind = get("kind");
        if kind.is_empty() {
            return Err("custom pattern has an empty kind".to_owned());
        }
        found = Some((kind.to_uppercase(), get("path")));
    }
    let Some((method, path)) = found else {
        return Err(
            "the HttpRule sets no pattern (get, put, post, delete, patch or custom)".to_owned(),
        );
    };
    let additional = match rule
        .get_field_by_name("additional_bindings")
        .map(|v| v.into_owned())
    {
        Some(Value::List(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::Message(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Rule {
        method,
        path,
        body: text("body"),
        response_body: text("response_body"),
        additional,
    })
}

fn label(field: &FieldDescriptor) -> Label {
    if field.is_map()
        && let Kind::Message(entry) = field.kind()
    {
        return Label::Map(kind_type(&entry.map_entry_key_field().kind()));
    }
    if field.cardinality() == Cardinality::Repeated {
        Label::Repeated
    } else {
        Label::Singular
    }
}

/// The element type; for a map, the value type.
fn field_type(field: &FieldDescriptor) -> FieldType {
    match field.kind() {
        Kind::Message(entry) if field.is_map() => kind_type(&entry.map_entry_value_field().kind()),
        kind => kind_type(&kind),
    }
}

fn kind_type(kind: &Kind) -> FieldType {
    match kind {
        Kind::Double => FieldType::Double,
        Kind::Float => FieldType::Float,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => FieldType::Int32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => FieldType::Int64,
        Kind::Uint32 | Kind::Fixed32 => FieldType::Uint32,
        Kind::Uint64 | Kind::Fixed64 => FieldType::Uint64,
        Kind::Bool => FieldType::Bool,
        Kind::String => FieldType::String,
        Kind::Bytes => FieldType::Bytes,
        Kind::Message(m) => FieldType::Message(m.full_name().to_owned()),
        Kind::Enum(e) => FieldType::Enum(e.full_name().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::clean_comment;

    #[test]
    fn comments_lose_the_space_after_slashes() {
        assert_eq!(
            clean_comment(" First line.\n Second.\n").as_deref(),
            Some("First line.\nSecond.")
        );
        assert_eq!(clean_comment("  \n").as_deref(), None);
        assert_eq!(
            clean_comment(" Example:\n     indented\n").as_deref(),
            Some("Example:\n    indented")
        );
    }
}
