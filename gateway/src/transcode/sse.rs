//! Server-Sent Events (`text/event-stream`) for server streams: which framing a request asks
//! for ([`StreamFormat::negotiate`]), each event's `id:` ([`EventIds`]), and the framing itself
//! (one event per message, `: keep-alive` comments while idle, a closing `event: error`).
//!
//! The JSON inside each `data:` line is the one [`super::response::ResponseEncoder`] writes for
//! newline-delimited JSON, so both framings carry the same values.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{HeaderMap, header};
use prost_reflect::{DynamicMessage, FieldDescriptor, MessageDescriptor, Value};

use crate::error::{GatewayError, status_body};
use crate::route::field_chain;
use crate::spec::RouteSpec;

/// The media type of Server-Sent Events.
pub(crate) const EVENT_STREAM: &str = "text/event-stream";
/// The media type of newline-delimited JSON, the default framing of a server stream.
pub(crate) const NDJSON: &str = "application/x-ndjson";
/// The comment sent when a stream has been idle for the heartbeat interval.
const HEARTBEAT: &[u8] = b": keep-alive\n\n";

/// How a server stream is framed, chosen per request from its `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamFormat {
    /// `application/x-ndjson`: one JSON value per line (the default).
    Ndjson,
    /// `text/event-stream`: one Server-Sent Event per message.
    EventStream,
}

impl StreamFormat {
    /// Server-Sent Events when `Accept` gives `text/event-stream` a higher quality than
    /// `application/x-ndjson` (each judged by the most specific media range that matches it, as
    /// RFC 9110 12.5.1 says); newline-delimited JSON otherwise: without `Accept`, for `*/*`
    /// (curl's default) and for a tie, so that clients that never asked see no change. A
    /// `text/event-stream;q=0` never gets events.
    pub(crate) fn negotiate(headers: &HeaderMap) -> Self {
        let ranges: Vec<MediaRange<'_>> = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(MediaRange::parse)
            .collect();
        let events = quality(&ranges, "text", "event-stream");
        let ndjson = quality(&ranges, "application", "x-ndjson");
        if events > 0 && events > ndjson {
            StreamFormat::EventStream
        } else {
            StreamFormat::Ndjson
        }
    }
}

/// One media range of an `Accept` header: `type/subtype` (either may be `*`) and its weight in
/// thousandths (`q=0.5` is 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    quality: u16,
}

impl<'a> MediaRange<'a> {
    /// Parses `type/subtype *(; param)`; `None` for an element that is not a media range or
    /// has a malformed `q` (it is ignored, as if not sent).
    fn parse(element: &'a str) -> Option<Self> {
        let mut parts = element.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut quality = 1000;
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("q") {
                quality = parse_quality(value.trim())?;
            }
        }
        Some(MediaRange {
            kind,
            subtype,
            quality,
        })
    }

    /// How specifically this range names `kind/subtype`: 2 exactly, 1 as `kind/*`, 0 as `*/*`;
    /// `None` when it does not match it.
    fn specificity(&self, kind: &str, subtype: &str) -> Option<u8> {
        let kind_matches = self.kind == "*" || self.kind.eq_ignore_ascii_case(kind);
        let subtype_matches = self.subtype == "*" || self.subtype.eq_ignore_ascii_case(subtype);
        if !(kind_matches && subtype_matches) {
            return None;
        }
        Some(u8::from(self.kind != "*") + u8::from(self.subtype != "*"))
    }
}

