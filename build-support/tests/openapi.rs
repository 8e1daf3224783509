//! The OpenAPI document on shapes the googleapis corpus showed broken: well-known types wherever
//! they occur (no `$ref` to a schema that does not exist), one path item per URL whatever the
//! bindings call their variables, and the generator's error schema next to an API's own
//! `google.rpc.Status`.

use std::path::PathBuf;

use serde_json::{Value, json};

/// Generates the document for `files` (name, body) written into a fresh directory.
fn document(case: &str, files: &[(&str, &str)]) -> Value {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("openapi")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("fixture dir");
        std::fs::write(&path, body).expect("fixture written");
    }
    let output = build_support::Generator::new()
        .proto_dir(&dir)
        .files(
            files
                .iter()
                .map(|(name, _)| *name)
                .filter(|n| !n.starts_with("google/")),
        )
        .openapi_out("unused")
        .generate()
        .expect("generates");
    let json = output
        .files
        .iter()
        .find(|f| f.path.ends_with("openapi.json"))
        .expect("openapi.json");
    serde_json::from_slice(&json.contents).expect("JSON")
}

/// Every `$ref` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Asserts every `$ref` of `doc` points at something in it.
fn assert_no_dangling_refs(doc: &Value) {
    let mut found = Vec::new();
    refs(doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "dangling `{target}`");
    }
}

#[test]
fn well_known_types_are_inlined_wherever_they_occur() {
    let proto = r#"syntax = "proto3";
package library.v1;
import "google/api/annotations.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/struct.proto";
message DeleteShelfRequest { string name = 1; }
message Shelf { string name = 1; google.protobuf.Empty marker = 2; repeated google.protobuf.Struct data = 3; }
service Library {
  rpc DeleteShelf(DeleteShelfRequest) returns (google.protobuf.Empty) {
    option (google.api.http) = { delete: "/v1/{name=shelves/*}" };
  }
  rpc Ping(google.protobuf.Empty) returns (google.protobuf.Empty) {
    option (google.api.http) = { post: "/v1/ping" body: "*" };
  }
  rpc Raw(google.protobuf.Struct) returns (Shelf) {
    option (google.api.http) = { post: "/v1/raw" body: "*" };
  }
}
"#;
    let doc = document("well_known", &[("library.proto", proto)]);
    assert_no_dangling_refs(&doc);
    let ok = |path: &str, method: &str| {
        doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
            .clone()
    };
    let body = |path: &str| {
        doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    assert_eq!(
        ok("/v1/shelves/{shelf}", "delete"),
        // Empty is read as an ordinary message: no field is accepted.
        json!({"type": "object", "additionalProperties": false})
    );
    let empty = json!({"type": "object", "additionalProperties": false});
    assert_eq!(ok("/v1/ping", "post"), empty);
    assert_eq!(body("/v1/ping"), empty);
    assert_eq!(body("/v1/raw")["additionalProperties"], json!(true));
    let shelf = &doc["components"]["schemas"]["library.v1.Shelf"]["properties"];
    assert_eq!(shelf["marker"]["type"], "object");
    assert_eq!(shelf["data"]["items"]["type"], "object");
}

#[test]
fn bindings_of_one_url_share_a_path_item_and_its_parameter_names() {
    let proto = r#"syntax = "proto3";
package feeds.v1;
import "google/api/annotations.proto";
message Feed { string name = 1; string title = 2; }
message GetFeedRequest { string name = 1; }
message UpdateFeedRequest { Feed feed = 1; }
service Feeds {
  rpc GetFeed(GetFeedRequest) returns (Feed) {
    option (google.api.http) = { get: "/v1/{name=*/*/feeds/*}" };
  }
  rpc UpdateFeed(UpdateFeedRequest) returns (Feed) {
    option (google.api.http) = { patch: "/v1/{feed.name=*/*/feeds/*}" body: "feed" };
  }
  rpc DeleteFeed(GetFeedRequest) returns (Feed) {
    option (google.api.http) = { delete: "/v1/{name=projects/*/feeds/*}" };
  }
}
"#;
    let doc = document("one_path_item", &[("feeds.proto", proto)]);
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    assert_eq!(
        paths,
        [
            "/v1/projects/{project}/feeds/{feed}",
            "/v1/{name_1}/{name_2}/feeds/{feed}"
        ]
    );
    let item = &doc["paths"]["/v1/{name_1}/{name_2}/feeds/{feed}"];
    for method in ["get", "patch"] {
        let names: Vec<&str> = item[method]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(names, ["name_1", "name_2", "feed"], "{method}");
    }
    // Each operation still says which field its segments fill.
    let patch_first = &item["patch"]["parameters"][0]["description"];
    assert!(
        patch_first.as_str().expect("text").contains("`feed.name`"),
        "{patch_first}"
    );
}

#[test]
fn an_apis_own_google_rpc_status_keeps_its_schema() {
    let status = r#"syntax = "proto3";
package google.rpc;
import "google/protobuf/any.proto";
// The proto's own status.
message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
"#;
    let proto = r#"syntax = "proto3";
package ops.v1;
import "google/api/annotations.proto";
import "google/rpc/status.proto";
message GetRequest { string name = 1; }
message Operation { string name = 1; google.rpc.Status error = 2; }
service Ops {
  rpc Get(GetRequest) returns (Operation) { option (google.api.http) = { get: "/v1/{name=operations/*}" }; }
}
"#;
    let doc = document(
        "status",
        &[("google/rpc/status.proto", status), ("ops.proto", proto)],
    );
    assert_no_dangling_refs(&doc);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["google.rpc.Status"]["description"],
        "The proto's own status."
    );
    assert_eq!(
        schemas["gateway.v1.Status"]["required"],
        json!(["code", "message"])
    );
    assert_eq!(
        doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/gateway.v1.Status"
    );
    assert_eq!(
        schemas["ops.v1.Operation"]["properties"]["error"]["$ref"],
        "#/components/schemas/google.rpc.Status"
    );
}

