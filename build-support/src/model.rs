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
use gateway_spec::{WellKnownJson, well_known_json};

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
    /// Responses are streamed.
    pub server_streaming: bool,
    /// The rule itself first, then its additional bindings.
    pub bindings: Vec<Binding>,
    /// `(gateway.v1.compose)`: the gateway answers by calling other RPCs.
    pub compose: Option<Composition>,
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
    well_known_json(full_name).is_some()
}

/// Well-known types whose JSON form is a single scalar, so they can be path or query values.
fn is_scalar_well_known(full_name: &str) -> bool {
    well_known_json(full_name) == Some(WellKnownJson::Scalar)
}

/// The service option marking a service the gateway implements itself.
const GATEWAY_IMPLEMENTED: &str = "gateway.v1.gateway_implemented";
/// The method option declaring a composite method.
const COMPOSE: &str = "gateway.v1.compose";

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

    // The services the gateway has an upstream for: a composition may call only these.
    let callable: BTreeSet<String> = pool_services
        .iter()
        .filter(|s| !builder.gateway_implemented(s))
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
            if let Some(m) = builder.method(service, &method, &prefix, &callable)? {
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
            gateway_implemented: builder.gateway_implemented(service),
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
    let mut seen: HashMap<(&str, &gateway_spec::PathPattern), String> = HashMap::new();
    for service in services {
        for method in &service.methods {
            for binding in &method.bindings {
                let key = (binding.http_method.as_str(), &binding.compiled.pattern);
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
    gateway_implemented: Option<ExtensionDescriptor>,
    compose: Option<ExtensionDescriptor>,
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
            gateway_implemented: pool.get_extension_by_name(GATEWAY_IMPLEMENTED),
            compose: pool.get_extension_by_name(COMPOSE),
        }
    }

    /// Whether the service is marked `(gateway.v1.gateway_implemented) = true`.
    fn gateway_implemented(&self, service: &ServiceDescriptor) -> bool {
        let Some(ext) = &self.gateway_implemented else {
            return false;
        };
        let options = service.options();
        options.has_extension(ext) && options.get_extension(ext).as_bool() == Some(true)
    }

    fn method(
        &self,
        service: &ServiceDescriptor,
        method: &MethodDescriptor,
        prefix: &str,
        callable: &BTreeSet<String>,
    ) -> Result<Option<Method>, Error> {
        let fail = |message: String| Error::Binding {
            file: service.parent_file().name().to_owned(),
            service: service.full_name().to_owned(),
            method: method.name().to_owned(),
            message,
        };
        let options = method.options();
        let composition = match &self.compose {
            Some(ext) if options.has_extension(ext) => {
                Some(options.get_extension(ext).into_owned())
            }
            _ => None,
        };
        let implemented = self.gateway_implemented(service);
        let has_http = self
            .http
            .as_ref()
            .is_some_and(|http| options.has_extension(http));
        match (implemented, composition.is_some(), has_http) {
            (false, false, false) => return Ok(None),
            (true, false, _) => {
                return Err(fail(format!(
                    "the service is `({GATEWAY_IMPLEMENTED})`, so every method needs `({COMPOSE})`: no upstream serves it"
                )));
            }
            (false, true, _) => {
                return Err(fail(format!(
                    "`({COMPOSE})` is only allowed in a service marked `({GATEWAY_IMPLEMENTED}) = true`"
                )));
            }
            (true, true, false) => {
                return Err(fail(format!(
                    "a `({COMPOSE})` method needs a `google.api.http` binding"
                )));
            }
            _ => {}
        }
        let Some(http) = &self.http else {
            return Ok(None);
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

        let compose = composition
            .map(|value| self.composition(method, &value, callable))
            .transpose()
            .map_err(&fail)?;
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
            compose,
        }))
    }

    /// Resolves and checks a `gateway.v1.Composition` for the composite method `method`.
    fn composition(
        &self,
        method: &MethodDescriptor,
        value: &Value,
        callable: &BTreeSet<String>,
    ) -> Result<Composition, String> {
        if method.is_server_streaming() {
            return Err(format!("a `({COMPOSE})` method cannot stream its response"));
        }
        let Value::Message(composition) = value else {
            return Err(format!("`({COMPOSE})` is not a gateway.v1.Composition"));
        };
        let pool = method.parent_pool();
        let input = method.input();
        let output = method.output();
        let mut parts = Vec::new();
        for part in messages(composition, "parts") {
            let text = |name: &str| string_field(&part, name);
            let field_name = text("field");
            let what = format!("compose part `{field_name}`");
            if field_name.is_empty() || field_name.contains('.') {
                return Err(format!(
                    "{what}: `field` must name a top-level field of {}",
                    output.full_name()
                ));
            }
            if parts.iter().any(|p: &Part| p.field.path[0] == field_name) {
                return Err(format!("{what}: two parts fill the same field"));
            }
            let field = self
                .resolve(&output, std::slice::from_ref(&field_name))
                .map_err(|m| format!("{what}: field: {m}"))?;

            let full = text("method");
            let called = full
                .rsplit_once('.')
                .and_then(|(service, name)| {
                    pool.get_service_by_name(service)
                        .and_then(|s| s.methods().find(|m| m.name() == name))
                })
                .ok_or_else(|| {
                    format!("{what}: no method `{full}` (give `package.Service.Method`)")
                })?;
            let service = called.parent_service();
            if !callable.contains(service.full_name()) {
                return Err(format!(
                    "{what}: `{full}` is not reachable by the gateway: {} must be declared in the input protos and not be gateway-implemented",
                    service.full_name()
                ));
            }
            if called.is_client_streaming() || called.is_server_streaming() {
                return Err(format!(
                    "{what}: `{full}` is a streaming method; only unary methods compose"
                ));
            }
            let called_input = called.input();
            let called_output = called.output();

            let mut request: Vec<FieldMapping> = Vec::new();
            for mapping in messages(&part, "request") {
                let from = split_path(&string_field(&mapping, "from"));
                let to = split_path(&string_field(&mapping, "to"));
                let source = self
                    .resolve(&input, &from)
                    .map_err(|m| format!("{what}: request `from: \"{}\"`: {m}", from.join(".")))?;
                let target = self
                    .resolve(&called_input, &to)
                    .map_err(|m| format!("{what}: request `to: \"{}\"`: {m}", to.join(".")))?;
                if source.ty != target.ty || source.label != target.label {
                    return Err(format!(
                        "{what}: request field `{}` ({}) does not have the type of `{}` ({}) in {}",
                        from.join("."),
                        describe(&source),
                        to.join("."),
                        describe(&target),
                        called_input.full_name()
                    ));
                }
                if request.iter().any(|m| m.to == to) {
                    return Err(format!(
                        "{what}: `{}` of {} is mapped twice",
                        to.join("."),
                        called_input.full_name()
                    ));
                }
                request.push(FieldMapping { from, to });
            }

            let take = split_path(&text("take"));
            let taken = if take.is_empty() {
                FieldRef {
                    path: Vec::new(),
                    ty: FieldType::Message(called_output.full_name().to_owned()),
                    label: Label::Singular,
                    description: None,
                    required: false,
                }
            } else {
                self.resolve(&called_output, &take)
                    .map_err(|m| format!("{what}: take: {m}"))?
            };
            if taken.ty != field.ty || taken.label != field.label {
                let source = if take.is_empty() {
                    format!("the whole {}", called_output.full_name())
                } else {
                    format!("`{}` of {}", take.join("."), called_output.full_name())
                };
                return Err(format!(
                    "{what}: takes {source} ({}), but `{field_name}` of {} is {}",
                    describe(&taken),
                    output.full_name(),
                    describe(&field)
                ));
            }
            parts.push(Part {
                field,
                service: service.full_name().to_owned(),
                method: full,
                grpc_path: format!("/{}/{}", service.full_name(), called.name()),
                input_type: called_input.full_name().to_owned(),
                output_type: called_output.full_name().to_owned(),
                request,
                take,
                optional: part
                    .get_field_by_name("optional")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            });
        }
        if parts.is_empty() {
            return Err(format!("`({COMPOSE})` has no parts"));
        }
        Ok(Composition { parts })
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
            let field_path: Vec<String> = param.field_path.iter().map(|n| n.to_string()).collect();
            let field = self.resolve(input, &field_path).map_err(|m| {
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
                    .map(|p| p.field_path.iter().map(|n| n.to_string()).collect())
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

/// The messages of a repeated message field of `message` (empty when unset).
fn messages(message: &DynamicMessage, name: &str) -> Vec<DynamicMessage> {
    match message.get_field_by_name(name).map(|v| v.into_owned()) {
        Some(Value::List(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::Message(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A string field of `message` (empty when unset).
fn string_field(message: &DynamicMessage, name: &str) -> String {
    message
        .get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `a.b` -> `["a", "b"]`; `""` -> `[]`.
fn split_path(path: &str) -> Vec<String> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').map(str::to_owned).collect()
    }
}

/// A field's type for error messages: `int64`, `repeated string`, `users.v1.User`.
fn describe(field: &FieldRef) -> String {
    let ty = match &field.ty {
        FieldType::Bool => "bool".to_owned(),
        FieldType::Int32 => "int32".to_owned(),
        FieldType::Uint32 => "uint32".to_owned(),
        FieldType::Int64 => "int64".to_owned(),
        FieldType::Uint64 => "uint64".to_owned(),
        FieldType::Float => "float".to_owned(),
        FieldType::Double => "double".to_owned(),
        FieldType::String => "string".to_owned(),
        FieldType::Bytes => "bytes".to_owned(),
        FieldType::Enum(name) | FieldType::Message(name) => name.clone(),
    };
    match &field.label {
        Label::Singular => ty,
        Label::Repeated => format!("repeated {ty}"),
        Label::Map(key) => format!(
            "map<{}, {ty}>",
            describe(&FieldRef {
                path: Vec::new(),
                ty: key.clone(),
                label: Label::Singular,
                description: None,
                required: false,
            })
        ),
    }
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
