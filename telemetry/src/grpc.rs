//! Trace context on gRPC: the server layer that opens one span per call as the child of the
//! caller's context, and the client side that puts the current context into a call's
//! metadata.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use opentelemetry::trace::FutureExt as _;
use pin_project_lite::pin_project;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tower::{Layer, Service};

use crate::propagation::{adopt, current_context, extract_http, inject_fn};

/// Puts the current trace context ([`current_context`]) into `metadata` as `traceparent` and
/// `tracestate`, replacing any already there. Call it on every outgoing request of a service
/// that calls others, inside the span of the work the call is part of.
pub fn inject_metadata(metadata: &mut MetadataMap) {
    let cx = current_context();
    metadata.remove(crate::TRACEPARENT);
    metadata.remove(crate::TRACESTATE);
    inject_fn(&cx, |name, value| {
        // Built from validated ids and trace state: always valid ASCII metadata.
        if let Ok(mut value) = AsciiMetadataValue::try_from(value) {
            value.set_sensitive(crate::propagation::never_indexed(name));
            metadata.insert(AsciiMetadataKey::from_static(name), value);
        }
    });
}

/// A tonic interceptor doing [`inject_metadata`]: `Client::with_interceptor(channel,
/// telemetry::grpc::interceptor)`. Never fails.
pub fn interceptor(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    inject_metadata(request.metadata_mut());
    Ok(request)
}

/// Path prefixes of infrastructure calls that get no span: health checks arrive every few
/// seconds from Consul and load balancers, and would bury the requests in root spans.
const UNTRACED: [&str; 2] = ["/grpc.health.v1.Health/", "/grpc.reflection."];

/// Opens a `grpc` span per served call, the child of the `traceparent` in its metadata, with
/// the `trace_id` field every log line inside the call then carries; writes a debug line per
/// call (target `telemetry::grpc`) with its path, gRPC status and latency.
///
/// Without the OpenTelemetry layer, the context that arrived is also attached to the call's
/// future, so [`inject_metadata`] passes it on to the calls this one makes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerTraceLayer;

impl<S> Layer<S> for ServerTraceLayer {
    type Service = ServerTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerTrace { inner }
    }
}

/// The service of [`ServerTraceLayer`].
#[derive(Debug, Clone)]
pub struct ServerTrace<S> {
    inner: S,
}

impl<S, B, ResBody> Service<http::Request<B>> for ServerTrace<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ServerTraceFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if UNTRACED.iter().any(|prefix| path.starts_with(prefix)) {
            return ServerTraceFuture {
                inner: self
                    .inner
                    .call(request)
                    .with_context(opentelemetry::Context::new()),
                span: tracing::Span::none(),
                started: None,
            };
        }
        let span = tracing::info_span!(
            "grpc",
            otel.name = path,
            otel.kind = "server",
            trace_id = tracing::field::Empty,
        );
        let cx = adopt(&span, extract_http(request.headers()), false);
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let started =
            tracing::enabled!(target: "telemetry::grpc", tracing::Level::DEBUG).then(Instant::now);
        ServerTraceFuture {
            inner: inner.with_context(cx),
            span,
            started,
        }
    }
}

pin_project! {
    /// The response future of [`ServerTrace`]: polls the call inside its span and context.
    pub struct ServerTraceFuture<F> {
        #[pin]
        inner: opentelemetry::trace::WithContext<F>,
        span: tracing::Span,
        started: Option<Instant>,
    }
}

impl<F, ResBody, E> Future for ServerTraceFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let output = std::task::ready!(this.inner.poll(cx));
        if let Some(started) = this.started.take() {
            // The status is in the headers for an immediate error, else in the trailers,
            // which this layer does not wait for: `0` then means "headers sent".
            let status = match &output {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0"),
                Err(_) => "transport error",
            };
            tracing::debug!(
                target: "telemetry::grpc",
                grpc_status = status,
                latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                "call",
            );
        }
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TRACEPARENT, trace_id};

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[tokio::test]
    async fn without_the_layer_the_arrived_context_reaches_outgoing_calls() {
        use tower::ServiceExt as _;
        // The inner service makes an "outgoing call": it injects the current context.
        let inner = tower::service_fn(|_request: http::Request<()>| async {
            let mut metadata = MetadataMap::new();
            inject_metadata(&mut metadata);
            let seen = metadata
                .get(TRACEPARENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok::<_, std::convert::Infallible>(http::Response::new(seen))
        });
        let service = ServerTraceLayer.layer(inner);
        let request = http::Request::builder()
            .uri("/users.v1.UserService/GetUser")
            .header(TRACEPARENT, PARENT)
            .body(())
            .expect("valid request");
        let response = service.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.body().as_deref(), Some(PARENT));

        // No context arrived: none is invented by a service.
        let request = http::Request::builder()
            .uri("/users.v1.UserService/GetUser")
            .body(())
            .expect("valid request");
        let response = service.oneshot(request).await.expect("infallible");
        assert_eq!(response.body().as_deref(), None);
    }

    #[test]
    fn the_interceptor_injects_the_attached_context() {
        let cx = crate::extract_fn(|name| (name == TRACEPARENT).then_some(PARENT));
        let _attached = cx.clone().attach();
        let request = interceptor(tonic::Request::new(())).expect("never fails");
        let value = request.metadata().get(TRACEPARENT).expect("injected");
        assert_eq!(value, PARENT);
        assert_eq!(
            trace_id(&cx).map(|id| id.to_string()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }
}