/// A server stream answers newline-delimited JSON or Server-Sent Events; both are documented on
/// its 200 response, with the event ids, heartbeats and error event, and a method with a resume
/// field takes `Last-Event-ID`.
#[test]
fn server_streams_document_both_framings_and_the_resume_header() {
    let proto = r#"syntax = "proto3";
package feed.v1;
import "google/api/annotations.proto";
import "gateway/v1/stream.proto";
message WatchRequest { string topic = 1; uint64 after = 2; }
message Item { uint64 sequence = 1; string text = 2; }
service FeedService {
  rpc Watch(WatchRequest) returns (stream Item) {
    option (google.api.http) = { get: "/v1/topics/{topic}:watch" };
    option (gateway.v1.event_stream) = { id_field: "sequence" resume_field: "after" };
  }
  rpc Tail(WatchRequest) returns (stream Item) {
    option (google.api.http) = { get: "/v1/topics/{topic}:tail" };
  }
  rpc Get(WatchRequest) returns (Item) {
    option (google.api.http) = { get: "/v1/topics/{topic}" };
  }
}
"#;
    let doc = document("event_stream", &[("feed/v1/feed.proto", proto)]);
    let item = json!({"$ref": "#/components/schemas/feed.v1.Item"});
    for (path, ids) in [
        (
            "/v1/topics/{topic}:watch",
            "the id is the message's `sequence`",
        ),
        (
            "/v1/topics/{topic}:tail",
            "the id is the message's 1-based position in the response",
        ),
    ] {
        let ok = &doc["paths"][path]["get"]["responses"]["200"];
        let content = ok["content"].as_object().expect("content");
        assert_eq!(
            content.keys().collect::<Vec<_>>(),
            ["application/x-ndjson", "text/event-stream"],
            "{path}"
        );
        assert_eq!(content["application/x-ndjson"]["schema"], item, "{path}");
        assert_eq!(content["text/event-stream"]["schema"], item, "{path}");
        let description = ok["description"].as_str().expect("description");
        for part in [
            "one JSON value per line",
            "`id: <id>` then `data: <the JSON value, on one line>`",
            ids,
            "`: keep-alive` comment",
            "`event: error` whose `data` is the `gateway.v1.Status` error body",
        ] {
            assert!(
                description.contains(part),
                "{path}: `{part}` in {description}"
            );
        }
    }
    let header = |path: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == "Last-Event-ID")
            .cloned()
    };
    let resume = header("/v1/topics/{topic}:watch").expect("a Last-Event-ID parameter");
    assert_eq!(resume["in"], "header");
    assert_eq!(resume["required"], false);
    assert_eq!(
        resume["schema"],
        json!({"type": "string", "format": "uint64", "pattern": "^(?:0|[1-9][0-9]{0,18}|1[0-7][0-9]{18}|18[0-3][0-9]{17}|184[0-3][0-9]{16}|1844[0-5][0-9]{15}|18446[0-6][0-9]{14}|184467[0-3][0-9]{13}|1844674[0-3][0-9]{12}|184467440[0-6][0-9]{10}|1844674407[0-2][0-9]{9}|18446744073[0-6][0-9]{8}|1844674407370[0-8][0-9]{6}|18446744073709[0-4][0-9]{5}|184467440737095[0-4][0-9]{4}|18446744073709550[0-9]{3}|18446744073709551[0-5][0-9]{2}|1844674407370955160[0-9]|1844674407370955161[0-5])$"})
    );
    assert!(
        resume["description"]
            .as_str()
            .is_some_and(|d| d.contains("sets the request's `after`")),
        "{resume}"
    );
    assert_eq!(header("/v1/topics/{topic}:tail"), None);
    // A unary answer is plain JSON.
    let unary = &doc["paths"]["/v1/topics/{topic}"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        unary
            .as_object()
            .expect("content")
            .keys()
            .collect::<Vec<_>>(),
        ["application/json"]
    );
    assert_no_dangling_refs(&doc);
}

