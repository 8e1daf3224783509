//! Carrying a trace across process boundaries in W3C trace context headers
//! (`traceparent`, `tracestate`), whatever carries the headers: HTTP requests, gRPC metadata,
//! message headers.
//!
//! Works with and without the OpenTelemetry layer installed. With it, a server span's context
//! is the exported span's (a child of what arrived); without it there is no span to export,
//! so the context that arrived is passed on unchanged (a hop that records nothing should not
//! appear in the trace), and a request that arrived without one starts a new trace, so its
//! logs and the services it calls still share one trace id.

use std::marker::PhantomData;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header naming the trace, the parent span and the sampling decision.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header carrying vendor-specific trace state along with `traceparent`.
pub const TRACESTATE: &str = "tracestate";

/// The context carried by any header map, read through `get` (a header's value by its
/// lower-case name, `None` when absent or not text). An absent or malformed `traceparent`
/// yields an empty context (no parent), never an error: a caller's bad header must not fail
/// its request.
///
/// This is the hook for carriers this crate does not know, e.g. NATS message headers:
/// `extract_fn(|name| headers.get(name).map(|v| v.as_str()))`.
pub fn extract_fn<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Context {
    TraceContextPropagator::new().extract(&FnExtractor(get, PhantomData))
}

/// Writes `cx`'s trace context through `set(name, value)` (`traceparent`, and `tracestate`
/// when not empty); writes nothing when `cx` holds no valid span context.
///
/// The hook for carriers this crate does not know, e.g. NATS message headers:
/// `inject_fn(&cx, |name, value| headers.insert(name, value.as_str()))`.
pub fn inject_fn(cx: &Context, mut set: impl FnMut(&'static str, String)) {
    let span = cx.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        return;
    }
    set(TRACEPARENT, traceparent(span_context));
    let state = span_context.trace_state().header();
    if !state.is_empty() {
        set(TRACESTATE, state);
    }
}

/// The `traceparent` value of a valid span context, as the W3C propagator writes it (version
/// 00, lower-case hex, only the sampled flag), without its `format!`: the gateway writes one
/// per request, and formatting three numbers through `core::fmt` was a visible share of the
/// request's own work in the benchmark's profile.
fn traceparent(span_context: &SpanContext) -> String {
    let mut value = String::with_capacity(55);
    value.push_str("00-");
    push_hex(&mut value, &span_context.trace_id().to_bytes());
    value.push('-');
    push_hex(&mut value, &span_context.span_id().to_bytes());
    value.push('-');
    push_hex(
        &mut value,
        &[(span_context.trace_flags() & TraceFlags::SAMPLED).to_u8()],
    );
    value
}

/// Appends `bytes` to `out` as lower-case hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// The context carried by HTTP headers (gRPC metadata is HTTP/2 headers, so this serves a
/// tonic server's `http::Request` too).
pub fn extract_http(headers: &http::HeaderMap) -> Context {
    extract_fn(|name| headers.get(name).and_then(|v| v.to_str().ok()))
}

/// Replaces the trace context headers of `headers` with `cx`'s (removes them when `cx` holds
/// no valid span context).
pub fn inject_http(cx: &Context, headers: &mut http::HeaderMap) {
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
    inject_fn(cx, |name, value| {
        // Both values are built from validated ids and trace state: always valid header text.
        if let Ok(mut value) = http::HeaderValue::try_from(value) {
            value.set_sensitive(never_indexed(name));
            headers.insert(name, value);
        }
    });
}

/// Whether the header `name` written by this crate is marked sensitive, so that HTTP/2 sends
/// it never-indexed: `traceparent` names a new span on every call, and indexing it would only
/// churn the HPACK table (evicting the entries that do repeat). Whoever copies these headers
/// on keeps the mark.
pub(crate) fn never_indexed(name: &str) -> bool {
    name == TRACEPARENT
}

/// The trace id of `cx`, when it holds a valid span context.
pub fn trace_id(cx: &Context) -> Option<TraceId> {
    let span = cx.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id())
}

/// The context to pass on from here: the current tracing span's (when the OpenTelemetry layer
/// is installed), else the OpenTelemetry context attached to the running task (what
/// [`crate::grpc::ServerTraceLayer`] attaches without the layer).
pub fn current_context() -> Context {
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        cx
    } else {
        Context::current()
    }
}

/// Whether `span` becomes an OpenTelemetry span (the layer is installed and the span enabled):
/// worth paying for attributes that only the exported span carries.
pub fn exported(span: &tracing::Span) -> bool {
    span.context().span().span_context().is_valid()
}

/// Makes the server span `span` the child of `parent` (what arrived with the request) and
/// returns the context to pass on to what the request calls; records the trace id in the
/// span's `trace_id` field (declare it `trace_id = tracing::field::Empty`), so every log line
/// written inside the span carries it.
///
/// With the OpenTelemetry layer the context is `span`'s own. Without it, it is `parent`, or,
/// when nothing valid arrived and `start` is set (the edge of the system: the gateway), a new
/// trace with a random trace and span id, sampled.
pub fn adopt(span: &tracing::Span, parent: Context, start: bool) -> Context {
    // Fails only without the layer (or with the span disabled): handled below.
    let _ = span.set_parent(parent.clone());
    let own = span.context();
    let cx = if own.span().span_context().is_valid() {
        own
    } else if parent.span().span_context().is_valid() || !start {
        parent
    } else {
        new_trace()
    };
    if let Some(id) = trace_id(&cx) {
        let mut hex = String::with_capacity(32);
        push_hex(&mut hex, &id.to_bytes());
        // As `display`: a plain `&str` would be written quoted (`trace_id="..."`) by the
        // text formatter, unlike every other id in the logs.
        span.record("trace_id", tracing::field::display(hex.as_str()));
    }
    cx
}

