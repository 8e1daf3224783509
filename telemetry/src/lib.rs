//! W3C trace context (`traceparent`, `tracestate`) for every hop of a request, and the
//! process's tracing subscriber.
//!
//! One crate so that the gateway runtime and the services agree on how a trace is carried
//! without either depending on the other:
//!
//! - [`propagation`]: extract a context from, and inject one into, HTTP headers, gRPC metadata
//!   or any key/value header map (message headers), and [`adopt`]: make a server span the
//!   child of what arrived (or of a new trace) and record its `trace_id` field, so that every
//!   log line written inside the span names the trace;
//! - [`grpc`]: the tonic server layer opening that span per call, and the client-side
//!   injection of the current context into outgoing metadata;
//! - `init` (feature `subscriber`): fmt logs, plus span export over OTLP/gRPC when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Unset, no OpenTelemetry layer is installed at all:
//!   the trace context is still carried and logged, but no span is built or exported.

pub mod grpc;
pub mod propagation;
#[cfg(feature = "subscriber")]
mod subscriber;

/// The OpenTelemetry API and its `tracing` bridge, at the versions this crate uses, for span
/// attributes and contexts beyond the helpers here.
pub use {opentelemetry, tracing_opentelemetry};

pub use propagation::{
    TRACEPARENT, TRACESTATE, adopt, current_context, exported, extract_fn, extract_http, inject_fn,
    inject_http, trace_id,
};
#[cfg(feature = "subscriber")]
pub use subscriber::{LogFormat, LogWriter, SubscriberConfig, Telemetry, init};

/// What can go wrong setting telemetry up or tearing it down.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP span exporter could not be built (a malformed endpoint, usually).
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(String),
    /// Flushing the spans still buffered at shutdown failed (the collector is unreachable).
    #[error("cannot flush the spans at shutdown: {0}")]
    Shutdown(String),
}
