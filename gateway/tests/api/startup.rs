//! Start-up: the route table resolves once, or the gateway refuses to start naming the route.

use std::borrow::Cow::Borrowed as B;

use gateway::spec::{
    BodySpec, EventStreamSpec, HeaderSpec, PathParam, PathPattern, RouteSpec, Segment,
};
use gateway::{GatewayConfig, GatewayError};

use crate::helpers::pool;

const GOOD: RouteSpec = RouteSpec {
    operation_id: B("Echo_Get"),
    http_method: B("GET"),
    template: B("/v1/echo/{id}"),
    pattern: PathPattern {
        segments: B(&[
            Segment::Literal(B("v1")),
            Segment::Literal(B("echo")),
            Segment::Single,
        ]),
        verb: None,
    },
    grpc_service: B("echo.v1.Echo"),
    grpc_path: B("/echo.v1.Echo/Echo"),
    input_type: B("echo.v1.EchoRequest"),
    output_type: B("echo.v1.EchoRequest"),
    path_params: B(&[PathParam {
        field_path: B(&[B("id")]),
        first_segment: 2,
        segment_count: Some(1),
    }]),
    body: BodySpec::None,
    response_body: None,
    client_streaming: false,
    server_streaming: false,
    headers: B(&[]),
    compose: None,
    event_stream: None,
};

static MISSING_TYPE: &[RouteSpec] = &[RouteSpec {
    input_type: B("echo.v1.Nope"),
    ..GOOD
}];
static MISSING_FIELD: &[RouteSpec] = &[RouteSpec {
    path_params: B(&[PathParam {
        field_path: B(&[B("book"), B("nope")]),
        first_segment: 2,
        segment_count: Some(1),
    }]),
    ..GOOD
}];
static REPEATED_PATH_FIELD: &[RouteSpec] = &[RouteSpec {
    path_params: B(&[PathParam {
        field_path: B(&[B("tags")]),
        first_segment: 2,
        segment_count: Some(1),
    }]),
    ..GOOD
}];
static MISSING_BODY_FIELD: &[RouteSpec] = &[RouteSpec {
    body: BodySpec::Field(B("nope")),
    ..GOOD
}];
static MISSING_RESPONSE_FIELD: &[RouteSpec] = &[RouteSpec {
    response_body: Some(B("nope")),
    ..GOOD
}];

/// `/v1/**/echo/**`: two `**` would make the split between them ambiguous.
static TWO_MULTIS: &[RouteSpec] = &[RouteSpec {
    pattern: PathPattern {
        segments: B(&[
            Segment::Literal(B("v1")),
            Segment::Multi,
            Segment::Literal(B("echo")),
            Segment::Multi,
        ]),
        verb: None,
    },
    path_params: B(&[]),
    ..GOOD
}];
/// `{id}` over a `**` claiming one segment: it would be decoded as a single segment.
static ONE_SEGMENT_MULTI: &[RouteSpec] = &[RouteSpec {
    pattern: PathPattern {
        segments: B(&[
            Segment::Literal(B("v1")),
            Segment::Literal(B("echo")),
            Segment::Multi,
            Segment::Literal(B("x")),
        ]),
        verb: None,
    },
    ..GOOD
}];
/// A variable ending with the `**` placed after it.
static MULTI_BEFORE_VARIABLE: &[RouteSpec] = &[RouteSpec {
    pattern: PathPattern {
        segments: B(&[Segment::Literal(B("v1")), Segment::Multi, Segment::Single]),
        verb: None,
    },
    path_params: B(&[PathParam {
        field_path: B(&[B("id")]),
        first_segment: 2,
        segment_count: None,
    }]),
    ..GOOD
}];

/// A declared header the transport owns.
static RESERVED_HEADER: &[RouteSpec] = &[RouteSpec {
    headers: B(&[HeaderSpec {
        name: B("grpc-timeout"),
        pattern: None,
    }]),
    ..GOOD
}];

/// A declared header that is no header name.
static INVALID_HEADER: &[RouteSpec] = &[RouteSpec {
    headers: B(&[HeaderSpec {
        name: B("not a header"),
        pattern: None,
    }]),
    ..GOOD
}];

/// An event id taken from a message field.
static MESSAGE_EVENT_ID: &[RouteSpec] = &[RouteSpec {
    server_streaming: true,
    event_stream: Some(EventStreamSpec {
        id_field: B(&[B("book")]),
        resume_field: B(&[]),
    }),
    ..GOOD
}];

/// `Last-Event-ID` into a field the request does not have.
static MISSING_RESUME_FIELD: &[RouteSpec] = &[RouteSpec {
    server_streaming: true,
    event_stream: Some(EventStreamSpec {
        id_field: B(&[]),
        resume_field: B(&[B("nope")]),
    }),
    ..GOOD
}];

fn start_error(routes: &'static [RouteSpec]) -> String {
    match gateway::app(GatewayConfig::default(), routes, pool()) {
        Ok(_) => panic!("the table should not resolve"),
        Err(error @ GatewayError::Routes(_)) => error.to_string(),
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn unresolvable_routes_fail_start_up_naming_the_route() {
    for (routes, needle) in [
        (MISSING_TYPE, "echo.v1.Nope"),
        (MISSING_FIELD, "nope"),
        (REPEATED_PATH_FIELD, "`tags`"),
        (MISSING_BODY_FIELD, "body field `nope`"),
        (MISSING_RESPONSE_FIELD, "response_body field `nope`"),
        (TWO_MULTIS, "only one `**`"),
        (ONE_SEGMENT_MULTI, "is the `**`"),
        (MULTI_BEFORE_VARIABLE, "outside the template"),
        (RESERVED_HEADER, "header `grpc-timeout` cannot be forwarded"),
        (
            INVALID_HEADER,
            "header `not a header` is not a valid HTTP header name",
        ),
        (
            MESSAGE_EVENT_ID,
            "event_stream id_field `book` must name a singular integer or string field",
        ),
        (
            MISSING_RESUME_FIELD,
            "event_stream resume_field: no field `nope`",
        ),
    ] {
        let message = start_error(routes);
        assert!(
            message.contains("GET /v1/echo/{id} (Echo_Get)"),
            "{message}"
        );
        assert!(message.contains(needle), "{message}");
    }
}

#[tokio::test]
async fn the_generated_golden_table_resolves() {
    let _router = gateway::app(
        GatewayConfig::default(),
        crate::helpers::golden_routes(),
        crate::helpers::golden_pool(),
    )
    .expect("every golden route resolves");
}
