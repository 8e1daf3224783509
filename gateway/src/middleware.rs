//! Cross-cutting layers: request ids, access log, CORS.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::error::GatewayError;
use crate::serve::X_REQUEST_ID;

/// A fresh 128-bit hex request id (unique per process run; not a security token).
fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let state = std::collections::hash_map::RandomState::new();
    let mut high = state.build_hasher();
    high.write_u64(n);
    let mut low = state.build_hasher();
    low.write_u64(!n);
    low.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}{:016x}", high.finish(), low.finish())
}

/// Gives every request an `X-Request-Id` (the client's, or a new one) that the handler forwards
/// as metadata and the response echoes, and writes one access log line per request.
pub(crate) async fn request_context(mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = match request.headers().get(X_REQUEST_ID) {
        Some(id) if !id.is_empty() => id.clone(),
        _ => {
            let id = HeaderValue::from_str(&new_request_id())
                .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
            request.headers_mut().insert(X_REQUEST_ID, id.clone());
            id
        }
    };
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    tracing::info!(
        target: "gateway::access",
        %method,
        path,
        status,
        latency_ms = start.elapsed().as_secs_f64() * 1000.0,
        request_id = request_id.to_str().unwrap_or(""),
        "request",
    );
    response.headers_mut().insert(X_REQUEST_ID, request_id);
    response
}

/// A CORS layer for `origins` (`*` allows any); `None` when the list is empty.
pub(crate) fn cors(origins: &[String]) -> Result<Option<CorsLayer>, GatewayError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o)
                    .map_err(|_| GatewayError::Config(format!("invalid CORS origin `{o}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(Any)
            .expose_headers([HeaderName::from_static(X_REQUEST_ID)]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_differ() {
        let a = new_request_id();
        let b = new_request_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn cors_origins() {
        assert!(cors(&[]).expect("test input is valid").is_none());
        assert!(cors(&["*".into()]).expect("test input is valid").is_some());
        assert!(
            cors(&["http://localhost:3000".into()])
                .expect("test input is valid")
                .is_some()
        );
        assert!(cors(&["bad\norigin".into()]).is_err());
    }
}
