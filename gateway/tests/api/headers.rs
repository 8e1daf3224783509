//! Header forwarding, request ids, response metadata, CORS.

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn authorization_and_grpc_metadata_are_forwarded() {
    let app = spawn_app().await;
    let response = app
        .send(
            "GET",
            "/v1/echo",
            &[
                ("authorization", "Bearer token-1"),
                ("grpc-metadata-tenant", "acme"),
                ("cookie", "not-forwarded"),
            ],
            None,
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("grpc-metadata-seen-authorization"),
        Some("Bearer token-1")
    );
    assert_eq!(response.header("grpc-metadata-seen-tenant"), Some("acme"));
    // Response metadata comes back as Grpc-Metadata-* headers; transport headers do not.
    assert_eq!(response.header("grpc-metadata-echo-served"), Some("yes"));
    assert!(response.header("grpc-metadata-content-type").is_none());
}

#[tokio::test]
async fn configured_headers_are_forwarded_under_their_own_names() {
    let app = spawn_app_with(|config| {
        config.forwarded_headers = vec![http::HeaderName::from_static("idempotency-key")];
    })
    .await;
    let response = app
        .send(
            "POST",
            "/v1/echo",
            &[("Idempotency-Key", "k-42")],
            Some("{}"),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(
        response.header("grpc-metadata-seen-idempotency-key"),
        Some("k-42")
    );

    // Not configured: not forwarded.
    let app = spawn_app().await;
    let response = app
        .send(
            "POST",
            "/v1/echo",
            &[("Idempotency-Key", "k-42")],
            Some("{}"),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert!(
        response
            .header("grpc-metadata-seen-idempotency-key")
            .is_none()
    );
}

#[tokio::test]
async fn declared_headers_are_forwarded_on_their_route_only() {
    let app = spawn_app().await;
    // `POST /v1/things/{id}:archive` declares `idempotency-key` and `x-archive-reason`.
    let response = app
        .send(
            "POST",
            "/v1/things/7:archive",
            &[
                ("Idempotency-Key", "k-7"),
                ("X-Archive-Reason", "old"),
                ("cookie", "not-forwarded"),
            ],
            Some("{}"),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(
        response.header("grpc-metadata-seen-idempotency-key"),
        Some("k-7")
    );
    assert_eq!(
        response.header("grpc-metadata-seen-x-archive-reason"),
        Some("old")
    );

    // `POST /v1/echo` declares none: not forwarded.
    let response = app
        .send(
            "POST",
            "/v1/echo",
            &[("Idempotency-Key", "k-7"), ("X-Archive-Reason", "old")],
            Some("{}"),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert!(
        response
            .header("grpc-metadata-seen-idempotency-key")
            .is_none()
    );
    assert!(
        response
            .header("grpc-metadata-seen-x-archive-reason")
            .is_none()
    );

    // Declared and configured: forwarded once.
    let app = spawn_app_with(|config| {
        config.forwarded_headers = vec![http::HeaderName::from_static("idempotency-key")];
    })
    .await;
    let response = app
        .send(
            "POST",
            "/v1/things/7:archive",
            &[("Idempotency-Key", "k-8")],
            Some("{}"),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(
        response.header("grpc-metadata-seen-idempotency-key"),
        Some("k-8")
    );
}

#[tokio::test]
async fn a_declared_header_breaking_its_pattern_is_400_naming_it_before_any_call() {
    let app = spawn_app().await;
    // `idempotency-key` is declared with `^[!-~]{1,200}$` on the archive route.
    let response = app
        .send(
            "POST",
            "/v1/things/7:archive",
            &[("Idempotency-Key", "two words")],
            Some("{}"),
        )
        .await;
    assert_eq!(response.status, 400, "{:?}", response.body);
    let body = response.json();
    assert_eq!(body["code"], 3, "{body}");
    let violation = &body["details"][0]["fieldViolations"][0];
    assert_eq!(violation["field"], "Idempotency-Key", "{body}");
    assert_eq!(violation["reason"], "header.pattern", "{body}");
    assert!(
        response
            .header("grpc-metadata-seen-idempotency-key")
            .is_none(),
        "nothing went upstream"
    );
    // Not sent at all: nothing to check (the header is optional).
    let response = app
        .send("POST", "/v1/things/7:archive", &[], Some("{}"))
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
}

#[tokio::test]
async fn a_reserved_forwarded_header_is_a_startup_error() {
    let config = gateway::GatewayConfig {
        forwarded_headers: vec![http::HeaderName::from_static("grpc-timeout")],
        ..gateway::GatewayConfig::default()
    };
    let err =
        gateway::app(config, crate::helpers::ROUTES, crate::helpers::pool()).expect_err("reserved");
    assert!(err.to_string().contains("grpc-timeout"), "{err}");
}

#[tokio::test]
async fn request_id_is_propagated_and_echoed() {
    let app = spawn_app().await;
    let response = app
        .send("GET", "/v1/echo", &[("x-request-id", "req-123")], None)
        .await;
    assert_eq!(response.header("x-request-id"), Some("req-123"));
    assert_eq!(
        response.header("grpc-metadata-seen-x-request-id"),
        Some("req-123")
    );
}

#[tokio::test]
async fn request_id_is_generated_when_missing() {
    let app = spawn_app().await;
    let response = app.get("/v1/echo").await;
    let id = response.header("x-request-id").expect("generated id");
    assert_eq!(id.len(), 32);
    assert_eq!(response.header("grpc-metadata-seen-x-request-id"), Some(id));
    // Errors carry it too.
    let response = app.get("/nothing").await;
    assert!(response.header("x-request-id").is_some());
}

#[tokio::test]
async fn cors_allows_configured_origins() {
    let app = spawn_app_with(|config| config.cors_origins = vec!["http://ui.example".into()]).await;
    let preflight = app
        .send(
            "OPTIONS",
            "/v1/echo",
            &[
                ("origin", "http://ui.example"),
                ("access-control-request-method", "POST"),
            ],
            None,
        )
        .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://ui.example")
    );
    let other = app
        .send(
            "GET",
            "/v1/echo",
            &[("origin", "http://evil.example")],
            None,
        )
        .await;
    assert!(other.header("access-control-allow-origin").is_none());
}
