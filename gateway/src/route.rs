//! The compiled route table: every [`RouteSpec`] resolved against the descriptor pool once, at
//! start-up, so that serving a request never looks a message or field up by name (apart from
//! query parameter names, which are client input).

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value,
};

use crate::error::GatewayError;
use crate::metadata::Forwarding;
use crate::spec::{
    BodySpec, ComposePart, PathParam, RouteSpec, Segment, Text, WellKnownJson, well_known_json,
};
use crate::transcode::sse::EventIds;
use crate::upstream::{Upstream, Upstreams};

/// A path variable resolved to the chain of fields it sets.
#[derive(Debug, Clone)]
pub(crate) struct BoundPathParam {
    /// The variable as declared in the table.
    pub param: PathParam,
    /// The dotted field path, for error messages (`book.shelf_id`).
    pub name: String,
    /// Message fields to descend through (created when absent), then the leaf.
    pub parents: Vec<FieldDescriptor>,
    /// The field that receives the value.
    pub leaf: FieldDescriptor,
}

/// Where the body goes, resolved.
#[derive(Debug, Clone)]
pub(crate) enum CompiledBody {
    /// The body is ignored.
    None,
    /// The body is the request message.
    Whole,
    /// The body is this top-level field.
    Field(FieldDescriptor),
}

/// Where an automatic update mask goes and which message the body keys name.
#[derive(Debug, Clone)]
pub(crate) struct AutoUpdateMask {
    /// The request's top-level `update_mask` field (a `google.protobuf.FieldMask`).
    pub field: FieldDescriptor,
    /// The FieldMask message type.
    pub mask: MessageDescriptor,
    /// The body field's message type.
    pub body: MessageDescriptor,
}

fn auto_update_mask(
    spec: &RouteSpec,
    input: &MessageDescriptor,
    body: &CompiledBody,
) -> Option<AutoUpdateMask> {
    let CompiledBody::Field(body_field) = body else {
        return None;
    };
    if spec.http_method != "PATCH" || body_field.is_list() || body_field.is_map() {
        return None;
    }
    let Kind::Message(body) = body_field.kind() else {
        return None;
    };
    let field = input.get_field_by_name("update_mask")?;
    match field.kind() {
        Kind::Message(mask)
            if mask.full_name() == "google.protobuf.FieldMask" && !field.is_list() =>
        {
            Some(AutoUpdateMask { field, mask, body })
        }
        _ => None,
    }
}

/// The name of `google.api.HttpBody`, the message that carries a raw HTTP body.
pub(crate) const HTTP_BODY: &str = "google.api.HttpBody";

/// A `google.api.HttpBody` in a request or response: where it is, and its two fields.
#[derive(Debug, Clone)]
pub(crate) struct RawBody {
    /// The top-level field holding it; `None` when it is the whole message.
    pub field: Option<FieldDescriptor>,
    /// The HttpBody message type.
    pub message: MessageDescriptor,
    /// `content_type`: the HTTP Content-Type.
    pub content_type: FieldDescriptor,
    /// `data`: the raw bytes.
    pub data: FieldDescriptor,
}

impl RawBody {
    /// `Some` when `message` is a `google.api.HttpBody` (with the field `field` of its parent
    /// holding it, if any).
    fn of(message: &MessageDescriptor, field: Option<&FieldDescriptor>) -> Option<RawBody> {
        if message.full_name() != HTTP_BODY || field.is_some_and(|f| f.is_list() || f.is_map()) {
            return None;
        }
        Some(RawBody {
            field: field.cloned(),
            message: message.clone(),
            content_type: message.get_field_by_name("content_type")?,
            data: message.get_field_by_name("data")?,
        })
    }

