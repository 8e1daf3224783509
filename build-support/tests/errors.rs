//! Every binding HttpRule forbids is a generation error naming the proto file, service and method.

use std::path::PathBuf;

/// Writes `files` (name, body) into a fresh directory and runs the generator on them.
fn generate(case: &str, files: &[(&str, &str)]) -> build_support::Error {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("errors")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("fixture dir");
        std::fs::write(&path, body).expect("fixture written");
    }
    build_support::Generator::new()
        .proto_dir(&dir)
        .model()
        .expect_err(case)
}

/// A one-service proto whose `Do` method has the given signature and option body.
fn service(signature: &str, option: &str) -> String {
    format!(
        r#"syntax = "proto3";
package bad.v1;
import "google/api/annotations.proto";
message Inner {{ string name = 1; }}
message Req {{
  string id = 1;
  repeated string tags = 2;
  Inner inner = 3;
  map<string, string> labels = 4;
}}
service BadService {{
  rpc Do({signature}) {{
    option (google.api.http) = {{ {option} }};
  }}
}}
"#
    )
}

fn assert_names(err: &build_support::Error, file: &str, service: &str, method: &str, what: &str) {
    let text = err.to_string();
    for part in [file, service, method, what] {
        assert!(text.contains(part), "`{text}` should mention `{part}`");
    }
}

fn case(name: &str, signature: &str, option: &str, what: &str) {
    let file = format!("{name}.proto");
    let err = generate(name, &[(&file, &service(signature, option))]);
    assert_names(&err, &file, "bad.v1.BadService", "Do", what);
}

const UNARY: &str = "Req) returns (Req";

#[test]
fn get_with_body() {
    case(
        "get_body",
        UNARY,
        r#"get: "/v1/x" body: "*""#,
        "a GET binding may not have a body",
    );
}

#[test]
fn delete_with_body() {
    case(
        "delete_body",
        UNARY,
        r#"delete: "/v1/x/{id}" body: "inner""#,
        "a DELETE binding may not have a body",
    );
}

#[test]
fn client_streaming_without_body() {
    case(
        "client_stream",
        "stream Req) returns (Req",
        r#"get: "/v1/x""#,
        "`GET /v1/x`: a client-streaming method needs a `body` (the stream of request messages)",
    );
}

#[test]
fn bidi_streaming_without_body() {
    case(
        "bidi_stream",
        "stream Req) returns (stream Req",
        r#"post: "/v1/x""#,
        "`POST /v1/x`: a client-streaming method needs a `body` (the stream of request messages)",
    );
}

#[test]
fn two_double_wildcards() {
    case(
        "two_multis",
        UNARY,
        r#"get: "/v1/{id=**}/x/**""#,
        "only one `**`",
    );
}

