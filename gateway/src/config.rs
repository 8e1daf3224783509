//! The gateway's configuration, independent of how it was given (flags, env, tests).

use std::time::Duration;

use crate::upstream::Upstreams;

/// Default maximum request body size: 4 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Default per-request deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default deadline of a server-streaming call: an hour. A live feed (a purchase being
/// watched) is meant to stay open; the request deadline would cut it every few seconds.
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Default idle time after which a Server-Sent Events answer sends a `: keep-alive` comment.
pub const DEFAULT_SSE_HEARTBEAT: Duration = Duration::from_secs(15);
/// Default limit of requests served at once ([`GatewayConfig::max_in_flight`]). Each request
/// may hold up to [`GatewayConfig::body_limit`] of body, so this bounds that memory (512 x the
/// default 4 MiB = 2 GiB at worst, usually far less); by Little's law it still admits 50k
/// requests per second at 10 ms each, more than one instance serves.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;
/// The `Retry-After` (seconds) of a request shed by [`GatewayConfig::max_in_flight`]: short,
/// since a full gateway usually frees up within milliseconds, but not zero, so that well-behaved
/// clients back off instead of retrying in a tight loop.
pub const SHED_RETRY_AFTER_SECS: u64 = 1;
/// An HTTP/1.1 request refused with 413 while its body is still coming is read and discarded
/// (nginx's "lingering close") for at most this long after the answer, so that a client that
/// writes its whole body before reading (Python's `http.client`, many others) gets the 413
/// instead of a reset connection. Bounded, so a client cannot hold the connection forever.
pub const OVERSIZED_DRAIN_TIME: Duration = Duration::from_secs(5);
/// ... and at most this many bytes of it: past this, the connection is closed unread.
pub const OVERSIZED_DRAIN_BYTES: u64 = 64 * 1024 * 1024;

/// Field names in JSON responses (input always accepts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonNames {
    /// Proto field names (`user_id`): the default, as the seed's responses use.
    #[default]
    Proto,
    /// lowerCamelCase JSON names (`userId`), or the field's `json_name`.
    Camel,
}

