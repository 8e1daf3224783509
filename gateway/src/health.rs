//! `/healthz` (the process is up) and `/readyz` (every upstream reports SERVING through the
//! standard `grpc.health.v1.Health/Check`, asked for its own service name; with Consul
//! discovery, also what each watch knows).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use discovery::consul::{ConsulState, WatchStatus};

use crate::upstream::Upstreams;

/// How long one upstream health check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: always 200 while the process serves.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: 200 `{"ready": true, "upstreams": {...}}` when every upstream is SERVING, else
/// 503 with the same shape, each failing upstream showing why.
///
/// With Consul discovery the body also has `"discovery": {"<name>": {"consul": "reachable" |
/// "unreachable" | "starting", "endpoints": [...], "error": ...}}`. An unreachable Consul is
/// reported but does not by itself make the gateway unready: it keeps serving on the last known
/// endpoints, which the upstream checks above still vouch for.
pub(crate) async fn readyz(State(upstreams): State<Upstreams>) -> Response {
    let discovery = discovery_json(&upstreams.discovery_status());
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
    let mut body = serde_json::json!({ "ready": ready, "upstreams": upstreams });
    if let Some(discovery) = discovery {
        body["discovery"] = discovery;
    }
    (status, Json(body)).into_response()
}

/// The discovery part of `/readyz`, `None` without discovery.
fn discovery_json(watches: &[WatchStatus]) -> Option<serde_json::Value> {
    if watches.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = watches
        .iter()
        .map(|watch| {
            let mut entry = serde_json::json!({ "endpoints": watch.endpoints });
            match &watch.consul {
                ConsulState::Starting => entry["consul"] = "starting".into(),
                ConsulState::Reachable => entry["consul"] = "reachable".into(),
                ConsulState::Unreachable { error, failures } => {
                    entry["consul"] = "unreachable".into();
                    entry["error"] = error.clone().into();
                    entry["failures"] = (*failures).into();
                }
            }
            (watch.service.clone(), entry)
        })
        .collect();
    Some(serde_json::Value::Object(map))
}
