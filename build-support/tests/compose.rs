//! `gateway.v1.compose`: every composition the generator must reject is an error naming the
//! proto file, the service and the method; a valid one reaches the model.

use std::path::PathBuf;

/// A proto the fixtures import but do not generate from: its service is no upstream of theirs.
const IMPORTED: &str = r#"syntax = "proto3";
package imported.v1;
import "google/api/annotations.proto";
message GetUserRequest { string id = 1; }
message User { string id = 1; }
service UserService {
  rpc GetUser(GetUserRequest) returns (User) {
    option (google.api.http) = { get: "/v1/imported/users/{id}" };
  }
}
"#;

fn write(case: &str, files: &[(&str, &str)]) -> build_support::Generator {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("compose")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    let imported = ("imported/v1/imported.proto", IMPORTED);
    for (name, body) in files.iter().chain([&imported]) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("fixture dir");
        std::fs::write(&path, body).expect("fixture written");
    }
    build_support::Generator::new()
        .proto_dir(&dir)
        .files(files.iter().map(|(name, _)| *name))
}

/// A user service, and a gateway-implemented `ViewService.View` whose options are `options`
/// (the `google.api.http` binding and the composition).
fn proto(service_options: &str, options: &str) -> String {
    format!(
        r#"syntax = "proto3";
package comp.v1;
import "gateway/v1/compose.proto";
import "google/api/annotations.proto";
import "imported/v1/imported.proto";
message User {{ string id = 1; }}
message GetUserRequest {{ string id = 1; int64 number = 2; }}
message GetUserResponse {{ User user = 1; }}
message ViewRequest {{ string user_id = 1; int64 n = 2; }}
message ViewResponse {{ User user = 1; GetUserResponse whole = 2; string name = 3; User other = 4; }}
service UserService {{
  rpc GetUser(GetUserRequest) returns (GetUserResponse) {{
    option (google.api.http) = {{ get: "/v1/users/{{id}}" }};
  }}
  rpc Internal(GetUserRequest) returns (GetUserResponse);
  rpc Watch(GetUserRequest) returns (stream GetUserResponse);
}}
service ViewService {{
  {service_options}
  rpc View(ViewRequest) returns (ViewResponse) {{
    {options}
  }}
}}
"#
    )
}

const GATEWAY: &str = "option (gateway.v1.gateway_implemented) = true;";
const HTTP: &str = r#"option (google.api.http) = { get: "/v1/views/{user_id}" };"#;

/// `View` with the HTTP binding and these parts.
fn composed(parts: &str) -> String {
    proto(
        GATEWAY,
        &format!("{HTTP}\n    option (gateway.v1.compose) = {{ {parts} }};"),
    )
}

/// One part filling `field` from `method`, mapping `user_id` to `to` and taking `take`.
fn part(field: &str, method: &str, from: &str, to: &str, take: &str) -> String {
    format!(
        r#"parts {{ field: "{field}" method: "{method}" request {{ from: "{from}" to: "{to}" }} take: "{take}" }}"#
    )
}

#[track_caller]
fn rejects(case: &str, body: &str, what: &str) {
    let err = write(case, &[("view.proto", body)])
        .model()
        .expect_err(case)
        .to_string();
    for part in ["view.proto", "comp.v1.ViewService", "View", what] {
        assert!(err.contains(part), "`{err}` should mention `{part}`");
    }
}

const GET_USER: &str = "comp.v1.UserService.GetUser";

#[test]
fn a_valid_composition_reaches_the_model() {
    let parts = [
        part("user", GET_USER, "user_id", "id", "user"),
        part("whole", "comp.v1.UserService.Internal", "n", "number", ""),
        r#"parts { field: "other" method: "comp.v1.UserService.GetUser" take: "user" optional: true }"#
            .to_owned(),
    ];
    let api = write("valid", &[("view.proto", &composed(&parts.join(" ")))])
        .model()
        .expect("the composition is valid");
    let view = api
        .services
        .iter()
        .find(|s| s.full_name == "comp.v1.ViewService")
        .expect("the gateway-implemented service is bound");
    assert!(view.gateway_implemented);
    let compose = view.methods[0].compose.as_ref().expect("composed");
    let fields: Vec<&str> = compose
        .parts
        .iter()
        .map(|p| p.field.path[0].as_str())
        .collect();
    assert_eq!(fields, ["user", "whole", "other"]);
    assert_eq!(compose.parts[0].grpc_path, "/comp.v1.UserService/GetUser");
    assert_eq!(compose.parts[0].request[0].from, ["user_id"]);
    assert_eq!(compose.parts[0].request[0].to, ["id"]);
    assert!(compose.parts[1].take.is_empty(), "the whole response");
    assert!(compose.parts[2].optional && compose.parts[2].request.is_empty());
}

