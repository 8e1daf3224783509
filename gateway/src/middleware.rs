//! Cross-cutting layers: request ids, the request span (W3C trace context), access log, CORS,
//! and the in-flight limit of the route table's requests.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderName, HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tracing::Level;

use crate::error::GatewayError;
use crate::metadata::X_REQUEST_ID;

/// Request ids: a random 64-bit prefix drawn once per process, then a counter. Unique within
/// the process (the counter) and across processes with overwhelming probability (the prefix);
/// not a security token. Hashing, reading the clock and formatting per request cost more than
/// the rest of the middleware, hence the fixed prefix and the hand-rolled hex.
struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl RequestIds {
    /// Length of an id: 32 lowercase hex digits (128 bits).
    const LEN: usize = 32;

    fn new() -> Self {
        // RandomState is seeded from the OS once per process (and varied per instance);
        // mixing in the clock and the pid guards against a platform with a fixed seed.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        Self {
            prefix: hasher.finish(),
            counter: AtomicU64::new(0),
        }
    }

    /// The next id, as a header value.
    fn next(&self) -> HeaderValue {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; Self::LEN];
        hex_u64(self.prefix, &mut buf[..16]);
        hex_u64(n, &mut buf[16..]);
        // Lowercase hex is always a valid header value; the fallback is unreachable.
        HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

/// Writes `value` as 16 lowercase hex digits into `out` (16 bytes).
fn hex_u64(value: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().enumerate() {
        let shift = 60 - 4 * i;
        *byte = DIGITS[((value >> shift) & 0xf) as usize];
    }
}

/// A fresh 128-bit hex request id (unique per process run; not a security token).
fn new_request_id() -> HeaderValue {
    static IDS: OnceLock<RequestIds> = OnceLock::new();
    IDS.get_or_init(RequestIds::new).next()
}

/// The request and response header carrying the request id.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(X_REQUEST_ID);

/// Gives every request an `X-Request-Id` (the client's, or a new one) that the handler forwards
/// as metadata and the response echoes, runs it inside a `request` span, and writes one access
/// log line per request inside that span.
///
/// The span is the child of the request's `traceparent` (or starts a trace) and records
/// `trace_id`, so every log line of the request names the trace; the request's
/// `traceparent`/`tracestate` headers are replaced by the span's context, which is what the
/// handler forwards upstream as metadata ([`crate::metadata`]), for simple and composite
/// routes alike.
///
/// A plain tower layer rather than `axum::middleware::from_fn`, which boxes a future per
/// request; and the access-log fields are only gathered when that log is enabled.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestContextLayer;

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContext { inner }
    }
}

/// The service of [`RequestContextLayer`].
#[derive(Debug, Clone)]
pub(crate) struct RequestContext<S> {
    inner: S,
}

/// What the access log line needs from the request, kept until the response.
#[derive(Debug)]
struct AccessLog {
    start: Instant,
    method: Method,
    path: String,
}

impl<S, B, ResBody> Service<Request<B>> for RequestContext<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequestContextFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let request_id = match request.headers().get(&REQUEST_ID_HEADER) {
            Some(id) if !id.is_empty() => id.clone(),
            _ => {
                let id = new_request_id();
                request.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
                id
            }
        };
        let span = tracing::info_span!(
            "request",
            otel.kind = "server",
            trace_id = tracing::field::Empty,
        );
        let parent = telemetry::extract_http(request.headers());
        let trace = telemetry::adopt(&span, parent, true);
        telemetry::inject_http(&trace, request.headers_mut());
        if telemetry::exported(&span) {
            // Attributes of the exported span only: the access log line already names them.
            use telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
            span.set_attribute("http.request.method", request.method().as_str().to_owned());
            span.set_attribute("url.path", request.uri().path().to_owned());
        }
        let access = tracing::enabled!(target: "gateway::access", Level::INFO).then(|| AccessLog {
            start: Instant::now(),
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        });
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        RequestContextFuture {
            inner,
            span,
            request_id: Some(request_id),
            access,
        }
    }
}

