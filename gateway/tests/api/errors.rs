//! Every error case answers a google.rpc.Status JSON body with the mapped HTTP status.

use std::time::{Duration, Instant};

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let message = app
        .post("/v1/echo", r#"{"id": "#)
        .await
        .assert_status(400, 3);
    assert!(message.contains("invalid JSON body"), "{message}");
    let message = app
        .post("/v1/echo", r#"{"id": "a"} trailing"#)
        .await
        .assert_status(400, 3);
    assert!(message.contains("invalid JSON body"), "{message}");
    assert_eq!(app.upstream_calls(), 0);
}

#[tokio::test]
async fn wrong_type_names_the_field() {
    let app = spawn_app().await;
    let message = app
        .post("/v1/echo", r#"{"page": {"size": "many"}}"#)
        .await
        .assert_status(400, 3);
    assert!(message.contains("page.size"), "{message}");
    let message = app
        .post("/v1/echo", r#"{"unknownField": 1}"#)
        .await
        .assert_status(400, 3);
    assert!(message.contains("unknownField"), "{message}");
}

#[tokio::test]
async fn unknown_enum_name_is_400() {
    let app = spawn_app().await;
    let message = app
        .post("/v1/echo", r#"{"color": "COLOR_PURPLE"}"#)
        .await
        .assert_status(400, 3);
    assert!(
        message.contains("color") && message.contains("COLOR_PURPLE"),
        "{message}"
    );
    let message = app.get("/v1/echo?color=PURPLE").await.assert_status(400, 3);
    assert!(message.contains("`color`"), "{message}");
}

#[tokio::test]
async fn unparsable_query_values_name_the_parameter() {
    let app = spawn_app().await;
    for (query, name) in [
        ("big=abc", "`big`"),
        ("flag=maybe", "`flag`"),
        ("page.size=1.5", "`page.size`"),
        ("at=yesterday", "`at`"),
        ("data=%%%", "`data`"),
        ("labels=x", "`labels`"),
    ] {
        let message = app
            .get(&format!("/v1/echo?{query}"))
            .await
            .assert_status(400, 3);
        assert!(message.contains(name), "{query}: {message}");
    }
    assert_eq!(app.upstream_calls(), 0);
}

#[tokio::test]
async fn unparsable_path_value_names_the_variable() {
    let app = spawn_app().await;
    let message = app
        .get("/v1/big/notanumber/COLOR_RED/2024-01-01T00:00:00Z")
        .await
        .assert_status(400, 3);
    assert!(message.contains("`big`"), "{message}");
}

#[tokio::test]
async fn unknown_route_is_404() {
    let app = spawn_app().await;
    app.get("/v2/nothing").await.assert_status(404, 5);
    app.get("/V1/echo").await.assert_status(404, 5);
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = spawn_app().await;
    let response = app.send("PATCH", "/v1/echo", &[], Some("{}")).await;
    response.assert_status(405, 12);
    assert_eq!(response.header("allow"), Some("POST, GET"));
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn_app_with(|config| config.body_limit = 64).await;
    let big = format!(r#"{{"id": "{}"}}"#, "x".repeat(200));
    app.post("/v1/echo", &big).await.assert_status(413, 8);
    let small = r#"{"id": "ok"}"#;
    assert_eq!(app.post("/v1/echo", small).await.status, 200);
}

#[tokio::test]
async fn unreachable_upstream_is_503() {
    let app = spawn_app().await;
    let message = app.get("/v1/down").await.assert_status(503, 14);
    assert!(message.contains("echo.v1.Down"), "{message}");
}

#[tokio::test]
async fn gateway_deadline_is_504() {
    let app = spawn_app_with(|config| config.timeout = Duration::from_millis(300)).await;
    let started = Instant::now();
    app.send(
        "GET",
        "/v1/echo",
        &[("grpc-metadata-echo-sleep-ms", "5000")],
        None,
    )
    .await
    .assert_status(504, 4);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn smaller_client_grpc_timeout_wins_and_is_propagated() {
    let app = spawn_app().await;
    let started = Instant::now();
    app.send(
        "GET",
        "/v1/echo",
        &[
            ("grpc-metadata-echo-sleep-ms", "5000"),
            ("grpc-timeout", "200m"),
        ],
        None,
    )
    .await
    .assert_status(504, 4);
    assert!(started.elapsed() < Duration::from_secs(3));

    let response = app
        .send("GET", "/v1/echo", &[("grpc-timeout", "5S")], None)
        .await;
    assert_eq!(response.status, 200);
    let propagated = response
        .header("grpc-metadata-seen-grpc-timeout")
        .expect("the upstream saw a grpc-timeout");
    assert!(propagated.ends_with('m') || propagated.ends_with('u') || propagated.ends_with('n'));
}

#[tokio::test]
async fn upstream_not_found_is_404_with_its_message() {
    let app = spawn_app().await;
    let response = app
        .send(
            "GET",
            "/v1/echo",
            &[
                ("grpc-metadata-echo-status", "5"),
                ("grpc-metadata-echo-message", "thing 7 not found"),
            ],
            None,
        )
        .await;
    assert_eq!(response.assert_status(404, 5), "thing 7 not found");
}

#[tokio::test]
async fn upstream_codes_map_per_table() {
    let app = spawn_app().await;
    for (code, http) in [
        (3, 400),
        (6, 409),
        (7, 403),
        (8, 429),
        (12, 501),
        (16, 401),
        (9, 400),
    ] {
        let code_text = code.to_string();
        let response = app
            .send(
                "GET",
                "/v1/echo",
                &[
                    ("grpc-metadata-echo-status", code_text.as_str()),
                    ("grpc-metadata-echo-message", "m"),
                ],
                None,
            )
            .await;
        assert_eq!(response.assert_status(http, code), "m");
    }
}

#[tokio::test]
async fn internal_messages_are_not_leaked() {
    let app = spawn_app().await;
    for code in ["13", "2", "15"] {
        let response = app
            .send(
                "GET",
                "/v1/echo",
                &[
                    ("grpc-metadata-echo-status", code),
                    (
                        "grpc-metadata-echo-message",
                        "password=hunter2 at db.internal",
                    ),
                ],
                None,
            )
            .await;
        let message = response.assert_status(500, code.parse().expect("number"));
        assert_eq!(message, "internal error");
        assert!(!String::from_utf8_lossy(&response.body).contains("hunter2"));
    }
}

#[tokio::test]
async fn upstream_details_are_rendered_as_any_json() {
    let app = spawn_app().await;
    let response = app
        .send(
            "GET",
            "/v1/echo",
            &[
                ("grpc-metadata-echo-status", "3"),
                ("grpc-metadata-echo-message", "bad title"),
                ("grpc-metadata-echo-details", "1"),
            ],
            None,
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        serde_json::json!({
            "code": 3,
            "message": "bad title",
            "details": [
                {"@type": "type.googleapis.com/echo.v1.Book", "title": "t"},
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "value": "AQI="}
            ]
        })
    );
    // Hidden codes drop the details with the message.
    let response = app
        .send(
            "GET",
            "/v1/echo",
            &[
                ("grpc-metadata-echo-status", "13"),
                ("grpc-metadata-echo-details", "1"),
            ],
            None,
        )
        .await;
    response.assert_status(500, 13);
}