    /// The HttpBody inside `parent` (or `parent` itself), `None` when unset.
    pub(crate) fn find<'m>(&self, parent: &'m DynamicMessage) -> Option<&'m DynamicMessage> {
        match &self.field {
            None => Some(parent),
            Some(field) if parent.has_field(field) => match parent.get_field(field) {
                std::borrow::Cow::Borrowed(Value::Message(inner)) => Some(inner),
                _ => None,
            },
            Some(_) => None,
        }
    }

    /// The HttpBody's `content_type` and `data` (empty when unset).
    pub(crate) fn parts(&self, parent: &DynamicMessage) -> (String, bytes::Bytes) {
        let Some(body) = self.find(parent) else {
            return (String::new(), bytes::Bytes::new());
        };
        let content_type = match body.get_field(&self.content_type).as_ref() {
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        let data = match body.get_field(&self.data).as_ref() {
            Value::Bytes(b) => b.clone(),
            _ => bytes::Bytes::new(),
        };
        (content_type, data)
    }

    /// Puts `data` and `content_type` into `message` (in the field, or the message itself).
    pub(crate) fn fill(
        &self,
        message: &mut DynamicMessage,
        content_type: &str,
        data: bytes::Bytes,
    ) {
        let mut body = DynamicMessage::new(self.message.clone());
        body.set_field(&self.content_type, Value::String(content_type.to_owned()));
        body.set_field(&self.data, Value::Bytes(data));
        match &self.field {
            None => *message = body,
            Some(field) => message.set_field(field, Value::Message(body)),
        }
    }
}

/// One route of the table, ready to serve.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRoute {
    /// The route as generated.
    pub spec: &'static RouteSpec,
    /// The request message.
    pub input: MessageDescriptor,
    /// The response message.
    pub output: MessageDescriptor,
    /// Path variables, in template order.
    pub path_params: Vec<BoundPathParam>,
    /// Where the body goes.
    pub body: CompiledBody,
    /// Field-number paths that the path or the body binds: the query may not set them.
    pub bound: Vec<Vec<u32>>,
    /// The response field that becomes the HTTP body, when not the whole message.
    pub response_body: Option<FieldDescriptor>,
    /// PATCH with a body field and an `update_mask`: filled from the body's keys when the
    /// client sends no mask (as grpc-gateway does).
    pub update_mask: Option<AutoUpdateMask>,
    /// The request body is raw bytes: the request (`body: "*"`) or its `body` field is a
    /// `google.api.HttpBody`.
    pub raw_request: Option<RawBody>,
    /// The response body is raw bytes: the response (or its `response_body` field) is a
    /// `google.api.HttpBody`.
    pub raw_response: Option<RawBody>,
    /// The gRPC method path.
    pub grpc_path: http::uri::PathAndQuery,
    /// The upstream channel, `None` when no upstream is configured for the service (and always
    /// for a composite route, whose parts have their own).
    pub upstream: Option<Upstream>,
    /// The calls of a composite route.
    pub compose: Option<Vec<CompiledPart>>,
    /// The request headers the route declares (`RouteSpec::headers`), forwarded as metadata on
    /// its calls besides the configured ones.
    pub headers: Forwarding,
    /// A server stream's event ids and `Last-Event-ID` field (`RouteSpec::event_stream`).
    pub event_ids: EventIds,
}

impl CompiledRoute {
    /// The upstream services this route calls, each with whether a channel is configured.
    pub fn upstreams(&self) -> Vec<(&'static str, bool)> {
        match &self.compose {
            Some(parts) => parts
                .iter()
                .map(|p| (&*p.spec.grpc_service, p.upstream.is_some()))
                .collect(),
            None => vec![(&*self.spec.grpc_service, self.upstream.is_some())],
        }
    }
}

