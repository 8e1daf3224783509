//! Swagger UI, the OpenAPI document, liveness and readiness.

use crate::helpers::{spawn_app, spawn_app_with};

const DOC: &str = r#"{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{}}"#;

#[tokio::test]
async fn serves_swagger_ui_and_the_document() {
    let app = spawn_app_with(|config| {
        config.openapi_json = Some(DOC);
        config.openapi_yaml = Some("openapi: 3.1.0\n");
    })
    .await;
    let json = app.get("/openapi.json").await;
    assert_eq!(json.status, 200);
    assert_eq!(json.json()["openapi"], "3.1.0");
    let yaml = app.get("/openapi.yaml").await;
    assert_eq!(yaml.status, 200);
    assert_eq!(yaml.header("content-type"), Some("application/yaml"));
    assert_eq!(&yaml.body[..], b"openapi: 3.1.0\n");
    let mut ui = app.get("/docs/").await;
    if ui.status == 303 || ui.status == 301 || ui.status == 308 {
        ui = app.get("/docs/index.html").await;
    }
    assert_eq!(ui.status, 200);
    let config = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(config.status, 200);
    assert!(String::from_utf8_lossy(&config.body).contains("/openapi.json"));
}

#[tokio::test]
async fn healthz_is_up() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["status"], "ok");
}

#[tokio::test]
async fn readyz_lists_failing_upstreams() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status, 503);
    let json = response.json();
    assert_eq!(json["ready"], false);
    assert_eq!(json["upstreams"]["echo.v1.Echo"], "SERVING");
    assert_ne!(json["upstreams"]["echo.v1.Down"], "SERVING");
}

#[tokio::test]
async fn readyz_is_ready_when_every_upstream_serves() {
    let app = spawn_app_with(|config| {
        let echo = config
            .upstreams
            .channel("echo.v1.Echo")
            .expect("configured");
        let mut upstreams = gateway::Upstreams::new();
        upstreams.insert("echo.v1.Echo", echo);
        config.upstreams = upstreams;
    })
    .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.json()["ready"], true);
}
