//! Request building (path, body, query) and response writing.

use crate::helpers::{assert_message, echo_request, spawn_app, spawn_app_with};
use gateway::JsonNames;
use serde_json::json;

#[tokio::test]
async fn nested_path_variables_create_the_sub_message() {
    let app = spawn_app().await;
    let response = app
        .get("/v1/books/shelf%201/titles/Dune%3A%20Part%202")
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &echo_request(r#"book { shelf_id: "shelf 1" title: "Dune: Part 2" }"#),
    );
}

#[tokio::test]
async fn multi_segment_variable_keeps_encoded_slash() {
    let app = spawn_app().await;
    let response = app.get("/v1/shelves/a%2Fb/books/c%20d").await;
    assert_eq!(response.status, 200);
    assert_message(
        &app.last_upstream_request(),
        &echo_request(r#"name: "shelves/a%2Fb/books/c d""#),
    );
}

#[tokio::test]
async fn double_star_captures_the_rest() {
    let app = spawn_app().await;
    assert_eq!(app.get("/v1/files/a/b/c.txt").await.status, 200);
    assert_message(
        &app.last_upstream_request(),
        &echo_request(r#"name: "a/b/c.txt""#),
    );
    assert_eq!(app.get("/v1/files").await.status, 200);
    assert_message(&app.last_upstream_request(), &echo_request(""));
}

#[tokio::test]
async fn verb_is_split_from_the_variable() {
    let app = spawn_app().await;
    let response = app.post("/v1/things/42:archive", r#"{"name": "n"}"#).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &echo_request(r#"id: "42" name: "n""#),
    );
}

#[tokio::test]
async fn path_variables_override_the_body() {
    let app = spawn_app().await;
    app.post("/v1/things/42:archive", r#"{"id": "from-body"}"#)
        .await;
    assert_message(&app.last_upstream_request(), &echo_request(r#"id: "42""#));
}

#[tokio::test]
async fn whole_body_with_every_kind() {
    let app = spawn_app().await;
    let body = json!({
        "id": "1",
        "displayName": "camel",
        "book": {"shelf_id": "s", "title": "t", "pages": "300"},
        "page": {"size": 10, "inner": {"flag": true}},
        "tags": ["a", "b"],
        "color": "COLOR_RED",
        "colors": [2, "COLOR_RED"],
        "big": "-9007199254740993",
        "ubig": 18446744073709551615u64,
        "flag": true,
        "data": "aGk=",
        "at": "2024-01-01T00:00:00Z",
        "ttl": "1.5s",
        "maybe": 7,
        "mask": "a,book.shelfId",
        "ratio": "NaN",
        "labels": {"k": "v"},
        "nums": [1, "2"]
    });
    let response = app.post("/v1/echo", &body.to_string()).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &echo_request(
            r#"id: "1" display_name: "camel"
               book { shelf_id: "s" title: "t" pages: 300 }
               page { size: 10 inner { flag: true } }
               tags: ["a", "b"] color: COLOR_RED colors: [COLOR_GREEN, COLOR_RED]
               big: -9007199254740993 ubig: 18446744073709551615 flag: true data: "hi"
               at { seconds: 1704067200 } ttl { seconds: 1 nanos: 500000000 }
               maybe { value: 7 } mask { paths: ["a", "book.shelf_id"] } ratio: nan
               labels { key: "k" value: "v" } nums: [1, 2]"#,
        ),
    );
    // The echo comes back in the canonical mapping with proto field names.
    let json = response.json();
    assert_eq!(json["display_name"], "camel");
    assert_eq!(json["big"], "-9007199254740993");
    assert_eq!(json["ubig"], "18446744073709551615");
    assert_eq!(json["book"]["pages"], "300");
    assert_eq!(json["color"], "COLOR_RED");
    assert_eq!(json["colors"], json!(["COLOR_GREEN", "COLOR_RED"]));
    assert_eq!(json["data"], "aGk=");
    assert_eq!(json["at"], "2024-01-01T00:00:00Z");
    assert_eq!(json["ttl"], "1.500s");
    assert_eq!(json["maybe"], 7);
    assert_eq!(json["mask"], "a,book.shelfId");
    assert_eq!(json["ratio"], "NaN");
    assert_eq!(json["nums"], json!(["1", "2"]));
}

#[tokio::test]
async fn unpopulated_fields_are_emitted_by_default() {
    let app = spawn_app().await;
    let json = app.post("/v1/echo", "{}").await.json();
    assert_eq!(json["id"], "");
    assert_eq!(json["big"], "0");
    assert_eq!(json["flag"], false);
    assert_eq!(json["tags"], json!([]));
    assert_eq!(json["color"], "COLOR_UNSPECIFIED");
}

#[tokio::test]
async fn camel_case_names_and_omitted_defaults_are_options() {
    let app = spawn_app_with(|config| {
        config.json_names = JsonNames::Camel;
        config.emit_unpopulated = false;
    })
    .await;
    let json = app
        .post(
            "/v1/echo",
            r#"{"display_name": "x", "book": {"shelf_id": "s"}}"#,
        )
        .await
        .json();
    assert_eq!(json, json!({"displayName": "x", "book": {"shelfId": "s"}}));
}

#[tokio::test]
async fn body_field_and_query_for_the_rest() {
    let app = spawn_app().await;
    let response = app
        .send(
            "PUT",
            "/v1/books/7?page.size=3&book.title=ignored&id=ignored",
            &[],
            Some(r#"{"shelfId": "s", "title": "t"}"#),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &echo_request(r#"id: "7" book { shelf_id: "s" title: "t" } page { size: 3 }"#),
    );
}

#[tokio::test]
async fn query_parameters_of_every_kind() {
    let app = spawn_app().await;
    let query = [
        "id=q%201",
        "page.size=10",
        "page.inner.flag=true",
        "tags=a",
        "tags=b+c",
        "color=COLOR_RED",
        "colors=2",
        "colors=COLOR_RED",
        "big=-9007199254740993",
        "ubig=18446744073709551615",
        "flag=true",
        "data=aGk%3D",
        "at=2024-01-01T00:00:00Z",
        "ttl=1.5s",
        "maybe=7",
        "mask=a,book.shelfId",
        "displayName=dn",
        "ratio=0.5",
        "nums=1",
        "nums=2",
        "unknown=ignored",
        "page.nothing=ignored",
    ]
    .join("&");
    let response = app.get(&format!("/v1/echo?{query}")).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &echo_request(
            r#"id: "q 1" page { size: 10 inner { flag: true } } tags: ["a", "b c"]
               color: COLOR_RED colors: [COLOR_GREEN, COLOR_RED]
               big: -9007199254740993 ubig: 18446744073709551615 flag: true data: "hi"
               at { seconds: 1704067200 } ttl { seconds: 1 nanos: 500000000 }
               maybe { value: 7 } mask { paths: ["a", "book.shelf_id"] }
               display_name: "dn" ratio: 0.5 nums: [1, 2]"#,
        ),
    );
}

#[tokio::test]
async fn enum_number_and_proto_names_in_query() {
    let app = spawn_app().await;
    let response = app
        .get("/v1/echo?color=2&display_name=p&book.shelf_id=s")
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &echo_request(r#"color: COLOR_GREEN display_name: "p" book { shelf_id: "s" }"#),
    );
}

#[tokio::test]
async fn typed_path_variables() {
    let app = spawn_app().await;
    let response = app
        .get("/v1/big/-9007199254740993/COLOR_GREEN/2024-01-01T00:00:01Z")
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_message(
        &app.last_upstream_request(),
        &echo_request("big: -9007199254740993 color: COLOR_GREEN at { seconds: 1704067201 }"),
    );
    assert_eq!(
        app.get("/v1/big/1/1/2024-01-01T00:00:01Z").await.status,
        200
    );
    assert_message(
        &app.last_upstream_request(),
        &echo_request("big: 1 color: COLOR_RED at { seconds: 1704067201 }"),
    );
}

#[tokio::test]
async fn response_body_selects_a_field() {
    let app = spawn_app().await;
    let response = app.get("/v1/echo/5/book?book.title=T&book.pages=12").await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(
        response.json(),
        json!({"shelf_id": "", "title": "T", "pages": "12"})
    );
    let response = app.get("/v1/echo/5/tags?tags=x&tags=y").await;
    assert_eq!(response.json(), json!(["x", "y"]));
}

#[tokio::test]
async fn server_streaming_is_newline_delimited_json() {
    let app = spawn_app().await;
    let response = app.get("/v1/stream?id=s&big=5").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    let text = std::str::from_utf8(&response.body).expect("UTF-8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in lines {
        assert_eq!(line["id"], "s");
        assert_eq!(line["big"], "5");
    }
}

#[tokio::test]
async fn upstream_channel_is_reused_across_requests() {
    let app = spawn_app().await;
    let requests = (0..20).map(|i| {
        let app = &app;
        async move { app.get(&format!("/v1/echo?id={i}")).await.status }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(app.upstream_calls(), 20);
}