pin_project! {
    /// The response future of [`RequestContext`]: polls the request inside its span, echoes
    /// the request id and logs the request.
    pub(crate) struct RequestContextFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        request_id: Option<HeaderValue>,
        access: Option<AccessLog>,
    }
}

impl<F, ResBody, E> Future for RequestContextFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut response = ready!(this.inner.poll(cx))?;
        let request_id = this.request_id.take();
        if let Some(AccessLog {
            start,
            method,
            path,
        }) = this.access.take()
        {
            tracing::info!(
                target: "gateway::access",
                %method,
                path,
                status = response.status().as_u16(),
                latency_ms = start.elapsed().as_secs_f64() * 1000.0,
                request_id = request_id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or(""),
                "request",
            );
        }
        if let Some(request_id) = request_id {
            response.headers_mut().insert(REQUEST_ID_HEADER, request_id);
        }
        Poll::Ready(Ok(response))
    }
}

/// The in-flight limit of the route table's requests ([`crate::GatewayConfig::max_in_flight`]):
/// admission is one atomic increment, and a request over the limit is refused at once with a
/// ready-made 503 instead of waiting, because a queue in front of a saturated upstream only
/// adds latency to every request behind it and memory for each (load shedding, as Envoy's and
/// Finagle's admission control do). An atomic counter rather than a semaphore: nothing ever
/// waits for a slot, so a plain counter is all that is needed.
#[derive(Debug)]
pub(crate) struct InFlightLimit {
    limit: usize,
    current: AtomicUsize,
    /// The shed answer's `google.rpc.Status` body, rendered once: shedding must cost less
    /// than serving, and an overloaded gateway sheds many.
    body: bytes::Bytes,
}

impl InFlightLimit {
    /// A limit of `limit` requests at once; `None` for 0 (no limit).
    pub(crate) fn new(limit: usize) -> Option<Self> {
        if limit == 0 {
            return None;
        }
        let error = GatewayError::Overloaded { limit };
        let message = error.client_message();
        let body = serde_json::to_vec(&crate::error::status_body(error.code(), &message, &[]))
            .unwrap_or_else(|_| br#"{"code":14,"message":"overloaded","details":[]}"#.to_vec());
        Some(Self {
            limit,
            current: AtomicUsize::new(0),
            body: body.into(),
        })
    }

    /// Admits one request, which holds its slot until the guard is dropped; `None` when
    /// `limit` requests are in flight already.
    pub(crate) fn try_admit(&self) -> Option<Admitted<'_>> {
        let admitted = self
            .current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then(|| n + 1)
            })
            .is_ok();
        // `then`, not `then_some`: a guard built and dropped for a refused request would
        // give back a slot it never took.
        admitted.then(|| Admitted(&self.current))
    }

    /// The answer to a request over the limit: 503 UNAVAILABLE with `Retry-After`, rendered
    /// like every other gateway error ([`GatewayError::Overloaded`]) but not logged one by one
    /// (`gateway_http_requests_shed_total` counts them).
    pub(crate) fn shed_response(&self) -> axum::response::Response {
        let mut response = axum::response::Response::new(axum::body::Body::from(self.body.clone()));
        *response.status_mut() = GatewayError::Overloaded { limit: self.limit }.status();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from(crate::config::SHED_RETRY_AFTER_SECS),
        );
        response
    }
}

