//! The generator's conformance fixture served by the runtime: every HttpRule feature in
//! `build-support/tests/fixtures/echo/v1/echo.proto`, through the generated (golden) route table,
//! over real sockets to the echo server.

use serde_json::json;

use crate::helpers::{assert_message, golden_request, spawn_golden};

#[tokio::test]
async fn single_variable_and_every_query_kind() {
    let app = spawn_golden().await;
    let query = [
        "name=n",
        "nested.size=3",
        "nested.kind=KIND_LOUD",
        "nested.labels=a",
        "nested.labels=b",
        "nested.child.name=deep",
        "kind=2",
        "tags=x",
        "kinds=KIND_LOUD",
        "kinds=2",
        "count=-9007199254740993",
        "big=18446744073709551615",
        "small=-3",
        "unsignedSmall=4",
        "ratio=0.25",
        "fraction=0.5",
        "flag=true",
        "data=-_8",
        "signed_fixed=-1",
        "unsigned_fixed=2",
        "when=2024-01-01T00:00:00.5Z",
        "timeout=2s",
        "maybeCount=7",
        "maybe_name=mn",
        "maybe_flag=false",
        "maybe_ratio=1.5",
        "update_mask=nested.size,tags",
        "choice_text=c",
        "maybe=m",
        "maybe_data=aGk=",
        "maybe_big=9",
        "created_by=ignored-by-nobody",
        "nonexistent=1",
    ]
    .join("&");
    let response = app.get(&format!("/v1/echo/abc?{query}")).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &golden_request(
            r#"id: "abc" name: "n"
               nested { size: 3 kind: KIND_LOUD labels: ["a", "b"] child { name: "deep" } }
               kind: KIND_QUIET tags: "x" kinds: [KIND_LOUD, KIND_QUIET]
               count: -9007199254740993 big: 18446744073709551615 small: -3 unsigned_small: 4
               ratio: 0.25 fraction: 0.5 flag: true data: "\373\377" signed_fixed: -1 unsigned_fixed: 2
               when { seconds: 1704067200 nanos: 500000000 } timeout { seconds: 2 }
               maybe_count { value: 7 } maybe_name { value: "mn" } maybe_flag { }
               maybe_ratio { value: 1.5 } update_mask { paths: ["nested.size", "tags"] }
               choice_text: "c" maybe: "m" maybe_data { value: "hi" } maybe_big { value: 9 }
               created_by: "ignored-by-nobody""#,
        ),
    );
}

