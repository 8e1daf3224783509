//! `/healthz` (the process is up) and `/readyz` (every upstream reports SERVING through the
//! standard `grpc.health.v1.Health/Check`, asked for its own service name).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::upstream::Upstreams;

/// How long one upstream health check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: always 200 while the process serves.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: 200 `{"ready": true, "upstreams": {...}}` when every upstream is SERVING, else
/// 503 with the same shape, each failing upstream showing why.
pub(crate) async fn readyz(State(upstreams): State<Upstreams>) -> Response {
    let checks = upstreams.iter().map(|(service, channel)| {
        let mut client = HealthClient::new(channel.clone());
        let request = HealthCheckRequest {
            service: service.to_owned(),
        };
        async move {
            let state = match tokio::time::timeout(CHECK_TIMEOUT, client.check(request)).await {
                Err(_) => "timeout".to_owned(),
                Ok(Err(status)) => format!("error: {:?}", status.code()),
                Ok(Ok(response)) => match ServingStatus::try_from(response.into_inner().status) {
                    Ok(status) => status.as_str_name().to_owned(),
                    Err(_) => "UNKNOWN".to_owned(),
                },
            };
            (service.to_owned(), state)
        }
    });
    let results = futures::future::join_all(checks).await;
    let ready = results.iter().all(|(_, state)| state == "SERVING");
    let upstreams: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(service, state)| (service, serde_json::Value::String(state)))
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({ "ready": ready, "upstreams": upstreams })),
    )
        .into_response()
}