/// What the gateway accepts: closed message objects (under their proto names), integer ranges,
/// and `buf.validate` rules on query parameters.
#[test]
fn schemas_state_exactly_what_the_gateway_reads() {
    let proto = r#"syntax = "proto3";
package shop.v1;
import "google/api/annotations.proto";
import "google/protobuf/struct.proto";
import "buf/validate/validate.proto";
service Shop {
  rpc List(ListRequest) returns (Item) {
    option (google.api.http) = { get: "/v1/items" };
  }
}
message ListRequest {
  int32 page_size = 1 [(buf.validate.field).int32 = {gte: 0, lte: 100}];
  int64 after_id = 2 [(buf.validate.field).int64.gt = 0];
  uint32 limit = 3;
}
message Item {
  string name = 1;
  int64 item_id = 2;
  google.protobuf.Struct extra = 3;
}
"#;
    let doc = document("exact", &[("shop.proto", proto)]);
    assert_no_dangling_refs(&doc);
    let params = doc["paths"]["/v1/items"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .clone();
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"].clone())
            .expect("a parameter")
    };
    // The rule narrows the type's range.
    assert_eq!(param("page_size")["minimum"], 0);
    assert_eq!(param("page_size")["maximum"], 100);
    assert_eq!(param("limit")["minimum"], 0);
    assert_eq!(param("limit")["maximum"], 4294967295_u64);
    let pattern = param("after_id")["pattern"]
        .as_str()
        .expect("a pattern")
        .to_owned();
    let re = regex::Regex::new(&pattern).expect("compiles");
    assert!(re.is_match("1") && re.is_match("9223372036854775807"));
    for bad in [
        "0",
        "-1",
        "9223372036854775808",
        "105443190856526047299870",
        "01",
    ] {
        assert!(!re.is_match(bad), "{bad}");
    }

    let item = &doc["components"]["schemas"]["shop.v1.Item"];
    assert_eq!(item["additionalProperties"], false);
    assert_eq!(item.get("patternProperties"), None);
    // Struct stays open.
    assert_eq!(item["properties"]["extra"]["additionalProperties"], true);
}