/// A `qvalue` (RFC 9110 12.4.2: `0`, `1`, up to three decimals) in thousandths.
fn parse_quality(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The quality `ranges` give `kind/subtype`: the most specific matching range's (the highest
/// among equally specific ones), 0 when none matches.
fn quality(ranges: &[MediaRange<'_>], kind: &str, subtype: &str) -> u16 {
    ranges
        .iter()
        .filter_map(|range| Some((range.specificity(kind, subtype)?, range.quality)))
        .max()
        .map_or(0, |(_, quality)| quality)
}

/// A route's `gateway.v1.event_stream`, resolved at start-up.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventIds {
    /// The response field chain whose value is each event's id; empty for the ordinal.
    id_field: Vec<FieldDescriptor>,
    /// The request field `Last-Event-ID` sets, when the route declares one.
    pub resume: Option<ResumeField>,
}

/// The request field the `Last-Event-ID` header sets.
#[derive(Debug, Clone)]
pub(crate) struct ResumeField {
    /// Message fields to descend through (created when absent).
    pub parents: Vec<FieldDescriptor>,
    /// The field that receives the header's value.
    pub leaf: FieldDescriptor,
}

impl EventIds {
    /// Resolves `spec`'s event stream options against its request (`input`) and response
    /// (`output`) messages; an error says which field does not resolve.
    pub(crate) fn compile(
        spec: &RouteSpec,
        input: &MessageDescriptor,
        output: &MessageDescriptor,
    ) -> Result<Self, String> {
        let Some(options) = &spec.event_stream else {
            return Ok(EventIds::default());
        };
        let scalar = |option: &str, chain: &[FieldDescriptor]| match chain.last() {
            Some(leaf) if is_id_kind(leaf) => Ok(()),
            _ => Err(format!(
                "event_stream {option} `{}` must name a singular integer or string field",
                chain
                    .iter()
                    .map(FieldDescriptor::name)
                    .collect::<Vec<_>>()
                    .join(".")
            )),
        };
        let id_field = if options.id_field.is_empty() {
            Vec::new()
        } else {
            let chain = field_chain(output, &options.id_field)
                .map_err(|e| format!("event_stream id_field: {e}"))?;
            scalar("id_field", &chain)?;
            chain
        };
        let resume = if options.resume_field.is_empty() {
            None
        } else {
            let mut chain = field_chain(input, &options.resume_field)
                .map_err(|e| format!("event_stream resume_field: {e}"))?;
            scalar("resume_field", &chain)?;
            let leaf = chain
                .pop()
                .ok_or_else(|| "event_stream resume_field: empty field path".to_owned())?;
            Some(ResumeField {
                parents: chain,
                leaf,
            })
        };
        Ok(EventIds { id_field, resume })
    }

    /// The `id:` of the `ordinal`-th (1-based) event, carrying `message`: the id field's value,
    /// or the ordinal without one. Line breaks and NUL, which would end the field or make
    /// clients ignore it, are left out.
    fn id(&self, message: &DynamicMessage, ordinal: u64) -> String {
        let Some((leaf, parents)) = self.id_field.split_last() else {
            return ordinal.to_string();
        };
        let mut current = message;
        for field in parents {
            match current.get_field(field) {
                std::borrow::Cow::Borrowed(Value::Message(next)) => current = next,
                _ => return String::new(),
            }
        }
        let id = match current.get_field(leaf).as_ref() {
            Value::String(s) => s.clone(),
            Value::I32(n) => n.to_string(),
            Value::I64(n) => n.to_string(),
            Value::U32(n) => n.to_string(),
            Value::U64(n) => n.to_string(),
            _ => String::new(),
        };
        id.replace(['\r', '\n', '\0'], "")
    }
}

/// Whether `field` can be an event id or be set from `Last-Event-ID`: a singular integer or
/// string.
fn is_id_kind(field: &FieldDescriptor) -> bool {
    use prost_reflect::Kind;
    !field.is_list()
        && !field.is_map()
        && matches!(
            field.kind(),
            Kind::String
                | Kind::Int32
                | Kind::Sint32
                | Kind::Sfixed32
                | Kind::Uint32
                | Kind::Fixed32
                | Kind::Int64
                | Kind::Sint64
                | Kind::Sfixed64
                | Kind::Uint64
                | Kind::Fixed64
        )
}

/// One event: `id: <id>`, then `data: <json>` (compact JSON is one line), then the blank line
/// that ends it.
fn event(id: &str, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + id.len() + 16);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The closing event for a failure: `event: error`, its data the `google.rpc.Status` JSON the
/// gateway answers errors with (details included).
pub(crate) fn error_event(error: &GatewayError) -> Bytes {
    tracing::warn!(%error, "stream failed");
    let message = error.client_message();
    let json = serde_json::to_string(&status_body(error.code(), &message, &error.details()))
        .unwrap_or_else(|_| String::from(r#"{"code":13,"message":"internal error","details":[]}"#));
    Bytes::from(format!("event: error\ndata: {json}\n\n"))
}

/// The events for a stream of messages: each message through `encode` (the NDJSON line's JSON)
/// as one event with its id from `ids`; the first failure (of the stream or of encoding) is the
/// last event.
pub(crate) fn events<S, E>(stream: S, ids: EventIds, encode: E) -> impl Stream<Item = Bytes>
where
    S: Stream<Item = Result<DynamicMessage, GatewayError>> + Send + 'static,
    E: Fn(&DynamicMessage) -> Result<Vec<u8>, GatewayError> + Send + 'static,
{
    let mut ordinal = 0u64;
    stream
        .map(move |item| {
            ordinal += 1;
            match item.and_then(|message| Ok((encode(&message)?, message))) {
                Ok((json, message)) => event(&ids.id(&message, ordinal), &json),
                Err(error) => error_event(&error),
            }
        })
        .scan(false, |ended, chunk| {
            // Nothing after an error event: it is the stream's end.
            if *ended {
                return futures::future::ready(None);
            }
            *ended = chunk.starts_with(b"event: error");
            futures::future::ready(Some(chunk))
        })
}

/// `stream` with a `: keep-alive` comment inserted whenever `idle` passes without a chunk. Ends
/// when `stream` does; dropping it drops `stream` (and with it the upstream call).
pub(crate) fn with_heartbeat<S>(stream: S, idle: Duration) -> impl Stream<Item = Bytes>
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let stream = Box::pin(stream);
    futures::stream::unfold(stream, move |mut stream| async move {
        // A fresh timer per chunk: the interval counts from the last thing sent.
        tokio::select! {
            biased;
            chunk = stream.next() => chunk.map(|chunk| (chunk, stream)),
            () = tokio::time::sleep(idle) => Some((Bytes::from_static(HEARTBEAT), stream)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn format(accept: &[&str]) -> StreamFormat {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(
                header::ACCEPT,
                HeaderValue::from_str(value).expect("valid header"),
            );
        }
        StreamFormat::negotiate(&headers)
    }

    #[test]
    fn accept_negotiation() {
        use StreamFormat::{EventStream, Ndjson};
        for (accept, expected) in [
            (&[][..], Ndjson),
            (&["text/event-stream"][..], EventStream),
            (&["Text/Event-Stream; charset=utf-8"], EventStream),
            (&["text/*"], EventStream),
            (&["*/*"], Ndjson),
            (&["application/json"], Ndjson),
            (&["application/x-ndjson, text/event-stream"], Ndjson),
            (
                &["application/x-ndjson;q=0.5, text/event-stream"],
                EventStream,
            ),
            (&["text/event-stream;q=0"], Ndjson),
            (&["text/event-stream; q=0.000, */*"], Ndjson),
            (&["text/*;q=0, text/event-stream;q=0.1"], EventStream),
            (&["text/event-stream;q=0, text/*"], Ndjson),
            (&["*/*;q=0.1, text/event-stream;q=0.2"], EventStream),
            (&["application/json", "text/event-stream"], EventStream),
            // A malformed q ignores its range.
            (&["text/event-stream;q=2"], Ndjson),
            (&["text/event-stream;q=abc"], Ndjson),
            (&["event-stream", "*/event-stream"], Ndjson),
        ] {
            assert_eq!(format(accept), expected, "{accept:?}");
        }
    }

    #[test]
    fn qualities() {
        assert_eq!(parse_quality("1"), Some(1000));
        assert_eq!(parse_quality("1.000"), Some(1000));
        assert_eq!(parse_quality("0.5"), Some(500));
        assert_eq!(parse_quality("0.05"), Some(50));
        assert_eq!(parse_quality("0"), Some(0));
        assert_eq!(parse_quality("1.5"), None);
        assert_eq!(parse_quality("0.1234"), None);
        assert_eq!(parse_quality("-1"), None);
        assert_eq!(parse_quality(""), None);
    }

    #[test]
    fn framing() {
        assert_eq!(
            event("7", br#"{"a":1}"#),
            Bytes::from_static(b"id: 7\ndata: {\"a\":1}\n\n")
        );
        let error = GatewayError::BadRequest("bad line".into());
        assert_eq!(
            error_event(&error),
            Bytes::from_static(
                b"event: error\ndata: {\"code\":3,\"message\":\"bad line\",\"details\":[]}\n\n"
            )
        );
    }

    #[tokio::test]
    async fn events_number_messages_and_end_after_an_error() {
        let desc = prost_reflect::DescriptorPool::global()
            .get_message_by_name("google.protobuf.Empty")
            .expect("the global pool has the well-known types");
        let message = DynamicMessage::new(desc);
        let items = vec![
            Ok(message.clone()),
            Ok(message.clone()),
            Err(GatewayError::Internal("db".into())),
            Ok(message),
        ];
        let chunks: Vec<Bytes> = events(futures::stream::iter(items), EventIds::default(), |_| {
            Ok(b"{}".to_vec())
        })
        .collect()
        .await;
        assert_eq!(
            chunks,
            [
                Bytes::from_static(b"id: 1\ndata: {}\n\n"),
                Bytes::from_static(b"id: 2\ndata: {}\n\n"),
                Bytes::from_static(
                    b"event: error\ndata: {\"code\":13,\"message\":\"internal error\",\"details\":[]}\n\n"
                ),
            ]
        );
    }

    #[tokio::test]
    async fn heartbeat_fills_idle_gaps_only() {
        const IDLE: Duration = Duration::from_millis(100);
        let (sender, receiver) = futures::channel::mpsc::unbounded::<Bytes>();
        let mut stream = Box::pin(with_heartbeat(receiver, IDLE));
        sender
            .unbounded_send(Bytes::from_static(b"a"))
            .expect("open");
        assert_eq!(stream.next().await, Some(Bytes::from_static(b"a")));
        let started = tokio::time::Instant::now();
        assert_eq!(stream.next().await, Some(Bytes::from_static(HEARTBEAT)));
        assert!(started.elapsed() >= IDLE, "{:?}", started.elapsed());
        // A chunk that is ready goes out at once, without a heartbeat before it, and restarts
        // the idle clock.
        tokio::time::sleep(IDLE * 3).await;
        sender
            .unbounded_send(Bytes::from_static(b"b"))
            .expect("open");
        let sent = tokio::time::Instant::now();
        assert_eq!(stream.next().await, Some(Bytes::from_static(b"b")));
        assert!(sent.elapsed() < IDLE, "{:?}", sent.elapsed());
        let resumed = tokio::time::Instant::now();
        assert_eq!(stream.next().await, Some(Bytes::from_static(HEARTBEAT)));
        assert!(resumed.elapsed() >= IDLE, "{:?}", resumed.elapsed());
        drop(sender);
        assert_eq!(stream.next().await, None);
    }
}
