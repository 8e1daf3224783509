//! Prometheus metrics of the gateway, served as `GET /metrics` (Prometheus text format 0.0.4)
//! on the gateway's own router, like `/healthz`: never matched against the route table, never
//! sent upstream. [`crate::GatewayConfig::metrics`] turns them off.
//!
//! - `gateway_http_requests_total{method, template, code}`: answered requests per route
//!   template (the generated `RouteSpec::template`, never the raw path) and HTTP method, `code`
//!   the status class (`2xx` .. `5xx`; errors are `code=~"4xx|5xx"`). Requests that match no
//!   route count under `template="unmatched"` with the method folded into a fixed set.
//! - `gateway_http_request_duration_seconds{method, template}`: time to the response head.
//! - `gateway_upstream_requests_total{grpc_service, grpc_method, grpc_code}` and
//!   `gateway_upstream_request_duration_seconds{grpc_service, grpc_method}`: every upstream call
//!   (a composite route's parts each count), retries on another instance included in one call.
//! - `gateway_upstream_instances{upstream}`: the instances discovery balances over now, per
//!   watched (Consul) name, read at scrape time.
//! - `gateway_http_requests_shed_total`: requests refused with 503 because
//!   [`crate::GatewayConfig::max_in_flight`] were in flight already (not matched against the
//!   table, so not in `gateway_http_requests_total`).
//!
//! Why `prometheus-client` (the Prometheus project's Rust client) rather than `metrics` +
//! `metrics-exporter-prometheus`: its registries are plain values, so several gateways and
//! services in one process (the tests run the whole shop in-process) keep their series apart,
//! where `metrics` records into one global recorder; and it depends on four small crates, where
//! the exporter brings its own hyper server and push client unless trimmed.
//!
//! Cost on the hot path: every label set is known at start-up (route templates, gRPC methods,
//! status classes and codes), so each route holds its own handles ([`Lazy`]) and a request
//! pays an atomic load per handle and the metric's own update; labels are formatted and hashed
//! only the first time a series is used (so series nobody used stay out of `/metrics`). Not
//! measured here; `cargo xtask bench` is the place to.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::spec::RouteSpec;
use crate::upstream::Upstreams;

/// The path the metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// A label set: fixed keys, values known at start-up.
type Labels = Vec<(&'static str, String)>;

/// Latency buckets in seconds, from a cached read to a request near the default deadline.
const LATENCY_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Builds the latency histograms of a family.
#[derive(Debug, Clone, Copy)]
struct Latency;

impl MetricConstructor<Histogram> for Latency {
    fn new_metric(&self) -> Histogram {
        Histogram::new(LATENCY_BUCKETS)
    }
}

type Counters = Family<Labels, Counter>;
type Histograms = Family<Labels, Histogram, Latency>;

/// One series, created in its family the first time it is used and held from then on.
#[derive(Debug)]
struct Lazy<M, C = fn() -> M> {
    family: Family<Labels, M, C>,
    labels: Labels,
    handle: OnceLock<M>,
}

impl<M: Clone, C: MetricConstructor<M>> Lazy<M, C> {
    fn new(family: &Family<Labels, M, C>, labels: Labels) -> Self
    where
        C: Clone,
    {
        Self {
            family: family.clone(),
            labels,
            handle: OnceLock::new(),
        }
    }

    fn get(&self) -> &M {
        // Counters and histograms are shared handles: the clone is the series in the family.
        self.handle
            .get_or_init(|| self.family.get_or_create(&self.labels).clone())
    }
}

/// The canonical names of the gRPC status codes, by number (the `grpc_code` label).
pub const GRPC_CODES: [&str; 17] = [
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

/// HTTP status classes (the `code` label), indexed by the status' first digit minus one.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Methods of unmatched requests keep their name only when it is one of these; any other
/// (HTTP allows any token) counts as `OTHER`, so a client cannot mint series.
const KNOWN_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The series of one route template and method (or of unmatched requests of one method).
#[derive(Debug)]
struct HttpSeries {
    requests: [Lazy<Counter>; 5],
    duration: Lazy<Histogram, Latency>,
}

impl HttpSeries {
    fn new(families: &Families, method: &str, template: &str) -> Self {
        let labels = || {
            vec![
                ("method", method.to_owned()),
                ("template", template.to_owned()),
            ]
        };
        Self {
            requests: STATUS_CLASSES.map(|class| {
                let mut labels = labels();
                labels.push(("code", class.to_owned()));
                Lazy::new(&families.http_requests, labels)
            }),
            duration: Lazy::new(&families.http_duration, labels()),
        }
    }

    fn record(&self, status: http::StatusCode, elapsed: Duration) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.requests[class].get().inc();
        self.duration.get().observe(elapsed.as_secs_f64());
    }
}

/// The series of calls to one upstream gRPC method.
#[derive(Debug)]
pub(crate) struct UpstreamSeries {
    calls: [Lazy<Counter>; 17],
    duration: Lazy<Histogram, Latency>,
}

impl UpstreamSeries {
    fn new(families: &Families, service: &str, grpc_path: &str) -> Self {
        let method = grpc_path.rsplit('/').next().unwrap_or(grpc_path);
        let labels = || {
            vec![
                ("grpc_service", service.to_owned()),
                ("grpc_method", method.to_owned()),
            ]
        };
        Self {
            calls: GRPC_CODES.map(|code| {
                let mut labels = labels();
                labels.push(("grpc_code", code.to_owned()));
                Lazy::new(&families.upstream_calls, labels)
            }),
            duration: Lazy::new(&families.upstream_duration, labels()),
        }
    }

    /// Counts one finished call that ended with `code`.
    pub(crate) fn record(&self, code: tonic::Code, elapsed: Duration) {
        let index = (code as usize).min(GRPC_CODES.len() - 1);
        self.calls[index].get().inc();
        self.duration.get().observe(elapsed.as_secs_f64());
    }
}

/// The metric families, registered once.
#[derive(Debug)]
struct Families {
    http_requests: Counters,
    http_duration: Histograms,
    upstream_calls: Counters,
    upstream_duration: Histograms,
}

impl Families {
    fn new() -> Self {
        Self {
            http_requests: Counters::default(),
            http_duration: Histograms::new_with_constructor(Latency),
            upstream_calls: Counters::default(),
            upstream_duration: Histograms::new_with_constructor(Latency),
        }
    }
}

/// What one route records into: its HTTP series, and the upstream method(s) it calls.
#[derive(Debug)]
pub(crate) struct RouteMetrics {
    http: HttpSeries,
    /// The method a plain route calls.
    pub upstream: Arc<UpstreamSeries>,
    /// The methods a composite route's parts call, in part order.
    pub parts: Vec<Arc<UpstreamSeries>>,
}

/// The gateway's metrics: the registry `/metrics` encodes, and every route's handles, in the
/// route table's order.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Arc<Registry>,
    shed: Counter,
    routes: Vec<RouteMetrics>,
    unmatched: [HttpSeries; KNOWN_METHODS.len() + 1],
}

