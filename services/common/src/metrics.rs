//! Prometheus metrics of a service, served as `GET /metrics` (Prometheus text format 0.0.4) on
//! an admin HTTP listener of its own (`--metrics-addr` / `METRICS_ADDR`; none by default), apart
//! from the gRPC port.
//!
//! - `grpc_server_handled_total{grpc_service, grpc_method, grpc_code}` and
//!   `grpc_server_handling_seconds{grpc_service, grpc_method}` (the names of go-grpc-prometheus):
//!   every call the server answered, by the status in its trailers, and its latency to the last
//!   byte. Methods are the served service's and health's, known at start-up; any other path
//!   (reflection, unknown methods) counts as `grpc_method="other"`.
//! - `db_pool_max_connections`, `db_pool_connections`, `db_pool_connections_in_use`,
//!   `db_pool_waiting` (gauges read from deadpool at scrape time) and
//!   `db_pool_acquire_seconds` (histogram: how long a request waited for a connection, measured
//!   around the pool's `get`, which deadpool does not time itself).
//!
//! `prometheus-client` for the reasons given in the gateway's `metrics.rs`: a registry per
//! service (the tests run four services and a gateway in one process), no HTTP stack of its own.
//! Each method's handles are prepared at start-up; labels are formatted once per series.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use anyhow::Context as _;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use prost::Message as _;
use tokio::net::TcpListener;
use tower::{Layer, Service};

/// Latency buckets in seconds.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The canonical names of the gRPC status codes, by number.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The health service's methods, counted like the service's own.
const HEALTH_METHODS: [&str; 2] = ["Check", "Watch"];

type Labels = Vec<(&'static str, String)>;

/// Builds latency histograms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency;

impl MetricConstructor<Histogram> for Latency {
    fn new_metric(&self) -> Histogram {
        Histogram::new(LATENCY_BUCKETS)
    }
}

/// One series, created in its family the first time it is used.
#[derive(Debug)]
struct Lazy<M, C = fn() -> M> {
    family: Family<Labels, M, C>,
    labels: Labels,
    handle: OnceLock<M>,
}

impl<M: Clone, C: MetricConstructor<M> + Clone> Lazy<M, C> {
    fn new(family: &Family<Labels, M, C>, labels: Labels) -> Self {
        Self {
            family: family.clone(),
            labels,
            handle: OnceLock::new(),
        }
    }

    fn get(&self) -> &M {
        self.handle
            .get_or_init(|| self.family.get_or_create(&self.labels).clone())
    }
}

/// The series of one gRPC method.
#[derive(Debug)]
struct MethodSeries {
    handled: [Lazy<Counter>; 17],
    handling: Lazy<Histogram, Latency>,
}

impl MethodSeries {
    fn new(
        handled: &Family<Labels, Counter>,
        handling: &Family<Labels, Histogram, Latency>,
        service: &str,
        method: &str,
    ) -> Self {
        let labels = || {
            vec![
                ("grpc_service", service.to_owned()),
                ("grpc_method", method.to_owned()),
            ]
        };
        Self {
            handled: GRPC_CODES.map(|code| {
                let mut labels = labels();
                labels.push(("grpc_code", code.to_owned()));
                Lazy::new(handled, labels)
            }),
            handling: Lazy::new(handling, labels()),
        }
    }

    fn record(&self, code: usize, started: Instant) {
        self.handled[code.min(GRPC_CODES.len() - 1)].get().inc();
        self.handling.get().observe(started.elapsed().as_secs_f64());
    }
}

/// Every method's series, by request path (`/users.v1.UserService/GetUser`).
#[derive(Debug)]
struct MethodTable {
    by_path: HashMap<String, Arc<MethodSeries>>,
    other: Arc<MethodSeries>,
}

/// The tower layer counting every call a tonic server answers (see the module docs).
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer {
    table: Option<Arc<MethodTable>>,
}

impl GrpcMetricsLayer {
    /// Registers the families in `registry` and prepares a series per method of
    /// `service_name` (looked up in `descriptors`, an encoded `FileDescriptorSet`) and of the
    /// health service.
    pub fn new(registry: &mut Registry, service_name: &str, descriptors: &[u8]) -> Self {
        let handled = Family::<Labels, Counter>::default();
        let handling = Family::<Labels, Histogram, Latency>::new_with_constructor(Latency);
        registry.register(
            "grpc_server_handled",
            "gRPC calls answered, by service, method and status code",
            handled.clone(),
        );
        registry.register(
            "grpc_server_handling_seconds",
            "gRPC call latency to the last byte of the answer, by service and method",
            handling.clone(),
        );
        let mut methods: Vec<(String, String)> = HEALTH_METHODS
            .iter()
            .map(|m| ("grpc.health.v1.Health".to_owned(), (*m).to_owned()))
            .collect();
        let set = prost_types::FileDescriptorSet::decode(descriptors).unwrap_or_default();
        for file in &set.file {
            for service in &file.service {
                let full = match file.package() {
                    "" => service.name().to_owned(),
                    package => format!("{package}.{}", service.name()),
                };
                if full == service_name {
                    methods.extend(
                        service
                            .method
                            .iter()
                            .map(|m| (full.clone(), m.name().to_owned())),
                    );
                }
            }
        }
        let by_path = methods
            .into_iter()
            .map(|(service, method)| {
                let series = MethodSeries::new(&handled, &handling, &service, &method);
                (format!("/{service}/{method}"), Arc::new(series))
            })
            .collect();
        let other = Arc::new(MethodSeries::new(&handled, &handling, "other", "other"));
        Self {
            table: Some(Arc::new(MethodTable { by_path, other })),
        }
    }

    /// A layer that counts nothing (a server without metrics).
    pub fn disabled() -> Self {
        Self { table: None }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            table: self.table.clone(),
        }
    }
}

