//! Stage 2: proto descriptors -> validated HTTP bindings.
//!
//! Reads the `google.api.http` option (and one level of `additional_bindings`) of every method of
//! every service in the input files, resolves each field path against the request and response
//! messages, and rejects what HttpRule forbids with an error naming the proto file, the service and
//! the method. The emitters read only the [`Api`] built here.
//!
//! This file holds the model types and [`build`], which runs the sub-stages in order and rejects
//! duplicate routes. The sub-stages share one `Context` (comments and option extensions):
//!
//! - `bindings`: each method's HttpRules -> [`Binding`]s;
//! - `composition`: the `gateway.v1` options -> [`Composition`]s;
//! - `headers`: `gateway.v1.header` -> each method's [`HeaderParam`]s;
//! - `stream`: `gateway.v1.event_stream` -> each server-streaming method's [`EventStream`];
//! - `types`: field types, field paths, and the [`Message`]s and [`Enum`]s reachable from the API;
//! - `comments`: the proto source comments every item is described with.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_reflect::{DescriptorPool, ExtensionDescriptor, ServiceDescriptor};

use crate::Error;
use gateway_spec::well_known_json;

use crate::httprule::{CompiledTemplate, Template};

mod bindings;
mod comments;
mod composition;
mod headers;
mod stream;
mod types;

use comments::Comments;
use composition::{COMPOSE, GATEWAY_IMPLEMENTED};
use headers::HEADER;
use stream::EVENT_STREAM;

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
    /// What was accepted with a note, or left out (lenient mode), in the order found.
    pub warnings: Vec<Warning>,
}

/// Something the generator accepted with a note, or (lenient mode) left out instead of failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The proto file declaring the service.
    pub file: String,
    /// The service's full name.
    pub service: String,
    /// The method's name.
    pub method: String,
    /// What kind of note it is, for counting.
    pub kind: WarningKind,
    /// What happened and why.
    pub message: String,
    /// How many bindings (routes) it leaves out of the table: 0 for a binding accepted with a
    /// note, 1 for one binding, all of a method's bindings when the whole method is left out.
    pub omitted: usize,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}.{}: {}",
            self.file, self.service, self.method, self.message
        )
    }
}

/// The kinds of [`Warning`], so that tools can count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WarningKind {
    /// Served: a `**` followed by more segments, which http.proto forbids but Google's own APIs
    /// use (matched as the shortest run that lets the rest of the template match).
    InnerDoubleWildcard,
    /// Left out (lenient mode): the same HTTP method and path as an earlier binding, so no
    /// request could tell the two apart.
    DuplicateRoute,
    /// Left out (lenient mode): a binding (or a whole method) that breaks the HttpRule rules.
    InvalidBinding,
}

impl WarningKind {
    /// A short stable name (`duplicate-route`), for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            WarningKind::InnerDoubleWildcard => "inner-double-wildcard",
            WarningKind::DuplicateRoute => "duplicate-route",
            WarningKind::InvalidBinding => "invalid-binding",
        }
    }
}

impl std::fmt::Display for WarningKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
    /// Marked `(gateway.v1.gateway_implemented)`: no upstream serves it; every method composes.
    pub gateway_implemented: bool,
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
    /// Requests are streamed: the HTTP body is a sequence of JSON messages.
    pub client_streaming: bool,
    /// Responses are streamed.
    pub server_streaming: bool,
    /// The rule itself first, then its additional bindings.
    pub bindings: Vec<Binding>,
    /// `(gateway.v1.compose)`: the gateway answers by calling other RPCs.
    pub compose: Option<Composition>,
    /// `(gateway.v1.header)`: the request headers the method reads, in declaration order.
    pub headers: Vec<HeaderParam>,
    /// `(gateway.v1.event_stream)`: a server-streaming method's event ids and resume field.
    pub event_stream: Option<EventStream>,
}