/// Everything [`crate::app`] needs besides the route table and descriptors.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Channels to the upstream gRPC services, by service name.
    pub upstreams: Upstreams,
    /// Maximum request body size in bytes; larger bodies get 413.
    pub body_limit: usize,
    /// Per-request deadline; a smaller client `Grpc-Timeout` wins. Exceeded: 504.
    pub timeout: Duration,
    /// The deadline of a server-streaming (or bidirectional) call instead of `timeout`: a stream
    /// is a feed that may stay open long, and ends with a `DEADLINE_EXCEEDED` error event (SSE)
    /// or line (NDJSON) when this passes; a client's smaller `Grpc-Timeout` still wins. Default
    /// one hour; an `EventSource` reconnects with `Last-Event-ID` afterwards.
    pub stream_timeout: Duration,
    /// Origins allowed by CORS (`*` for any); empty disables CORS.
    pub cors_origins: Vec<String>,
    /// Field names in responses.
    pub json_names: JsonNames,
    /// Write fields holding their default value (`0`, `""`, `false`, `[]`) in responses.
    /// Default `true`: every declared field is always present, which is what typed clients
    /// generated from the OpenAPI document expect (grpc-gateway v2's default too).
    pub emit_unpopulated: bool,
    /// The OpenAPI document (JSON) served at `/openapi.json` and shown by Swagger UI at `/docs`.
    pub openapi_json: Option<&'static str>,
    /// The same document as YAML, served at `/openapi.yaml`.
    pub openapi_yaml: Option<&'static str>,
    /// Request headers forwarded to upstreams as gRPC metadata of the same (lower-case) name on
    /// every route, besides the ones always forwarded (`Authorization`, `X-Request-Id`,
    /// `Grpc-Metadata-*`, and `traceparent`/`tracestate` as the request span's) and the ones each route declares (`RouteSpec::headers`, from the
    /// `gateway.v1.header` method option, which is the way to forward a header a method reads,
    /// such as `Idempotency-Key`). Empty by default, so nothing else leaves the gateway unless
    /// declared or configured.
    pub forwarded_headers: Vec<http::HeaderName>,
    /// Serve Prometheus metrics at `GET /metrics` on the gateway's own router (never routed
    /// upstream) and record them per route template, upstream method and discovered service
    /// (see the README's "Metrics"). Default `true`; a route of the table at `GET /metrics`
    /// makes [`crate::app`] refuse to start unless this is `false`.
    pub metrics: bool,
    /// A server stream answered as Server-Sent Events (`Accept: text/event-stream`) sends a
    /// `: keep-alive` comment whenever no event was sent for this long, so that proxies and load
    /// balancers that close idle connections (often after 30 to 60 s) keep it open, and a client
    /// notices a dead connection. Default 15 s; zero is taken as the default.
    pub sse_heartbeat: Duration,
    /// Check each request message against its `buf.validate` rules (the standard rules the
    /// `proto-validate` crate knows; rules compiled once per route at start-up) before calling
    /// upstream, answering a broken one with 400 INVALID_ARGUMENT and a `google.rpc.BadRequest`
    /// detail (one field violation per broken rule), the answer a service checking with
    /// `proto-validate` gives: bad input costs no upstream call. Default `true`; routes whose
    /// messages carry no rules are unaffected. Rules the crate does not check (CEL, ...) are
    /// logged at start-up and left to the service.
    pub validate_requests: bool,
    /// The most requests of the route table served at once; one more is answered at once with
    /// 503 UNAVAILABLE (a `google.rpc.Status` body) and `Retry-After: 1`, never queued, so that
    /// an overloaded gateway keeps its memory and the latency of the requests it admits bounded
    /// and clients (or a load balancer) retry elsewhere or later. A request counts from its
    /// arrival at the handler until its response head is ready (a stream's body is not
    /// counted). `/healthz`, `/readyz`, `/metrics` and the documents are never limited, so
    /// probes and scrapes keep working under overload. Shed requests are counted by
    /// `gateway_http_requests_shed_total`. Default [`DEFAULT_MAX_IN_FLIGHT`]; `0` disables the
    /// limit.
    pub max_in_flight: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            upstreams: Upstreams::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            timeout: DEFAULT_TIMEOUT,
            stream_timeout: DEFAULT_STREAM_TIMEOUT,
            cors_origins: Vec::new(),
            json_names: JsonNames::Proto,
            emit_unpopulated: true,
            openapi_json: None,
            openapi_yaml: None,
            forwarded_headers: Vec::new(),
            metrics: true,
            sse_heartbeat: DEFAULT_SSE_HEARTBEAT,
            validate_requests: true,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

/// Parses a duration flag: `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (number, unit) = value
        .find(|c: char| !c.is_ascii_digit())
        .map_or((value, ""), |at| value.split_at(at));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{value}` is not a duration such as 500ms, 10s or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(60 * 60))),
        _ => Err(format!(
            "`{value}` is not a duration such as 500ms, 10s or 2m"
        )),
    }
}

/// Parses a size flag: bytes, or with a `KiB`/`MiB` suffix (`4MiB`).
pub fn parse_size(value: &str) -> Result<usize, String> {
    let value = value.trim();
    let (number, unit) = value
        .find(|c: char| !c.is_ascii_digit())
        .map_or((value, ""), |at| value.split_at(at));
    let n: usize = number
        .parse()
        .map_err(|_| format!("`{value}` is not a size such as 65536, 512KiB or 4MiB"))?;
    let factor = match unit {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        _ => {
            return Err(format!(
                "`{value}` is not a size such as 65536, 512KiB or 4MiB"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{value}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("4MiB"), Ok(DEFAULT_BODY_LIMIT));
        assert!(parse_size("4GB").is_err());
        assert!(parse_size("").is_err());
    }
}