impl Metrics {
    /// Registers the families and prepares the handles of every route of `routes`; the
    /// instances of `upstreams`' discovered services are read at each scrape.
    pub(crate) fn new(routes: &'static [RouteSpec], upstreams: &Upstreams) -> Self {
        let families = Families::new();
        let mut registry = Registry::default();
        registry.register(
            "gateway_http_requests",
            "HTTP requests answered, by route template, method and status class",
            families.http_requests.clone(),
        );
        registry.register(
            "gateway_http_request_duration_seconds",
            "Time from request to response head, by route template and method",
            families.http_duration.clone(),
        );
        registry.register(
            "gateway_upstream_requests",
            "Upstream gRPC calls, by service, method and status code",
            families.upstream_calls.clone(),
        );
        registry.register(
            "gateway_upstream_request_duration_seconds",
            "Upstream gRPC call latency, by service and method",
            families.upstream_duration.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "gateway_http_requests_shed",
            "Requests refused with 503 at once because the in-flight limit was reached",
            shed.clone(),
        );
        registry.register_collector(Box::new(InstancesCollector(upstreams.clone())));

        // One series per upstream method, shared by every route calling it.
        let mut upstream = std::collections::HashMap::<&str, Arc<UpstreamSeries>>::new();
        let mut series = |service: &str, path: &'static str| {
            upstream
                .entry(path)
                .or_insert_with(|| Arc::new(UpstreamSeries::new(&families, service, path)))
                .clone()
        };
        let routes = routes
            .iter()
            .map(|spec| RouteMetrics {
                http: HttpSeries::new(&families, &spec.http_method, &spec.template),
                upstream: series(&spec.grpc_service, static_str(&spec.grpc_path)),
                parts: spec
                    .compose
                    .iter()
                    .flat_map(|compose| compose.parts.iter())
                    .map(|part| series(&part.grpc_service, static_str(&part.grpc_path)))
                    .collect(),
            })
            .collect();
        let unmatched = std::array::from_fn(|i| {
            HttpSeries::new(
                &families,
                KNOWN_METHODS.get(i).copied().unwrap_or("OTHER"),
                "unmatched",
            )
        });
        Self {
            registry: Arc::new(registry),
            shed,
            routes,
            unmatched,
        }
    }

    /// The handles of route `index` of the table.
    pub(crate) fn route(&self, index: usize) -> Option<&RouteMetrics> {
        self.routes.get(index)
    }

    /// Counts one answered request: of route `matched`, or unmatched with `method`.
    pub(crate) fn record_http(
        &self,
        matched: Option<usize>,
        method: &http::Method,
        status: http::StatusCode,
        elapsed: Duration,
    ) {
        let series = match matched.and_then(|index| self.routes.get(index)) {
            Some(route) => &route.http,
            None => {
                let known = KNOWN_METHODS.iter().position(|m| *m == method.as_str());
                &self.unmatched[known.unwrap_or(KNOWN_METHODS.len())]
            }
        };
        series.record(status, elapsed);
    }

    /// Counts one request shed by the in-flight limit.
    pub(crate) fn record_shed(&self) {
        self.shed.inc();
    }

    /// The registry, for the `/metrics` handler.
    pub(crate) fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }
}

/// The route table's text as a `&'static str` (the table is `'static`).
fn static_str(text: &'static crate::spec::Text) -> &'static str {
    text.as_ref()
}

/// `gateway_upstream_instances`: what discovery balances over, read at scrape time.
#[derive(Debug)]
struct InstancesCollector(Upstreams);

impl Collector for InstancesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let statuses = self.0.discovery_status();
        if statuses.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "gateway_upstream_instances",
            "Instances discovery balances over now, per watched service name",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for status in statuses {
            let labels = [("upstream", status.service.as_str())];
            let gauge = ConstGauge::new(i64::try_from(status.endpoints.len()).unwrap_or(i64::MAX));
            gauge.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// `GET /metrics`: the registry in the Prometheus text format.
pub(crate) async fn serve(State(registry): State<Arc<Registry>>) -> Response {
    render(&registry)
}

/// Encodes `registry` as a `/metrics` answer (Prometheus text format 0.0.4).
fn render(registry: &Registry) -> Response {
    use prometheus_client::encoding::prometheus_text;
    let mut body = String::with_capacity(16 * 1024);
    match prometheus_text::encode(&mut body, registry) {
        Ok(()) => (
            [(http::header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            body,
        )
            .into_response(),
        Err(_) => http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
