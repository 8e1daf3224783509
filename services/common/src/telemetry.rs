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
