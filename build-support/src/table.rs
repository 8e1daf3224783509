//! Stage 3a: the model as the runtime's route table. Each binding becomes a
//! [`gateway_spec::RouteSpec`], the very type the gateway serves, so what the generator
//! validated is what the runtime reads: the [`routes`](crate::routes) emitter prints these values
//! as Rust, and [`Generator::route_table`](crate::Generator::route_table) hands them over at run
//! time.

use gateway_spec::{
    BodySpec, ComposePart, ComposeSpec, EventStreamSpec, FieldMapping, HeaderSpec, List, RouteSpec,
    Text,
};

use crate::model::{Api, Binding, Body, EventStream, FieldRef, Method, Part, Service};

/// A route table built in memory: the routes and the encoded descriptor set they resolve in.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// Every binding, in the order [`route_specs`] gives.
    pub routes: Vec<RouteSpec>,
    /// The encoded `FileDescriptorSet` (imports and source info included).
    pub descriptor_set: Vec<u8>,
}

/// Every binding of `api` with the method and service it belongs to, in a stable order:
/// services by full name, methods in declaration order, each rule before its
/// `additional_bindings`.
pub fn bindings(api: &Api) -> impl Iterator<Item = (&Service, &Method, &Binding)> {
    api.services.iter().flat_map(|service| {
        service.methods.iter().flat_map(move |method| {
            method
                .bindings
                .iter()
                .map(move |binding| (service, method, binding))
        })
    })
}

/// The route table of `api`, one [`RouteSpec`] per binding in [`bindings`] order.
pub fn route_specs(api: &Api) -> Vec<RouteSpec> {
    bindings(api)
        .map(|(service, method, binding)| route_spec(service, method, binding))
        .collect()
}

/// The runtime's description of one binding.
pub fn route_spec(service: &Service, method: &Method, binding: &Binding) -> RouteSpec {
    RouteSpec {
        operation_id: text(&binding.operation_id),
        http_method: text(&binding.http_method),
        template: text(&binding.template),
        pattern: binding.compiled.pattern.clone(),
        grpc_service: text(&service.full_name),
        grpc_path: text(&method.grpc_path),
        input_type: text(&method.input_type),
        output_type: text(&method.output_type),
        path_params: binding.compiled.params.clone().into(),
        body: match &binding.body {
            Body::None => BodySpec::None,
            Body::Whole => BodySpec::Whole,
            Body::Field(field) => BodySpec::Field(field.path.join(".").into()),
        },
        response_body: binding
            .response_body
            .as_ref()
            .map(|field| field.path.join(".").into()),
        client_streaming: method.client_streaming,
        server_streaming: method.server_streaming,
        headers: method
            .headers
            .iter()
            .map(|header| HeaderSpec {
                name: Text::Owned(header.key()),
                pattern: header.pattern.clone().map(Text::Owned),
            })
            .collect(),
        compose: method.compose.as_ref().map(|composition| ComposeSpec {
            parts: composition.parts.iter().map(compose_part).collect(),
        }),
        event_stream: method.event_stream.as_ref().map(event_stream),
    }
}

fn event_stream(event_stream: &EventStream) -> EventStreamSpec {
    let path = |field: Option<&FieldRef>| field.map(|f| texts(&f.path)).unwrap_or_default();
    EventStreamSpec {
        id_field: path(event_stream.id_field.as_ref()),
        resume_field: path(event_stream.resume_field.as_ref()),
    }
}

fn compose_part(part: &Part) -> ComposePart {
    ComposePart {
        field: text(&part.field.path[0]),
        grpc_service: text(&part.service),
        grpc_path: text(&part.grpc_path),
        input_type: text(&part.input_type),
        output_type: text(&part.output_type),
        request: part
            .request
            .iter()
            .map(|mapping| FieldMapping {
                from: texts(&mapping.from),
                to: texts(&mapping.to),
            })
            .collect(),
        take: texts(&part.take),
        optional: part.optional,
    }
}

fn text(value: &str) -> Text {
    Text::Owned(value.to_owned())
}

fn texts(values: &[String]) -> List<Text> {
    values.iter().map(|value| text(value)).collect()
}