/// A context starting a new trace: random ids, sampled (the services decide to record from
/// this flag, as the gateway that starts the trace would have done).
fn new_trace() -> Context {
    let ids = RandomIdGenerator::default();
    Context::new().with_remote_span_context(SpanContext::new(
        ids.new_trace_id(),
        ids.new_span_id(),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    ))
}

/// An [`Extractor`] over a lookup function returning text that lives for `'a`.
struct FnExtractor<'a, F>(F, PhantomData<&'a str>);

impl<'a, F: Fn(&str) -> Option<&'a str>> Extractor for FnExtractor<'a, F> {
    fn get(&self, key: &str) -> Option<&str> {
        (self.0)(key)
    }

    fn keys(&self) -> Vec<&str> {
        // Only the W3C propagator reads this carrier, and it looks its two names up.
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn http_headers_round_trip() {
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, http::HeaderValue::from_static(PARENT));
        headers.insert(
            TRACESTATE,
            http::HeaderValue::from_static("congo=t61rcWkgMzE"),
        );
        let cx = extract_http(&headers);
        assert_eq!(
            trace_id(&cx).map(|id| id.to_string()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert!(cx.span().span_context().is_remote());
        let mut out = http::HeaderMap::new();
        out.insert(TRACESTATE, http::HeaderValue::from_static("stale=1"));
        inject_http(&cx, &mut out);
        assert_eq!(out.get(TRACEPARENT).expect("injected"), PARENT);
        assert_eq!(out.get(TRACESTATE).expect("injected"), "congo=t61rcWkgMzE");
        // New on every call: never-indexed; the trace state repeats and may be indexed.
        assert!(out.get(TRACEPARENT).expect("injected").is_sensitive());
        assert!(!out.get(TRACESTATE).expect("injected").is_sensitive());
    }

    #[test]
    fn traceparent_is_written_as_the_w3c_propagator_writes_it() {
        use opentelemetry::propagation::TextMapPropagator as _;

        for (flags, state) in [
            (TraceFlags::SAMPLED, TraceState::default()),
            (TraceFlags::new(0), TraceState::default()),
            // Flags beyond `sampled` are not passed on.
            (
                TraceFlags::new(0xff),
                TraceState::from_key_value([("congo", "t61")]).expect("valid"),
            ),
        ] {
            let cx = Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex"),
                opentelemetry::trace::SpanId::from_hex("b7ad6b7169203331").expect("hex"),
                flags,
                true,
                state,
            ));
            let mut ours = HashMap::new();
            inject_fn(&cx, |name, value| {
                ours.insert(name.to_owned(), value);
            });
            let mut reference = HashMap::new();
            TraceContextPropagator::new().inject_context(&cx, &mut reference);
            reference.retain(|_, value: &mut String| !value.is_empty());
            assert_eq!(ours, reference);
        }
        // An invalid context writes nothing.
        let mut written = 0;
        inject_fn(&Context::new(), |_, _| written += 1);
        assert_eq!(written, 0);
    }

    #[test]
    fn bad_or_missing_traceparent_is_no_parent() {
        for value in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let cx = extract_fn(|name| (name == TRACEPARENT).then_some(value));
            assert_eq!(trace_id(&cx), None, "{value:?}");
        }
        // Nothing valid to pass on: the trace headers are removed, not copied.
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, http::HeaderValue::from_static("garbage"));
        inject_http(&Context::new(), &mut headers);
        assert!(headers.is_empty());
    }

    #[test]
    fn any_key_value_carrier() {
        // A stand-in for message headers (NATS): a map of strings.
        let mut carrier: HashMap<String, String> = HashMap::new();
        let cx = extract_fn(|name| (name == TRACEPARENT).then_some(PARENT));
        inject_fn(&cx, |name, value| {
            carrier.insert(name.to_owned(), value);
        });
        assert_eq!(carrier.len(), 1, "no empty tracestate: {carrier:?}");
        assert_eq!(carrier[TRACEPARENT], PARENT);
        let back = extract_fn(|name| carrier.get(name).map(String::as_str));
        assert_eq!(trace_id(&back), trace_id(&cx));
    }

    #[test]
    fn without_the_layer_the_parent_is_passed_on_or_a_trace_started() {
        // No subscriber with the OpenTelemetry layer in this test: `adopt` falls back.
        let span = tracing::info_span!("request", trace_id = tracing::field::Empty);
        let parent = extract_fn(|name| (name == TRACEPARENT).then_some(PARENT));
        let cx = adopt(&span, parent, true);
        assert_eq!(
            cx.span().span_context().span_id().to_string(),
            "00f067aa0ba902b7"
        );
        let started = adopt(&span, Context::new(), true);
        let first = trace_id(&started).expect("a new trace");
        let again = trace_id(&adopt(&span, Context::new(), true)).expect("a new trace");
        assert_ne!(first, again);
        assert!(started.span().span_context().is_sampled());
        // A service (`start` unset) never starts a trace of its own.
        assert_eq!(trace_id(&adopt(&span, Context::new(), false)), None);
    }
}
