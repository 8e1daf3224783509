//! The `shop-gateway` binary: flags and environment -> [`gateway::GatewayConfig`], then serve
//! the shop's routes ([`shop_gateway::app`]) until SIGTERM or Ctrl-C.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use gateway::config::{parse_duration, parse_size};
use gateway::{GatewayConfig, JsonNames, UpstreamSpec, Upstreams};

/// Response field naming.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Names {
    /// Proto field names (`user_id`).
    Proto,
    /// lowerCamelCase JSON names (`userId`).
    Camel,
}

/// REST/JSON gateway in front of the gRPC services (routes from `google.api.http`).
#[derive(Debug, Parser)]
#[command(name = "shop-gateway", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Upstream gRPC service address, `service=uri` (repeatable), e.g.
    /// `users.v1.UserService=http://127.0.0.1:50051`, or `service=consul://<name>` to follow
    /// Consul's passing instances of `<name>` (needs CONSUL_HTTP_ADDR). The env var takes a
    /// comma-separated list.
    #[arg(long = "upstream", env = "GATEWAY_UPSTREAMS", value_delimiter = ',')]
    upstreams: Vec<UpstreamSpec>,
    /// Maximum request body size: bytes, or with a KiB/MiB suffix. Larger bodies get 413.
    #[arg(long, env = "GATEWAY_BODY_LIMIT", default_value = "4MiB", value_parser = parse_size)]
    body_limit: usize,
    /// Per-request deadline (`500ms`, `10s`, `2m`); a smaller client `Grpc-Timeout` wins.
    #[arg(long, env = "GATEWAY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Deadline of a server stream (NDJSON or Server-Sent Events, e.g. a watched purchase)
    /// instead of `--timeout`: a feed stays open this long (`30m`, `1h`); a smaller client
    /// `Grpc-Timeout` wins.
    #[arg(long, env = "GATEWAY_STREAM_TIMEOUT", default_value = "1h", value_parser = parse_duration)]
    stream_timeout: Duration,
    /// Origin allowed by CORS (repeatable; `*` for any). None: CORS disabled.
    #[arg(
        long = "cors-origin",
        env = "GATEWAY_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Field names in JSON responses.
    #[arg(long, env = "GATEWAY_JSON_NAMES", value_enum, default_value = "proto")]
    json_names: Names,
    /// Leave fields holding their default value out of responses.
    #[arg(long, env = "GATEWAY_OMIT_UNPOPULATED")]
    omit_unpopulated: bool,
    /// Request header forwarded to the services as gRPC metadata of the same name on every
    /// route (repeatable), besides `Authorization`, `X-Request-Id`, `Grpc-Metadata-*` and the
    /// W3C trace context, which are always forwarded, and the headers the protos declare for their routes
    /// (`Idempotency-Key` on the purchase and refund routes).
    #[arg(
        long = "forward-header",
        env = "GATEWAY_FORWARD_HEADERS",
        value_delimiter = ','
    )]
    forward_headers: Vec<http::HeaderName>,
    /// Do not serve Prometheus metrics at `GET /metrics` (served by default, on the listen
    /// address; see the README's "Metrics").
    #[arg(long, env = "GATEWAY_NO_METRICS")]
    no_metrics: bool,
    /// Idle time after which a server stream answered as Server-Sent Events
    /// (`Accept: text/event-stream`) sends a `: keep-alive` comment, so that proxies keep the
    /// connection open (`500ms`, `15s`, `1m`).
    #[arg(long, env = "GATEWAY_SSE_HEARTBEAT", default_value = "15s", value_parser = parse_duration)]
    sse_heartbeat: Duration,
    /// Check requests against their protos' `buf.validate` rules before calling the services
    /// (on by default): a broken rule is a 400 with a `google.rpc.BadRequest` detail and costs
    /// no upstream call. `--validate-requests=false` leaves all checking to the services.
    #[arg(
        long,
        env = "GATEWAY_VALIDATE_REQUESTS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    validate_requests: bool,
    /// Most requests served at once; one more is answered at once with 503 and
    /// `Retry-After: 1` instead of waiting (load shedding; `/healthz`, `/readyz` and
    /// `/metrics` are never limited). Each request may hold up to `--body-limit` of body, so
    /// this also bounds that memory. `0`: no limit.
    #[arg(long, env = "GATEWAY_MAX_IN_FLIGHT", default_value_t = gateway::config::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// Most client connections open at once; at the limit the next waits in the kernel's
    /// accept backlog until one closes (keep-alive connections are mostly idle: this bounds
    /// descriptors and memory, `--max-in-flight` bounds work). `0`: no limit.
    #[arg(long, env = "GATEWAY_MAX_CONNECTIONS", default_value_t = gateway::serve::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Time an HTTP/1.1 client has to send a request's headers, and an idle keep-alive
    /// connection to start its next request, before the connection is closed (`30s`); a
    /// response being sent (an event stream) is not cut by it.
    #[arg(long, env = "GATEWAY_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    header_read_timeout: Duration,
    #[command(flatten)]
    consul: discovery::ConsulArgs,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn run(args: Args) -> Result<(), String> {
    let discovery = args.consul.discovery().map_err(|e| e.to_string())?;
    let upstreams =
        Upstreams::resolve(&args.upstreams, discovery.as_ref()).map_err(|e| e.to_string())?;
    let config = GatewayConfig {
        upstreams,
        body_limit: args.body_limit,
        timeout: args.timeout,
        stream_timeout: args.stream_timeout,
        cors_origins: args.cors_origins,
        json_names: match args.json_names {
            Names::Proto => JsonNames::Proto,
            Names::Camel => JsonNames::Camel,
        },
        emit_unpopulated: !args.omit_unpopulated,
        openapi_json: None,
        openapi_yaml: None,
        forwarded_headers: args.forward_headers,
        metrics: !args.no_metrics,
        sse_heartbeat: args.sse_heartbeat,
        validate_requests: args.validate_requests,
        max_in_flight: args.max_in_flight,
    };
    let app = shop_gateway::app(config).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut banner =
        format!("gateway listening on http://{local} (Swagger UI at http://{local}/docs)\n");
    if !args.no_metrics {
        banner.push_str(&format!("  metrics at http://{local}/metrics\n"));
    }
    for spec in &args.upstreams {
        banner.push_str(&format!("  upstream {} -> {}\n", spec.service, spec.uri));
    }
    // A closed stdout must not stop the server (println! would panic on EPIPE).
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);
    let options = gateway::serve::ServeOptions {
        max_connections: (args.max_connections > 0).then_some(args.max_connections),
        header_read_timeout: args.header_read_timeout,
        ..gateway::serve::ServeOptions::default()
    };
    gateway::serve::serve(listener, app, options, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr; stdout carries only the "listening on" lines.
    let telemetry = match telemetry::init(telemetry::SubscriberConfig {
        service_name: "shop-gateway",
        format: telemetry::LogFormat::Text,
        writer: telemetry::LogWriter::Stderr,
    }) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("shop-gateway: {err}");
            return ExitCode::FAILURE;
        }
    };
    let args = Args::parse();
    let outcome = run(args).await;
    // Flush the spans still buffered; losing them is worth a warning, not a failed exit.
    if let Err(err) = telemetry.shutdown().await {
        tracing::warn!(error = %err, "exporting the last spans failed");
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("shop-gateway: {reason}");
            ExitCode::FAILURE
        }
    }
}