/// One call of a composite route, resolved.
#[derive(Debug, Clone)]
pub(crate) struct CompiledPart {
    /// The part as generated.
    pub spec: &'static ComposePart,
    /// The called method's request message.
    pub input: MessageDescriptor,
    /// The called method's response message.
    pub output: MessageDescriptor,
    /// (from, to) field chains: composite request -> call request.
    pub request: Vec<(Vec<FieldDescriptor>, Vec<FieldDescriptor>)>,
    /// The field chain taken from the call's response; empty for the whole response.
    pub take: Vec<FieldDescriptor>,
    /// The composite response field the part fills.
    pub field: FieldDescriptor,
    /// The called method's gRPC path.
    pub grpc_path: http::uri::PathAndQuery,
    /// The called service's upstream, `None` when none is configured for it.
    pub upstream: Option<Upstream>,
}

/// The value at the end of `chain` in `message`, `None` when it or a message on the way is unset.
fn read_chain(message: &DynamicMessage, chain: &[FieldDescriptor]) -> Option<Value> {
    let (leaf, parents) = chain.split_last()?;
    let mut current = message;
    for field in parents {
        if !current.has_field(field) {
            return None;
        }
        match current.get_field(field) {
            std::borrow::Cow::Borrowed(Value::Message(next)) => current = next,
            _ => return None,
        }
    }
    current
        .has_field(leaf)
        .then(|| current.get_field(leaf).into_owned())
}

/// Sets the field at the end of `chain` in `message`, creating the messages on the way.
fn write_chain(message: &mut DynamicMessage, chain: &[FieldDescriptor], value: Value) {
    let Some((leaf, parents)) = chain.split_last() else {
        return;
    };
    let mut current = message;
    for field in parents {
        match current.get_field_mut(field) {
            Value::Message(next) => current = next,
            _ => return,
        }
    }
    current.set_field(leaf, value);
}

impl CompiledPart {
    /// The call's request: a fresh message with the mapped fields copied from `composite`.
    pub fn request(&self, composite: &DynamicMessage) -> DynamicMessage {
        let mut request = DynamicMessage::new(self.input.clone());
        for (from, to) in &self.request {
            if let Some(value) = read_chain(composite, from) {
                write_chain(&mut request, to, value);
            }
        }
        request
    }

    /// Copies the taken part of the call's `response` into the composite `output`.
    pub fn fill(&self, output: &mut DynamicMessage, response: DynamicMessage) {
        let value = if self.take.is_empty() {
            Some(Value::Message(response))
        } else {
            read_chain(&response, &self.take)
        };
        if let Some(value) = value {
            output.set_field(&self.field, value);
        }
    }
}

/// Resolves a field path to the chain of fields it names; every step but the last must be a
/// singular message field.
pub(crate) fn field_chain(
    root: &MessageDescriptor,
    path: &[Text],
) -> Result<Vec<FieldDescriptor>, String> {
    let mut message = root.clone();
    let mut chain = Vec::with_capacity(path.len());
    for (i, name) in path.iter().enumerate() {
        let field = message
            .get_field_by_name(name)
            .ok_or_else(|| format!("no field `{name}` in {}", message.full_name()))?;
        if i + 1 < path.len() {
            match field.kind() {
                Kind::Message(next) if !field.is_list() && !field.is_map() => message = next,
                _ => {
                    return Err(format!(
                        "`{name}` in {} is not a singular message field",
                        message.full_name()
                    ));
                }
            }
        }
        chain.push(field);
    }
    if chain.is_empty() {
        return Err("empty field path".to_owned());
    }
    Ok(chain)
}

