//! Structured logging through `tracing`, and spans exported over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the `telemetry` crate, shared with the gateway).

use tracing_subscriber::EnvFilter;

/// Puts the current trace context into an outgoing call's metadata (`traceparent`,
/// `tracestate`): a service calling others does this on every request, inside the span of the
/// work the call is part of, so the callee's spans join the caller's trace.
pub use telemetry::grpc::inject_metadata;

use crate::config::LogFormat;

/// Installs the global tracing subscriber ([`telemetry::init`]): filter from `RUST_LOG` (default
/// `info`), lines in `format` on stdout, each carrying the trace id of the call it belongs to;
/// spans exported under `service.name` = `service_name` (the binary's name) when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Call once, first thing in `main`, inside the runtime;
/// later calls install nothing. Shut the returned [`telemetry::Telemetry`] down on exit so the
/// last spans are flushed.
pub fn init_tracing(
    service_name: &'static str,
    format: LogFormat,
) -> anyhow::Result<telemetry::Telemetry> {
    Ok(telemetry::init(telemetry::SubscriberConfig {
        service_name,
        format: match format {
            LogFormat::Text => telemetry::LogFormat::Text,
            LogFormat::Json => telemetry::LogFormat::Json,
        },
        writer: telemetry::LogWriter::Stdout,
    })?)
}

/// Installs a subscriber for tests: output goes through the test harness (shown only for
/// failing tests), filter from `RUST_LOG` (default `warn`). Safe to call from every test.
pub fn init_test_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// The current trace context as a W3C `traceparent` value (`None` outside any trace), for a
/// carrier that outlives the call: an outbox row becomes a NATS message later, and the message
/// carries this header so its consumers' spans join the trace of the request that made it.
pub fn current_traceparent() -> Option<String> {
    let mut traceparent = None;
    telemetry::inject_fn(&telemetry::current_context(), |name, value| {
        if name == "traceparent" {
            traceparent = Some(value);
        }
    });
    traceparent
}

/// Spawns `work` as its own task that keeps the current tracing span and trace context: what it
/// logs carries the trace id, and the calls it makes carry the `traceparent`, as if it ran in
/// the caller's task (which it outlives).
pub fn spawn_in_context<F>(work: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    use telemetry::opentelemetry::trace::FutureExt as _;
    use tracing::Instrument as _;
    let cx = telemetry::current_context();
    tokio::spawn(work.in_current_span().with_context(cx))
}

/// A span for handling one message received with `traceparent` (its header, if any): a child
/// of the trace that published it, with that trace id recorded so every log line inside it
/// carries the id. `name` says what the handling is.
pub fn message_span(name: &'static str, traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "message",
        otel.name = name,
        trace_id = tracing::field::Empty
    );
    let parent =
        telemetry::extract_fn(|header| (header == "traceparent").then_some(traceparent).flatten());
    telemetry::adopt(&span, parent, false);
    span
}
