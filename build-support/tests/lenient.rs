//! Lenient mode (`Generator::strict(false)`): what the gateway cannot serve is left out with a
//! warning naming the file, service, method and reason, and everything else is generated. Strict
//! mode, the default, fails on the same input. And the one departure from http.proto the
//! generator accepts in both modes: `**` followed by more segments, with a warning.

use std::path::PathBuf;

use build_support::{Generator, WarningKind};

/// Writes `files` (name, body) into a fresh directory; a generator reading all of them.
fn write(case: &str, files: &[(&str, &str)]) -> Generator {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("lenient")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("fixture dir");
        std::fs::write(&path, body).expect("fixture written");
    }
    Generator::new().proto_dir(&dir)
}

/// A service with good methods (unary, client and bidirectional streaming) and bindings the
/// gateway cannot serve.
const MIXED: &str = r#"syntax = "proto3";
package mixed.v1;
import "google/api/annotations.proto";
message Req { string id = 1; repeated string tags = 2; }
service MixedService {
  rpc Good(Req) returns (Req) {
    option (google.api.http) = {
      get: "/v1/good/{id}"
      additional_bindings { get: "/v1/good/{tags}" }
      additional_bindings { post: "/v1/good" body: "*" }
    };
  }
  rpc Upload(stream Req) returns (Req) {
    option (google.api.http) = { post: "/v1/upload" body: "*" additional_bindings { put: "/v1/upload" body: "*" } };
  }
  rpc Chat(stream Req) returns (stream Req) {
    option (google.api.http) = { post: "/v1/chat" body: "*" };
  }
  rpc BadTemplate(Req) returns (Req) {
    option (google.api.http) = { get: "/v1/{id" };
  }
}
"#;

#[test]
fn strict_mode_fails_on_the_first_problem() {
    let err = write("strict", &[("mixed.proto", MIXED)])
        .model()
        .expect_err("strict is the default");
    let text = err.to_string();
    for part in ["mixed.proto", "mixed.v1.MixedService", "Good", "tags"] {
        assert!(text.contains(part), "`{text}` should mention `{part}`");
    }
}

#[test]
fn lenient_mode_leaves_out_what_cannot_be_served_and_says_why() {
    let output = write("lenient", &[("mixed.proto", MIXED)])
        .strict(false)
        .openapi_out("unused")
        .generate()
        .expect("lenient mode generates the rest");
    // `Good`: its rule and the POST binding (the repeated path field is left out); `Upload`'s
    // two bindings and `Chat`'s one: streamed requests are served.
    assert_eq!(output.routes, 5);
    let summary: Vec<(WarningKind, &str, usize)> = output
        .warnings
        .iter()
        .map(|w| (w.kind, w.method.as_str(), w.omitted))
        .collect();
    assert_eq!(
        summary,
        vec![
            (WarningKind::InvalidBinding, "Good", 1),
            (WarningKind::InvalidBinding, "BadTemplate", 1),
        ]
    );
    for warning in &output.warnings {
        assert_eq!(warning.file, "mixed.proto");
        assert_eq!(warning.service, "mixed.v1.MixedService");
        let text = warning.to_string();
        assert!(
            text.starts_with(&format!(
                "mixed.proto: mixed.v1.MixedService.{}: ",
                warning.method
            )),
            "{text}"
        );
        assert!(text.contains("left out"), "{text}");
    }
    assert!(output.warnings[0].message.contains("`tags`"));
    assert!(output.warnings[1].message.contains("invalid path template"));
    // The document has exactly what is served.
    let json = output
        .files
        .iter()
        .find(|f| f.path.ends_with("openapi.json"))
        .expect("openapi.json");
    let doc: serde_json::Value = serde_json::from_slice(&json.contents).expect("JSON");
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    assert_eq!(
        paths,
        ["/v1/chat", "/v1/good", "/v1/good/{id}", "/v1/upload"]
    );
}

#[test]
fn identical_routes_in_two_services_keep_the_first() {
    let a = r#"syntax = "proto3";
package dup.v1;
import "google/api/annotations.proto";
message Req { string parent = 1; }
service AService {
  rpc Create(Req) returns (Req) { option (google.api.http) = { post: "/v1/{parent=stores/*}/sessions" body: "*" }; }
}
service BService {
  rpc Create(Req) returns (Req) { option (google.api.http) = { post: "/v1/{parent=stores/*}/sessions" body: "*" }; }
  rpc Get(Req) returns (Req) { option (google.api.http) = { get: "/v1/{parent=stores/*}/sessions" }; }
}
"#;
    let generator = write("duplicate", &[("a.proto", a)]);
    let err = generator.model().expect_err("strict fails");
    assert!(err.to_string().contains("dup.v1.AService/Create"), "{err}");
    let api = generator.strict(false).model().expect("lenient generates");
    let bound: Vec<(&str, &str)> = api
        .services
        .iter()
        .flat_map(|s| {
            s.methods
                .iter()
                .map(move |m| (s.name.as_str(), m.name.as_str()))
        })
        .collect();
    assert_eq!(bound, [("AService", "Create"), ("BService", "Get")]);
    assert_eq!(api.warnings.len(), 1);
    let warning = &api.warnings[0];
    assert_eq!(warning.kind, WarningKind::DuplicateRoute);
    assert_eq!(
        (warning.service.as_str(), warning.method.as_str()),
        ("dup.v1.BService", "Create")
    );
    assert!(
        warning.message.contains("dup.v1.AService/Create"),
        "{warning}"
    );
}

#[test]
fn double_wildcard_followed_by_segments_is_served_with_a_warning() {
    let proto = r#"syntax = "proto3";
package docs.v1;
import "google/api/annotations.proto";
message ListRequest { string parent = 1; string collection_id = 2; int32 page_size = 3; }
message GetRequest { string name = 1; }
message Doc { string name = 1; }
service Docs {
  rpc List(ListRequest) returns (Doc) {
    option (google.api.http) = { get: "/v1/{parent=docs/*/**}/{collection_id}" };
  }
  rpc Get(GetRequest) returns (Doc) {
    option (google.api.http) = { get: "/v1/{name=docs/*/**}" };
  }
}
"#;
    // Strict mode too: a note, not a failure.
    let output = write("inner_multi", &[("docs.proto", proto)])
        .openapi_out("unused")
        .generate()
        .expect("served");
    assert_eq!(output.routes, 2);
    assert_eq!(output.warnings.len(), 1);
    let warning = &output.warnings[0];
    assert_eq!(warning.kind, WarningKind::InnerDoubleWildcard);
    assert_eq!(warning.omitted, 0);
    assert_eq!(
        (
            warning.file.as_str(),
            warning.service.as_str(),
            warning.method.as_str()
        ),
        ("docs.proto", "docs.v1.Docs", "List")
    );
    assert!(warning.message.contains("http.proto"), "{warning}");
    let json = output
        .files
        .iter()
        .find(|f| f.path.ends_with("openapi.json"))
        .expect("openapi.json");
    let doc: serde_json::Value = serde_json::from_slice(&json.contents).expect("JSON");
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    assert_eq!(
        paths,
        [
            "/v1/docs/{doc}/{name_path}",
            "/v1/docs/{doc}/{parent_path}/{collection_id}"
        ]
    );
}