#[test]
fn bad_template_names_position() {
    case("bad_template", UNARY, r#"get: "/v1/{id""#, "at byte 7");
}

#[test]
fn nested_additional_bindings() {
    case(
        "nested_additional",
        UNARY,
        r#"get: "/v1/x/{id}" additional_bindings { get: "/v2/x/{id}" additional_bindings { get: "/v3/x/{id}" } }"#,
        "only one level",
    );
}

#[test]
fn unknown_path_field() {
    case(
        "unknown_path_field",
        UNARY,
        r#"get: "/v1/x/{nope}""#,
        "bad.v1.Req has no field `nope`",
    );
}

#[test]
fn repeated_path_field() {
    case(
        "repeated_path_field",
        UNARY,
        r#"get: "/v1/x/{tags}""#,
        "must name a singular scalar",
    );
}

#[test]
fn message_path_field() {
    case(
        "message_path_field",
        UNARY,
        r#"get: "/v1/x/{inner}""#,
        "must name a singular scalar",
    );
}

#[test]
fn path_through_repeated_or_scalar() {
    case(
        "path_through_scalar",
        UNARY,
        r#"get: "/v1/x/{id.name}""#,
        "cannot be traversed",
    );
}

#[test]
fn unknown_body_field() {
    case(
        "unknown_body",
        UNARY,
        r#"post: "/v1/x" body: "nope""#,
        "body: bad.v1.Req has no field `nope`",
    );
}

#[test]
fn nested_body_field() {
    case(
        "nested_body",
        UNARY,
        r#"post: "/v1/x" body: "inner.name""#,
        "must be a top-level field",
    );
}

#[test]
fn unknown_response_body() {
    case(
        "unknown_response_body",
        UNARY,
        r#"get: "/v1/x" response_body: "nope""#,
        "response_body: bad.v1.Req has no field `nope`",
    );
}

#[test]
fn missing_pattern() {
    case("no_pattern", UNARY, r#"body: "*""#, "sets no pattern");
}

#[test]
fn duplicate_templates_across_services() {
    let a = r#"syntax = "proto3";
package dup.v1;
import "google/api/annotations.proto";
message Req { string id = 1; string name = 2; }
service AService {
  rpc First(Req) returns (Req) { option (google.api.http) = { get: "/v1/things/{id}" }; }
}
"#;
    let b = r#"syntax = "proto3";
package dup.v1;
import "google/api/annotations.proto";
import "a.proto";
service BService {
  rpc Second(Req) returns (Req) { option (google.api.http) = { get: "/v1/things/{name}" }; }
}
"#;
    let err = generate("duplicate", &[("a.proto", a), ("b.proto", b)]);
    assert_names(
        &err,
        "b.proto",
        "dup.v1.BService",
        "Second",
        "dup.v1.AService/First",
    );
}

#[test]
fn same_template_other_method_is_fine() {
    let ok = r#"syntax = "proto3";
package fine.v1;
import "google/api/annotations.proto";
message Req { string id = 1; }
service FineService {
  rpc Get(Req) returns (Req) { option (google.api.http) = { get: "/v1/things/{id}" }; }
  rpc Delete(Req) returns (Req) { option (google.api.http) = { delete: "/v1/things/{id}" }; }
}
"#;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("errors/fine");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("fine.proto"), ok).expect("written");
    let api = build_support::Generator::new()
        .proto_dir(&dir)
        .model()
        .expect("GET and DELETE on one template are distinct routes");
    assert_eq!(api.services[0].methods.len(), 2);
}

/// `BadService.Do`, bound to `POST /v1/x`, declaring the headers `headers` (option bodies).
fn with_headers(headers: &[&str]) -> String {
    let options: String = headers
        .iter()
        .map(|h| format!("\n    option (gateway.v1.header) = {{ {h} }};"))
        .collect();
    format!(
        r#"syntax = "proto3";
package bad.v1;
import "gateway/v1/headers.proto";
import "google/api/annotations.proto";
message Req {{ string id = 1; }}
service BadService {{
  rpc Do(Req) returns (Req) {{
    option (google.api.http) = {{ post: "/v1/x" body: "*" }};{options}
  }}
}}
"#
    )
}

fn header_case(name: &str, headers: &[&str], what: &str) {
    let file = format!("{name}.proto");
    let err = generate(name, &[(&file, &with_headers(headers))]);
    assert_names(&err, &file, "bad.v1.BadService", "Do", what);
}

#[test]
fn header_name_with_a_space() {
    header_case(
        "header_space",
        &[r#"name: "Idempotency Key""#],
        "`(gateway.v1.header)` `Idempotency Key` is not a valid HTTP header name",
    );
}

#[test]
fn header_name_with_a_colon() {
    header_case(
        "header_colon",
        &[r#"name: ":authority""#],
        "is not a valid HTTP header name",
    );
}

#[test]
fn header_without_a_name() {
    header_case(
        "header_unnamed",
        &[r#"description: "no name""#],
        "`(gateway.v1.header)` needs a `name`",
    );
}

#[test]
fn reserved_headers() {
    for (case, name, what) in [
        (
            "header_content_type",
            "Content-Type",
            "`Content-Type` is reserved",
        ),
        (
            "header_authorization",
            "Authorization",
            "`Authorization` is reserved",
        ),
        ("header_host", "host", "`host` is reserved"),
        (
            "header_connection",
            "Connection",
            "`Connection` is reserved",
        ),
        ("header_te", "TE", "`TE` is reserved"),
        (
            "header_grpc",
            "Grpc-Timeout",
            "`Grpc-*` headers belong to the gRPC transport",
        ),
        ("header_bin", "X-Trace-Bin", "binary gRPC metadata"),
    ] {
        header_case(case, &[&format!(r#"name: "{name}""#)], what);
    }
}

#[test]
fn header_declared_twice() {
    header_case(
        "header_twice",
        &[r#"name: "X-Tenant""#, r#"name: "x-tenant""#],
        "`x-tenant` is declared twice",
    );
}

#[test]
fn header_on_an_unbound_method() {
    let proto = r#"syntax = "proto3";
package bad.v1;
import "gateway/v1/headers.proto";
message Req { string id = 1; }
service BadService {
  rpc Do(Req) returns (Req) {
    option (gateway.v1.header) = { name: "X-Tenant" };
  }
}
"#;
    let err = generate("header_unbound", &[("header_unbound.proto", proto)]);
    assert_names(
        &err,
        "header_unbound.proto",
        "bad.v1.BadService",
        "Do",
        "needs a `google.api.http` binding",
    );
}

#[test]
fn declared_headers_reach_the_model_and_the_table() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("errors/header_ok");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("ok.proto"),
        with_headers(&[
            r#"name: "Idempotency-Key" description: " Runs once. " required: true"#,
            r#"name: "X-Tenant""#,
        ]),
    )
    .expect("written");
    let generator = build_support::Generator::new().proto_dir(&dir);
    let api = generator.model().expect("valid headers");
    let headers = &api.services[0].methods[0].headers;
    assert_eq!(headers.len(), 2);
    assert_eq!(headers[0].name, "Idempotency-Key");
    assert_eq!(headers[0].description.as_deref(), Some("Runs once."));
    assert!(headers[0].required);
    assert_eq!(headers[1].name, "X-Tenant");
    assert_eq!(headers[1].description, None);
    assert!(!headers[1].required);
    let table = generator.route_table().expect("a table");
    let names: Vec<&str> = table.routes[0].headers.iter().map(|h| &*h.name).collect();
    assert_eq!(names, ["idempotency-key", "x-tenant"]);
}

/// `bad.v1.BadService.Do` with the given signature, bound to `binding`, with the option body
/// `event_stream` for `(gateway.v1.event_stream)`.
fn with_event_stream(signature: &str, binding: &str, event_stream: &str) -> String {
    format!(
        r#"syntax = "proto3";
package bad.v1;
import "gateway/v1/stream.proto";
import "google/api/annotations.proto";
message Inner {{ string name = 1; int64 seq = 2; }}
message Req {{
  string id = 1;
  repeated string tags = 2;
  Inner inner = 3;
  map<string, string> labels = 4;
  int64 after = 5;
  bool flag = 6;
  double ratio = 7;
}}
service BadService {{
  rpc Do({signature}) {{
    option (google.api.http) = {{ {binding} }};
    option (gateway.v1.event_stream) = {{ {event_stream} }};
  }}
}}
"#
    )
}

const SERVER_STREAM: &str = "Req) returns (stream Req";

fn event_stream_case(name: &str, signature: &str, binding: &str, option: &str, what: &str) {
    let file = format!("{name}.proto");
    let err = generate(
        name,
        &[(&file, &with_event_stream(signature, binding, option))],
    );
    assert_names(&err, &file, "bad.v1.BadService", "Do", what);
}

#[test]
fn event_stream_on_a_unary_method() {
    event_stream_case(
        "event_stream_unary",
        UNARY,
        r#"get: "/v1/x""#,
        r#"id_field: "after""#,
        "`(gateway.v1.event_stream)` is only allowed on a server-streaming method",
    );
}

#[test]
fn event_stream_fields_must_exist() {
    event_stream_case(
        "event_stream_no_id_field",
        SERVER_STREAM,
        r#"get: "/v1/x""#,
        r#"id_field: "sequence""#,
        "`(gateway.v1.event_stream)` `id_field` `sequence`: bad.v1.Req has no field `sequence`",
    );
    event_stream_case(
        "event_stream_no_resume_field",
        SERVER_STREAM,
        r#"get: "/v1/x""#,
        r#"resume_field: "inner.nope""#,
        "`(gateway.v1.event_stream)` `resume_field` `inner.nope`: bad.v1.Inner has no field `nope`",
    );
}

#[test]
fn event_stream_fields_must_be_singular_integers_or_strings() {
    for (case, option, field) in [
        (
            "event_stream_repeated",
            r#"id_field: "tags""#,
            "`id_field` `tags`",
        ),
        (
            "event_stream_message",
            r#"id_field: "inner""#,
            "`id_field` `inner`",
        ),
        (
            "event_stream_map",
            r#"resume_field: "labels""#,
            "`resume_field` `labels`",
        ),
        (
            "event_stream_bool",
            r#"resume_field: "flag""#,
            "`resume_field` `flag`",
        ),
        (
            "event_stream_double",
            r#"id_field: "ratio""#,
            "`id_field` `ratio`",
        ),
    ] {
        event_stream_case(
            case,
            SERVER_STREAM,
            r#"get: "/v1/x""#,
            option,
            &format!("{field} must name a singular integer or string field of bad.v1.Req"),
        );
    }
}

#[test]
fn event_stream_resume_field_bound_by_the_path() {
    event_stream_case(
        "event_stream_resume_in_path",
        SERVER_STREAM,
        r#"get: "/v1/x" additional_bindings { get: "/v1/x/{after}" }"#,
        r#"id_field: "inner.seq" resume_field: "after""#,
        "`resume_field` `after` is bound by the path of `GET /v1/x/{after}`",
    );
}

#[test]
fn event_stream_resume_field_on_a_client_stream() {
    event_stream_case(
        "event_stream_resume_client_stream",
        "stream Req) returns (stream Req",
        r#"post: "/v1/x" body: "*""#,
        r#"resume_field: "after""#,
        "`resume_field` is not allowed on a client-streaming method",
    );
}

#[test]
fn event_stream_without_fields() {
    event_stream_case(
        "event_stream_empty",
        SERVER_STREAM,
        r#"get: "/v1/x""#,
        "",
        "sets neither `id_field` nor `resume_field`",
    );
}

#[test]
fn event_streams_reach_the_model_and_the_table() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("errors/event_stream_ok");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("ok.proto"),
        with_event_stream(
            SERVER_STREAM,
            r#"get: "/v1/x/{id}""#,
            r#"id_field: "inner.seq" resume_field: "after""#,
        ),
    )
    .expect("written");
    let generator = build_support::Generator::new().proto_dir(&dir);
    let api = generator.model().expect("a valid event stream");
    let event_stream = api.services[0].methods[0]
        .event_stream
        .as_ref()
        .expect("the option is in the model");
    assert_eq!(
        event_stream.id_field.as_ref().map(|f| f.path.join(".")),
        Some("inner.seq".to_owned())
    );
    let table = generator.route_table().expect("a table");
    let spec = table.routes[0]
        .event_stream
        .as_ref()
        .expect("the option is in the table");
    assert_eq!(spec.id_field.as_ref(), ["inner", "seq"]);
    assert_eq!(spec.resume_field.as_ref(), ["after"]);
}

#[test]
fn header_pattern_that_does_not_compile() {
    header_case(
        "header_pattern",
        &[r#"name: "Idempotency-Key" pattern: "^[a-" "#],
        "`(gateway.v1.header)` `Idempotency-Key`: pattern `^[a-` does not compile",
    );
}