fn compile_part(
    spec: &RouteSpec,
    part: &'static ComposePart,
    input: &MessageDescriptor,
    output: &MessageDescriptor,
    pool: &DescriptorPool,
    upstreams: &Upstreams,
) -> Result<CompiledPart, GatewayError> {
    let fail = |what: String| routes_error(spec, format!("compose part `{}`: {what}", part.field));
    let message = |name: &str| {
        pool.get_message_by_name(name)
            .ok_or_else(|| fail(format!("message {name} is not in the descriptor set")))
    };
    let part_input = message(&part.input_type)?;
    let part_output = message(&part.output_type)?;
    let request = part
        .request
        .iter()
        .map(|mapping| {
            let from = field_chain(input, &mapping.from).map_err(&fail)?;
            let to = field_chain(&part_input, &mapping.to).map_err(&fail)?;
            Ok((from, to))
        })
        .collect::<Result<Vec<_>, GatewayError>>()?;
    let take = if part.take.is_empty() {
        Vec::new()
    } else {
        field_chain(&part_output, &part.take).map_err(&fail)?
    };
    let field = output.get_field_by_name(&part.field).ok_or_else(|| {
        fail(format!(
            "no field `{}` in {}",
            part.field,
            output.full_name()
        ))
    })?;
    let grpc_path = http::uri::PathAndQuery::try_from(&*part.grpc_path)
        .map_err(|e| fail(format!("invalid gRPC path {}: {e}", part.grpc_path)))?;
    Ok(CompiledPart {
        spec: part,
        input: part_input,
        output: part_output,
        request,
        take,
        field,
        grpc_path,
        upstream: upstreams.upstream(&part.grpc_service),
    })
}

fn routes_error(spec: &RouteSpec, what: String) -> GatewayError {
    GatewayError::Routes(format!(
        "{} {} ({}): {what}",
        spec.http_method, spec.template, spec.operation_id
    ))
}

/// Well-known message types whose JSON form is a string or a bare scalar, and which a path or
/// query value can therefore set.
pub(crate) fn is_scalar_like_message(message: &MessageDescriptor) -> bool {
    well_known_json(message.full_name()) == Some(WellKnownJson::Scalar)
}

fn resolve_path_param(
    spec: &RouteSpec,
    input: &MessageDescriptor,
    param: &PathParam,
) -> Result<BoundPathParam, GatewayError> {
    let name = param.field_path.join(".");
    let segments = &spec.pattern.segments;
    let multi = segments.iter().position(|s| *s == Segment::Multi);
    let end = match param.segment_count {
        Some(count) => Some(param.first_segment + count),
        // Ends with the template's `**`.
        None => multi
            .filter(|at| *at >= param.first_segment)
            .map(|at| at + 1),
    };
    if !end.is_some_and(|end| end <= segments.len() && end > param.first_segment) {
        return Err(routes_error(
            spec,
            format!("path variable `{name}` captures segments outside the template"),
        ));
    }
    // A one-segment variable is fully percent-decoded, so it may not be the `**`.
    if param.segment_count == Some(1) && segments[param.first_segment] == Segment::Multi {
        return Err(routes_error(
            spec,
            format!("path variable `{name}` is the `**`, so its segment_count must be None"),
        ));
    }
    let mut message = input.clone();
    let mut parents = Vec::new();
    let (last, init) = param
        .field_path
        .split_last()
        .ok_or_else(|| routes_error(spec, "a path variable has an empty field path".into()))?;
    for part in init {
        let field = message.get_field_by_name(part).ok_or_else(|| {
            routes_error(
                spec,
                format!("no field `{part}` in {}", message.full_name()),
            )
        })?;
        match field.kind() {
            Kind::Message(next) if !field.is_list() && !field.is_map() => {
                parents.push(field);
                message = next;
            }
            _ => {
                return Err(routes_error(
                    spec,
                    format!("`{part}` in `{name}` is not a singular message field"),
                ));
            }
        }
    }
    let leaf = message.get_field_by_name(last).ok_or_else(|| {
        routes_error(
            spec,
            format!("no field `{last}` in {}", message.full_name()),
        )
    })?;
    let settable = match leaf.kind() {
        Kind::Message(m) => is_scalar_like_message(&m),
        _ => true,
    };
    if leaf.is_list() || leaf.is_map() || !settable {
        return Err(routes_error(
            spec,
            format!(
                "path variable `{name}` must name a singular scalar, enum or string-valued well-known type"
            ),
        ));
    }
    Ok(BoundPathParam {
        param: param.clone(),
        name,
        parents,
        leaf,
    })
}