/// A server-streaming method's Server-Sent Events options (`gateway.v1.EventStream`), validated:
/// both fields are singular integer or string fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStream {
    /// The response field whose value is each event's `id:`; `None` for the event's ordinal.
    pub id_field: Option<FieldRef>,
    /// The request field the `Last-Event-ID` header sets; `None` when the header is ignored.
    pub resume_field: Option<FieldRef>,
}

/// An HTTP request header a method declares (`gateway.v1.HeaderParameter`), validated: forwarded
/// as gRPC metadata on the method's routes and documented as an OpenAPI header parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderParam {
    /// The name as declared (`Idempotency-Key`), for the documentation.
    pub name: String,
    /// The description, if any.
    pub description: Option<String>,
    /// Clients are expected to send it (documentation only; the gateway does not enforce it).
    pub required: bool,
    /// A regular expression a sent value must match (checked by the gateway), if declared.
    pub pattern: Option<String>,
}

impl HeaderParam {
    /// The lower-case name: the HTTP header matched and the gRPC metadata key sent.
    pub fn key(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

/// A composite method's calls (`gateway.v1.Composition`), validated.
#[derive(Debug, Clone)]
pub struct Composition {
    /// The calls, in declaration order (which also decides which failure is reported).
    pub parts: Vec<Part>,
}

/// One call of a composite method.
#[derive(Debug, Clone)]
pub struct Part {
    /// The top-level response field it fills.
    pub field: FieldRef,
    /// The called service's full name (the upstream).
    pub service: String,
    /// The called method's full protobuf name (`users.v1.UserService.GetUser`).
    pub method: String,
    /// The called method's gRPC path.
    pub grpc_path: String,
    /// The called method's request message.
    pub input_type: String,
    /// The called method's response message.
    pub output_type: String,
    /// Composite request fields copied into the call's request.
    pub request: Vec<FieldMapping>,
    /// The field path taken from the call's response; empty for the whole response.
    pub take: Vec<String>,
    /// NOT_FOUND leaves the field unset instead of failing the request.
    pub optional: bool,
}

/// One request field copied from the composite request into a call's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    /// Field path in the composite request.
    pub from: Vec<String>,
    /// Field path in the call's request.
    pub to: Vec<String>,
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
    /// The field's `buf.validate` rules (a path parameter's schema states them too).
    pub rules: Option<Box<proto_validate::FieldRules>>,
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
    /// The field's `buf.validate` rules, stated in the parameter's schema like a body field's.
    pub rules: Option<Box<proto_validate::FieldRules>>,
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
    /// The field's `buf.validate` rules (mapped to JSON Schema keywords by the OpenAPI
    /// emitter).
    pub rules: Option<proto_validate::FieldRules>,
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
    well_known_json(full_name).is_some()
}

/// What every sub-stage reads from the descriptor pool besides the descriptors themselves.
struct Context {
    /// The proto comments.
    comments: Comments,
    /// `google.api.http`, if any input imports it.
    http: Option<ExtensionDescriptor>,
    /// `google.api.field_behavior`, if any input imports it.
    field_behavior: Option<ExtensionDescriptor>,
    /// `gateway.v1.gateway_implemented`, if any input imports it.
    gateway_implemented: Option<ExtensionDescriptor>,
    /// `gateway.v1.compose`, if any input imports it.
    compose: Option<ExtensionDescriptor>,
    /// `gateway.v1.header`, if any input imports it.
    header: Option<ExtensionDescriptor>,
    /// `gateway.v1.event_stream`, if any input imports it.
    event_stream: Option<ExtensionDescriptor>,
    /// Fail on what cannot be served (strict) or leave it out with a warning (lenient).
    strict: bool,
}

impl Context {
    /// Indexes the comments and looks up the extensions of `pool`.
    fn new(pool: &DescriptorPool, strict: bool) -> Self {
        Context {
            comments: Comments::new(pool),
            http: pool.get_extension_by_name("google.api.http"),
            field_behavior: pool.get_extension_by_name("google.api.field_behavior"),
            gateway_implemented: pool.get_extension_by_name(GATEWAY_IMPLEMENTED),
            compose: pool.get_extension_by_name(COMPOSE),
            header: pool.get_extension_by_name(HEADER),
            event_stream: pool.get_extension_by_name(EVENT_STREAM),
            strict,
        }
    }
}

/// Builds the model from protox-encoded descriptor bytes.
///
/// `files` are the input files (their services are bound); imports only provide types. `strict`
/// fails on the first binding the gateway cannot serve; otherwise such bindings are left out,
/// each with a [`Warning`] in [`Api::warnings`].
pub fn build(files: &[String], descriptor_set: Vec<u8>, strict: bool) -> Result<Api, Error> {
    let pool = DescriptorPool::decode(descriptor_set.as_slice())?;
    let context = Context::new(&pool, strict);
    let mut warnings = Vec::new();
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

    // The services the gateway has an upstream for: a composition may call only these.
    let callable: BTreeSet<String> = pool_services
        .iter()
        .filter(|s| !context.gateway_implemented(s))
        .map(|s| s.full_name().to_owned())
        .collect();

    for service in &pool_services {
        let prefix = if short_names.get(service.name()).copied().unwrap_or(0) > 1 {
            service.full_name().replace('.', "_")
        } else {
            service.name().to_owned()
        };
        let mut methods = Vec::new();
        for method in service.methods() {
            if let Some(m) = context.method(service, &method, &prefix, &callable, &mut warnings)? {
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
            description: context
                .comments
                .get(service.parent_file().name(), service.path()),
            methods,
            gateway_implemented: context.gateway_implemented(service),
        });
    }

    drop_duplicates(&mut services, strict, &mut warnings)?;

    let mut messages = BTreeMap::new();
    let mut enums = BTreeMap::new();
    for service in &services {
        for method in &service.methods {
            for name in [&method.input_type, &method.output_type] {
                if let Some(desc) = pool.get_message_by_name(name) {
                    context.collect(&desc, &mut messages, &mut enums);
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
        warnings,
    })
}

/// Rejects (strict) or leaves out with a warning (lenient) every binding with the HTTP method and
/// path pattern of an earlier one, naming both: no request could tell them apart. Methods and
/// services left without a binding go too.
fn drop_duplicates(
    services: &mut Vec<Service>,
    strict: bool,
    warnings: &mut Vec<Warning>,
) -> Result<(), Error> {
    let mut seen: HashMap<(String, gateway_spec::PathPattern), String> = HashMap::new();
    for service in services.iter_mut() {
        for method in service.methods.iter_mut() {
            let mut kept = Vec::with_capacity(method.bindings.len());
            for binding in std::mem::take(&mut method.bindings) {
                let key = (
                    binding.http_method.clone(),
                    binding.compiled.pattern.clone(),
                );
                let Some(first) = seen.get(&key) else {
                    seen.insert(key, format!("{}/{}", service.full_name, method.name));
                    kept.push(binding);
                    continue;
                };
                let message = format!(
                    "`{} {}` matches the same requests as a binding of {first}",
                    binding.http_method, binding.template
                );
                if strict {
                    return Err(Error::Binding {
                        file: service.file.clone(),
                        service: service.full_name.clone(),
                        method: method.name.clone(),
                        message,
                    });
                }
                warnings.push(Warning {
                    file: service.file.clone(),
                    service: service.full_name.clone(),
                    method: method.name.clone(),
                    kind: WarningKind::DuplicateRoute,
                    message: format!("{message}; it is left out"),
                    omitted: 1,
                });
            }
            method.bindings = kept;
        }
        service.methods.retain(|method| !method.bindings.is_empty());
    }
    services.retain(|service| !service.methods.is_empty());
    Ok(())
}
