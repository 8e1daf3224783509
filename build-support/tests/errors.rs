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