/// The service of [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    table: Option<Arc<MethodTable>>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcMetrics<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let pending = self.table.as_ref().map(|table| Pending {
            series: Some(
                table
                    .by_path
                    .get(request.uri().path())
                    .unwrap_or(&table.other)
                    .clone(),
            ),
            started: Instant::now(),
        });
        MeteredFuture {
            inner: self.inner.call(request),
            pending,
        }
    }
}

/// A call not counted yet: counted once with the status it ended with, or as CANCELLED when it
/// is dropped before (the client went away).
#[derive(Debug)]
struct Pending {
    series: Option<Arc<MethodSeries>>,
    started: Instant,
}

impl Pending {
    fn finish(&mut self, code: usize) {
        if let Some(series) = self.series.take() {
            series.record(code, self.started);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish(tonic::Code::Cancelled as usize);
    }
}

/// The `grpc-status` in `headers`, if any, as its number.
fn grpc_status(headers: &http::HeaderMap) -> Option<usize> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(value.parse().unwrap_or(tonic::Code::Unknown as usize))
}

pin_project! {
    /// The response future of [`GrpcMetrics`].
    pub struct MeteredFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F, B, E> Future for MeteredFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<MeteredBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut pending = this.pending.take();
        Poll::Ready(match result {
            Ok(response) => {
                // Trailers-only answers (most errors) carry the status in the head.
                if let (Some(code), Some(p)) = (grpc_status(response.headers()), &mut pending) {
                    p.finish(code);
                }
                Ok(response.map(|inner| MeteredBody { inner, pending }))
            }
            Err(error) => {
                if let Some(p) = &mut pending {
                    p.finish(tonic::Code::Unknown as usize);
                }
                Err(error)
            }
        })
    }
}

pin_project! {
    /// A response body that counts its call when the trailers (with `grpc-status`) pass.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        pending: Option<Pending>,
    }
}

impl<B: Body<Data = Bytes>> Body for MeteredBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(pending) = this.pending {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                        pending.finish(code);
                    }
                }
                Some(Err(_)) => pending.finish(tonic::Code::Unknown as usize),
                // Ended without a status: not a well-formed gRPC answer.
                None => pending.finish(tonic::Code::Unknown as usize),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A bound admin listener serving `GET /metrics` from a registry.
#[derive(Debug)]
pub struct MetricsListener {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl MetricsListener {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for metrics"))?;
        let local_addr = listener.local_addr().context("reading the bound address")?;
        Ok(Self {
            listener,
            local_addr,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `registry` at `/metrics` until the returned task is aborted.
    pub fn spawn(self, registry: Arc<Registry>) -> tokio::task::JoinHandle<()> {
        use axum::routing::get;
        let router = axum::Router::new().route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move { render(&registry) }
            }),
        );
        tracing::info!("metrics at http://{}/metrics", self.local_addr);
        tokio::spawn(async move {
            if let Err(err) = axum::serve(self.listener, router).await {
                tracing::warn!(error = %err, "metrics listener failed");
            }
        })
    }
}

/// `registry` in the Prometheus text format, as an HTTP answer.
fn render(registry: &Registry) -> http::Response<axum::body::Body> {
    use axum::response::IntoResponse;
    use prometheus_client::encoding::prometheus_text;
    let mut body = String::with_capacity(8 * 1024);
    match prometheus_text::encode(&mut body, registry) {
        Ok(()) => (
            [(http::header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            body,
        )
            .into_response(),
        Err(_) => http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