/// An admitted request's slot in an [`InFlightLimit`], given back when dropped (answered, or
/// abandoned by a client that went away).
#[derive(Debug)]
pub(crate) struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
    fn request_ids_are_32_lowercase_hex_digits_and_unique() {
        let ids = RequestIds::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.next();
            let text = id.to_str().expect("hex is ASCII");
            assert_eq!(text.len(), RequestIds::LEN);
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{text}"
            );
            // The process prefix is shared; the counter part tells ids apart.
            assert_eq!(&text[..16], format!("{:016x}", ids.prefix));
            assert!(seen.insert(text.to_owned()), "duplicate id {text}");
        }
        // Two generators (two processes) draw different prefixes.
        assert_ne!(RequestIds::new().prefix, RequestIds::new().prefix);
    }

    #[test]
    fn hex_encoding() {
        let mut out = [0u8; 16];
        hex_u64(0x0123_4567_89ab_cdef, &mut out);
        assert_eq!(&out, b"0123456789abcdef");
        hex_u64(u64::MAX, &mut out);
        assert_eq!(&out, b"ffffffffffffffff");
        hex_u64(0, &mut out);
        assert_eq!(&out, b"0000000000000000");
    }

    #[tokio::test]
    async fn request_context_generates_or_keeps_the_id_and_echoes_it() {
        use tower::ServiceExt as _;
        // The inner service answers with the id it was given, so the test sees both sides.
        let inner = tower::service_fn(|request: Request<()>| async move {
            let seen = request.headers().get(X_REQUEST_ID).cloned();
            Ok::<_, std::convert::Infallible>(Response::new(seen))
        });
        let service = RequestContextLayer.layer(inner);

        let response = service
            .clone()
            .oneshot(Request::new(()))
            .await
            .expect("infallible");
        let echoed = response.headers().get(X_REQUEST_ID).expect("echoed");
        assert_eq!(echoed.len(), RequestIds::LEN);
        assert_eq!(response.body().as_ref(), Some(echoed));

        let request = Request::builder()
            .header(X_REQUEST_ID, "req-1")
            .body(())
            .expect("valid request");
        let response = service.oneshot(request).await.expect("infallible");
        assert_eq!(
            response.headers().get(X_REQUEST_ID).expect("echoed"),
            "req-1"
        );
        assert_eq!(response.body().as_ref().expect("forwarded"), "req-1");
    }

    #[tokio::test]
    async fn the_trace_context_is_kept_or_started_and_passed_on() {
        use tower::ServiceExt as _;
        // The inner service answers with the `traceparent` the handler would forward.
        let inner = tower::service_fn(|request: Request<()>| async move {
            let seen = request.headers().get("traceparent").cloned();
            Ok::<_, std::convert::Infallible>(Response::new(seen))
        });
        let service = RequestContextLayer.layer(inner);
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let request = Request::builder()
            .header("traceparent", parent)
            .body(())
            .expect("valid request");
        let response = service.clone().oneshot(request).await.expect("infallible");
        // No OpenTelemetry layer in unit tests: the gateway records no span, so it passes the
        // caller's context on as it came.
        assert_eq!(response.body().as_ref().expect("forwarded"), parent);

        let response = service.oneshot(Request::new(())).await.expect("infallible");
        let started = response.body().as_ref().expect("a trace is started");
        let started = started.to_str().expect("ASCII");
        assert_eq!(started.len(), parent.len(), "{started}");
        assert!(
            started.starts_with("00-") && started.ends_with("-01"),
            "{started}"
        );
    }

    #[test]
    fn in_flight_limit_admits_up_to_the_limit_and_frees_slots_on_drop() {
        assert!(InFlightLimit::new(0).is_none(), "0 disables the limit");
        let limit = InFlightLimit::new(2).expect("a limit");
        let first = limit.try_admit().expect("first admitted");
        let second = limit.try_admit().expect("second admitted");
        assert!(limit.try_admit().is_none(), "third refused");
        drop(first);
        let third = limit.try_admit().expect("a freed slot is taken again");
        assert!(limit.try_admit().is_none());
        drop((second, third));
        assert_eq!(limit.current.load(Ordering::SeqCst), 0);

        let response = limit.shed_response();
        assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
        let body: serde_json::Value = serde_json::from_slice(&limit.body).expect("JSON");
        assert_eq!(body["code"], 14, "{body}");
        assert_eq!(body["details"], serde_json::json!([]), "{body}");
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