fn field_numbers(bound: &BoundPathParam) -> Vec<u32> {
    bound
        .parents
        .iter()
        .chain(std::iter::once(&bound.leaf))
        .map(FieldDescriptor::number)
        .collect()
}

/// Resolves one route against the pool; `upstreams` supplies its channel.
pub(crate) fn compile_route(
    spec: &'static RouteSpec,
    pool: &DescriptorPool,
    upstreams: &Upstreams,
) -> Result<CompiledRoute, GatewayError> {
    let input = pool.get_message_by_name(&spec.input_type).ok_or_else(|| {
        routes_error(
            spec,
            format!(
                "request message {} is not in the descriptor set",
                spec.input_type
            ),
        )
    })?;
    let output = pool.get_message_by_name(&spec.output_type).ok_or_else(|| {
        routes_error(
            spec,
            format!(
                "response message {} is not in the descriptor set",
                spec.output_type
            ),
        )
    })?;
    if spec
        .pattern
        .segments
        .iter()
        .filter(|s| **s == Segment::Multi)
        .count()
        > 1
    {
        return Err(routes_error(
            spec,
            "a template may have only one `**`".into(),
        ));
    }
    let path_params = spec
        .path_params
        .iter()
        .map(|param| resolve_path_param(spec, &input, param))
        .collect::<Result<Vec<_>, _>>()?;
    let mut bound: Vec<Vec<u32>> = path_params.iter().map(field_numbers).collect();
    let body = match &spec.body {
        BodySpec::None => CompiledBody::None,
        BodySpec::Whole => CompiledBody::Whole,
        BodySpec::Field(name) => {
            let field = input.get_field_by_name(name).ok_or_else(|| {
                routes_error(
                    spec,
                    format!("body field `{name}` is not in {}", input.full_name()),
                )
            })?;
            bound.push(vec![field.number()]);
            CompiledBody::Field(field)
        }
    };
    let response_body = spec
        .response_body
        .as_deref()
        .map(|name| {
            output.get_field_by_name(name).ok_or_else(|| {
                routes_error(
                    spec,
                    format!(
                        "response_body field `{name}` is not in {}",
                        output.full_name()
                    ),
                )
            })
        })
        .transpose()?;
    let raw_request = match &body {
        CompiledBody::None => None,
        CompiledBody::Whole => RawBody::of(&input, None),
        CompiledBody::Field(field) => match field.kind() {
            Kind::Message(message) => RawBody::of(&message, Some(field)),
            _ => None,
        },
    };
    let raw_response = match &response_body {
        None => RawBody::of(&output, None),
        Some(field) => match field.kind() {
            Kind::Message(message) => RawBody::of(&message, Some(field)),
            _ => None,
        },
    };
    let grpc_path = http::uri::PathAndQuery::try_from(&*spec.grpc_path)
        .map_err(|e| routes_error(spec, format!("invalid gRPC path {}: {e}", spec.grpc_path)))?;
    let update_mask = auto_update_mask(spec, &input, &body);
    let compose = spec
        .compose
        .as_ref()
        .map(|compose| {
            compose
                .parts
                .iter()
                .map(|part| compile_part(spec, part, &input, &output, pool, upstreams))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let upstream = match compose {
        Some(_) => None,
        None => upstreams.upstream(&spec.grpc_service),
    };
    let headers = Forwarding::declared(&spec.headers)
        .map_err(|e| routes_error(spec, format!("declared {e}")))?;
    let event_ids = EventIds::compile(spec, &input, &output).map_err(|e| routes_error(spec, e))?;
    Ok(CompiledRoute {
        event_ids,
        compose,
        headers,
        spec,
        update_mask,
        input,
        output,
        path_params,
        body,
        bound,
        response_body,
        raw_request,
        raw_response,
        grpc_path,
        upstream,
    })
}