#[tokio::test]
async fn path_shapes() {
    let app = spawn_golden().await;
    for (path, expected) in [
        ("/v1/echo/nested/n%2F1", r#"nested { name: "n/1" }"#),
        (
            "/v1/shelves/s%2F1/books/b%201",
            r#"name: "shelves/s%2F1/books/b 1""#,
        ),
        ("/v1/files/a/b/c.txt", r#"path: "a/b/c.txt""#),
        ("/v1/any/x/echo/7/a/b", r#"id: "7""#),
        ("/v1/any/x/echo/7", r#"id: "7""#),
        (
            "/v1/kinds/KIND_LOUD/at/2024-01-01T00:00:00Z",
            r#"kind: KIND_LOUD when { seconds: 1704067200 }"#,
        ),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status, 200, "{path}: {:?}", response.body);
        assert_message(&app.last_upstream_request(), &golden_request(expected));
    }
}

/// `**` followed by more segments (`/v1/{name=folders/*/**}/items/{id}`): it takes what the
/// rest of the template leaves, nothing included, as Google serves Firestore's
/// `{parent=.../documents/*/**}/{collection_id}`.
#[tokio::test]
async fn double_wildcard_followed_by_segments() {
    let app = spawn_golden().await;
    for (path, expected) in [
        ("/v1/folders/f/items/7", r#"name: "folders/f" id: "7""#),
        (
            "/v1/folders/f/a/b%2Fc/items/7",
            r#"name: "folders/f/a/b%2Fc" id: "7""#,
        ),
        // `items` inside what `**` takes: only the last `items/{id}` is the template's.
        (
            "/v1/folders/f/items/x/items/7",
            r#"name: "folders/f/items/x" id: "7""#,
        ),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status, 200, "{path}: {:?}", response.body);
        assert_message(&app.last_upstream_request(), &golden_request(expected));
    }
    for (path, expected) in [
        ("/v1/boxes/b:open", r#"path: "boxes/b" id: "1""#),
        ("/v1/a/b/boxes/c:open", r#"path: "a/b/boxes/c" id: "1""#),
    ] {
        let response = app.post(path, r#"{"id": "1"}"#).await;
        assert_eq!(response.status, 200, "{path}: {:?}", response.body);
        assert_message(&app.last_upstream_request(), &golden_request(expected));
    }
    // Too few segments for the template: no route.
    assert_eq!(app.get("/v1/folders/f/items").await.status, 404);
    assert_eq!(app.post("/v1/boxes:open", "{}").await.status, 404);
}

#[tokio::test]
async fn bodies_of_every_json_shape() {
    let app = spawn_golden().await;
    let body = json!({
        "id": "1",
        "attributes": {"a": 1, "b": [true, null]},
        "anything": "text",
        "list": [1, "two"],
        "detail": {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "3s"},
        "nothing": {},
        "counters": {"x": "5"},
        "children": {"c": {"name": "kid"}},
        "items": [{"name": "i1"}, {"size": 2}],
        "choiceNumber": 4,
        "maybeRatio": null
    });
    let response = app.post("/v1/echo", &body.to_string()).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let json = response.json();
    assert_eq!(json["attributes"], json!({"a": 1.0, "b": [true, null]}));
    assert_eq!(json["anything"], "text");
    assert_eq!(json["list"], json!([1.0, "two"]));
    assert_eq!(
        json["detail"],
        json!({"@type": "type.googleapis.com/google.protobuf.Duration", "value": "3s"})
    );
    assert_eq!(json["counters"], json!({"x": "5"}));
    assert_eq!(json["children"]["c"]["name"], "kid");
    assert_eq!(json["items"][1]["size"], 2);
    assert_eq!(json["choice_number"], 4);
    let sent = app.last_upstream_request();
    assert!(sent.get_field_by_name("nothing").is_some());
    assert_eq!(
        sent.get_field_by_name("choice_number")
            .expect("set")
            .as_i32(),
        Some(4)
    );
}

#[tokio::test]
async fn verb_with_whole_body() {
    let app = spawn_golden().await;
    let response = app.post("/v1/echo/9:archive", r#"{"name": "n"}"#).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &golden_request(r#"id: "9" name: "n""#),
    );
}

#[tokio::test]
async fn patch_with_body_field_and_update_mask() {
    let app = spawn_golden().await;
    let response = app
        .send(
            "PATCH",
            "/v1/echo/9?update_mask=size&tags=t",
            &[],
            Some(r#"{"size": 2, "kind": "KIND_LOUD"}"#),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &golden_request(
            r#"id: "9" nested { size: 2 kind: KIND_LOUD } tags: "t"
               update_mask { paths: "size" }"#,
        ),
    );
}

#[tokio::test]
async fn patch_without_mask_gets_one_from_the_body_keys() {
    let app = spawn_golden().await;
    let response = app
        .send(
            "PATCH",
            "/v1/echo/9",
            &[],
            Some(r#"{"size": 2, "child": {"name": "c", "kind": 1}}"#),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &golden_request(
            r#"id: "9" nested { size: 2 child { name: "c" kind: KIND_LOUD } }
               update_mask { paths: ["child.kind", "child.name", "size"] }"#,
        ),
    );
}

#[tokio::test]
async fn path_variable_inside_the_body_field() {
    let app = spawn_golden().await;
    let response = app
        .send(
            "PATCH",
            "/v1/shelves/1",
            &[],
            Some(r#"{"size": 2, "name": "ignored"}"#),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let sent = app.last_upstream_request();
    let nested = sent.get_field_by_name("nested").expect("set");
    let nested = nested.as_message().expect("a message");
    assert_eq!(
        nested.get_field_by_name("name").expect("set").as_str(),
        Some("shelves/1")
    );
    assert_eq!(
        nested.get_field_by_name("size").expect("set").as_i32(),
        Some(2)
    );
}

#[tokio::test]
async fn response_body_field() {
    let app = spawn_golden().await;
    let response = app
        .get("/v1/echo/9/nested?nested.name=x&nested.size=1")
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let json = response.json();
    assert_eq!(json["name"], "x");
    assert_eq!(json["size"], 1);
    assert!(json.get("id").is_none());
}

#[tokio::test]
async fn additional_bindings_and_custom_method() {
    let app = spawn_golden().await;
    assert_eq!(
        app.send("DELETE", "/v1/echo/9", &[], None).await.status,
        200
    );
    assert_message(&app.last_upstream_request(), &golden_request(r#"id: "9""#));
    let response = app.post("/v1/echo/9:delete", r#"{"name": "n"}"#).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &golden_request(r#"id: "9" name: "n""#),
    );
    assert_eq!(
        app.send("PUT", "/v1/users/u/echo/9:delete", &[], None)
            .await
            .status,
        200
    );
    assert_message(
        &app.last_upstream_request(),
        &golden_request(r#"id: "9" nested { name: "u" }"#),
    );
    let head = app.send("HEAD", "/v1/echo/h", &[], None).await;
    assert_eq!(head.status, 200);
    assert_message(&app.last_upstream_request(), &golden_request(r#"id: "h""#));
}

#[tokio::test]
async fn known_path_other_method_lists_allowed_methods() {
    let app = spawn_golden().await;
    let response = app.send("PUT", "/v1/echo/9", &[], Some("{}")).await;
    response.assert_status(405, 12);
    let allow = response.header("allow").expect("Allow header");
    for method in ["GET", "PATCH", "DELETE", "HEAD"] {
        assert!(allow.contains(method), "{allow}");
    }
}

#[tokio::test]
async fn server_streaming() {
    let app = spawn_golden().await;
    let response = app.get("/v1/echo/s:stream?count=2").await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let text = String::from_utf8_lossy(&response.body).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in lines {
        let json: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        assert_eq!(json["id"], "s");
        assert_eq!(json["count"], "2");
    }
}