#[test]
fn unknown_method() {
    rejects(
        "unknown_method",
        &composed(&part(
            "user",
            "comp.v1.UserService.Nope",
            "user_id",
            "id",
            "user",
        )),
        "compose part `user`: no method `comp.v1.UserService.Nope`",
    );
}

#[test]
fn method_of_an_imported_service_is_unreachable() {
    rejects(
        "imported",
        &composed(&part(
            "user",
            "imported.v1.UserService.GetUser",
            "user_id",
            "id",
            "user",
        )),
        "imported.v1.UserService.GetUser` is not reachable by the gateway",
    );
}

#[test]
fn method_of_a_gateway_implemented_service_is_unreachable() {
    rejects(
        "self",
        &composed(&part(
            "user",
            "comp.v1.ViewService.View",
            "user_id",
            "user_id",
            "user",
        )),
        "comp.v1.ViewService.View` is not reachable by the gateway",
    );
}

#[test]
fn streaming_method() {
    rejects(
        "streaming",
        &composed(&part(
            "user",
            "comp.v1.UserService.Watch",
            "user_id",
            "id",
            "user",
        )),
        "is a streaming method",
    );
}

#[test]
fn missing_request_fields() {
    rejects(
        "from_missing",
        &composed(&part("user", GET_USER, "nope", "id", "user")),
        "request `from: \"nope\"`: comp.v1.ViewRequest has no field `nope`",
    );
    rejects(
        "to_missing",
        &composed(&part("user", GET_USER, "user_id", "nope", "user")),
        "request `to: \"nope\"`: comp.v1.GetUserRequest has no field `nope`",
    );
}

#[test]
fn mismatched_request_field_types() {
    rejects(
        "from_to_types",
        &composed(&part("user", GET_USER, "n", "id", "user")),
        "request field `n` (int64) does not have the type of `id` (string)",
    );
}

#[test]
fn mapped_twice() {
    let body = composed(&format!(
        r#"parts {{ field: "user" method: "{GET_USER}" request {{ from: "user_id" to: "id" }} request {{ from: "user_id" to: "id" }} take: "user" }}"#
    ));
    rejects(
        "mapped_twice",
        &body,
        "`id` of comp.v1.GetUserRequest is mapped twice",
    );
}

#[test]
fn taken_part_must_have_the_field_type() {
    rejects(
        "take_type",
        &composed(&part("name", GET_USER, "user_id", "id", "user")),
        "takes `user` of comp.v1.GetUserResponse (comp.v1.User), but `name` of comp.v1.ViewResponse is string",
    );
    rejects(
        "take_whole_type",
        &composed(&part("user", GET_USER, "user_id", "id", "")),
        "takes the whole comp.v1.GetUserResponse",
    );
    rejects(
        "take_missing",
        &composed(&part("user", GET_USER, "user_id", "id", "nope")),
        "take: comp.v1.GetUserResponse has no field `nope`",
    );
}

#[test]
fn target_field_must_exist_once() {
    rejects(
        "field_missing",
        &composed(&part("nope", GET_USER, "user_id", "id", "user")),
        "compose part `nope`: field: comp.v1.ViewResponse has no field `nope`",
    );
    rejects(
        "field_nested",
        &composed(&part("user.id", GET_USER, "user_id", "id", "user.id")),
        "must name a top-level field of comp.v1.ViewResponse",
    );
    let twice = [
        part("user", GET_USER, "user_id", "id", "user"),
        part("user", GET_USER, "user_id", "id", "user"),
    ];
    rejects(
        "field_twice",
        &composed(&twice.join(" ")),
        "two parts fill the same field",
    );
}

#[test]
fn no_parts() {
    rejects("no_parts", &composed(""), "has no parts");
}

#[test]
fn compose_outside_a_gateway_implemented_service() {
    let options = format!(
        "{HTTP}\n    option (gateway.v1.compose) = {{ {} }};",
        part("user", GET_USER, "user_id", "id", "user")
    );
    rejects(
        "not_gateway",
        &proto("", &options),
        "only allowed in a service marked `(gateway.v1.gateway_implemented) = true`",
    );
}

#[test]
fn gateway_implemented_method_without_compose() {
    rejects(
        "no_compose",
        &proto(GATEWAY, HTTP),
        "every method needs `(gateway.v1.compose)`",
    );
}

#[test]
fn compose_without_an_http_binding() {
    let options = format!(
        "option (gateway.v1.compose) = {{ {} }};",
        part("user", GET_USER, "user_id", "id", "user")
    );
    rejects(
        "no_http",
        &proto(GATEWAY, &options),
        "needs a `google.api.http` binding",
    );
}

#[test]
fn composite_method_cannot_stream() {
    let body = composed(&part("user", GET_USER, "user_id", "id", "user"))
        .replace("returns (ViewResponse)", "returns (stream ViewResponse)");
    rejects(
        "composite_streams",
        &body,
        "a `(gateway.v1.compose)` method cannot stream its response",
    );
}
