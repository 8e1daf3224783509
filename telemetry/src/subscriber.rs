//! The process's tracing subscriber: one set-up for the gateway binary and every service.

use std::io::IsTerminal as _;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, Registry};

use crate::TelemetryError;

/// The variable that turns span export on (OTLP over gRPC, e.g. `http://127.0.0.1:4317`).
const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The signal-specific endpoint, which the exporter prefers when both are set.
const OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// Overrides the `service.name` resource (read by the SDK's resource detector).
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// How long shutdown waits for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, with the current span's fields (`trace_id`) and the span list.
    Json,
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogWriter {
    /// Standard output (the services).
    #[default]
    Stdout,
    /// Standard error (the gateway, whose stdout carries only its "listening on" lines).
    Stderr,
}

/// What differs between the processes calling [`init`].
#[derive(Debug, Clone, Copy)]
pub struct SubscriberConfig {
    /// The `service.name` resource of exported spans (the binary's name); `OTEL_SERVICE_NAME`
    /// overrides it.
    pub service_name: &'static str,
    /// The line format.
    pub format: LogFormat,
    /// Where lines go.
    pub writer: LogWriter,
}

/// The installed telemetry; [`Telemetry::shutdown`] flushes the spans not yet exported. Keep it
/// until the process ends.
#[derive(Debug)]
#[must_use = "shut it down on exit, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported (`OTEL_EXPORTER_OTLP_ENDPOINT` was set).
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still buffered and stops the exporter; call on graceful exit. Does
    /// nothing when nothing is exported. Waits at most 5 seconds.
    pub async fn shutdown(self) -> Result<(), TelemetryError> {
        let Some(provider) = self.provider else {
            return Ok(());
        };
        // The SDK's shutdown blocks until its export thread is done; the export itself needs
        // this runtime's reactor (tonic), so block elsewhere.
        tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
            .await
            .map_err(|err| TelemetryError::Shutdown(err.to_string()))?
            .map_err(|err| TelemetryError::Shutdown(err.to_string()))
    }
}

/// Installs the global tracing subscriber: the filter from `RUST_LOG` (default `info`), fmt
/// lines as `config` says, and, only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the OpenTelemetry layer exporting every
/// span over OTLP/gRPC through a batch exporter. Also installs the W3C propagator as the
/// global one, for libraries that use it.
///
/// Must run inside a tokio runtime (the exporter's channel). A second call installs nothing
/// (tests may call it from many places) and returns a [`Telemetry`] that exports nothing.
pub fn init(config: SubscriberConfig) -> Result<Telemetry, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let provider = if endpoint_set() {
        Some(provider(config.service_name)?)
    } else {
        None
    };
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(config.service_name))
    });
    let installed = tracing_subscriber::registry()
        .with(fmt_layer(config))
        .with(otel)
        .with(filter)
        .try_init();
    match (installed, provider) {
        (Ok(()), provider) => {
            if let Some(provider) = &provider {
                opentelemetry::global::set_tracer_provider(provider.clone());
            }
            Ok(Telemetry { provider })
        }
        // Already installed (a test calling twice): this provider has no layer feeding it.
        (Err(_), provider) => {
            if let Some(provider) = provider {
                let _ = provider.shutdown();
            }
            Ok(Telemetry { provider: None })
        }
    }
}

fn endpoint_set() -> bool {
    [OTLP_ENDPOINT, OTLP_TRACES_ENDPOINT]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// The tracer provider exporting to the configured endpoint, its `service.name` the binary's
/// unless `OTEL_SERVICE_NAME` says otherwise.
fn provider(service_name: &'static str) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
    let mut resource = Resource::builder();
    if std::env::var_os(SERVICE_NAME).is_none_or(|value| value.is_empty()) {
        resource = resource.with_service_name(service_name);
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// The fmt layer: text or JSON, to stdout or stderr, colours only on a terminal (piped output,
/// for log collectors, stays plain).
fn fmt_layer(
    config: SubscriberConfig,
) -> Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> {
    let layer = tracing_subscriber::fmt::layer();
    match (config.writer, config.format) {
        (LogWriter::Stdout, LogFormat::Text) => {
            layer.with_ansi(std::io::stdout().is_terminal()).boxed()
        }
        (LogWriter::Stdout, LogFormat::Json) => layer.json().boxed(),
        (LogWriter::Stderr, LogFormat::Text) => layer
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        (LogWriter::Stderr, LogFormat::Json) => layer.json().with_writer(std::io::stderr).boxed(),
    }
}
