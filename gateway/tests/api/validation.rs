//! `buf.validate` rules checked by the gateway before the upstream call (the conformance
//! fixture's `CreateValidated`, `POST /v1/validated/{user_id}`).

use serde_json::json;

use crate::helpers::{spawn_golden, spawn_golden_with};

const VALID: &str = r#"{"name":"Ann","email":"ann@example.com","price":2.5,"part":{"name":"p"},
    "count":"3","code":"a"}"#;

#[tokio::test]
async fn two_broken_rules_are_two_field_violations_and_no_upstream_call() {
    let app = spawn_golden().await;
    let body =
        r#"{"name":"","email":"ann@example.com","part":{"name":"p"},"count":"3","code":"a"}"#;
    let response = app.post("/v1/validated/0", body).await;
    assert_eq!(response.status, 400, "{:?}", response.body);
    let json = response.json();
    assert_eq!(json["code"], 3);
    assert_eq!(
        json["message"],
        "invalid request: user_id: must be greater than 0; name: must be at least 1 characters"
    );
    assert_eq!(
        json["details"],
        json!([{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [
                {"field": "user_id", "description": "must be greater than 0", "reason": "int64.gt"},
                {"field": "name", "description": "must be at least 1 characters", "reason": "string.min_len"},
            ],
        }])
    );
    assert_eq!(app.upstream_calls(), 0, "the upstream was not called");
}

#[tokio::test]
async fn a_valid_request_reaches_the_upstream() {
    let app = spawn_golden().await;
    let response = app.post("/v1/validated/7", VALID).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.json()["user_id"], "7");
    assert_eq!(app.upstream_calls(), 1);
}

#[tokio::test]
async fn nested_and_required_rules_name_the_field_path() {
    let app = spawn_golden().await;
    let response = app
        .post(
            "/v1/validated/7",
            r#"{"name":"a","email":"x","count":"3","code":"a"}"#,
        )
        .await;
    assert_eq!(response.status, 400);
    let fields: Vec<(String, String)> = response.json()["details"][0]["fieldViolations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| {
            (
                v["field"].as_str().unwrap_or_default().to_owned(),
                v["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("email".to_owned(), "string.email".to_owned()),
            ("part".to_owned(), "required".to_owned()),
        ]
    );
    let response = app
        .post(
            "/v1/validated/7",
            r#"{"name":"a","email":"a@b.c","part":{},"count":"3","code":"a"}"#,
        )
        .await;
    assert_eq!(
        response.json()["details"][0]["fieldViolations"][0]["field"],
        "part.name"
    );
    assert_eq!(app.upstream_calls(), 0);
}

#[tokio::test]
async fn with_validation_off_the_upstream_decides() {
    let app = spawn_golden_with(|config| config.validate_requests = false).await;
    let response = app.post("/v1/validated/0", r#"{"name":""}"#).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(app.upstream_calls(), 1, "the request reached the upstream");
}
