//! Reading the purchase events a test's shop published: every message of the `SHOP_PURCHASES`
//! stream on the test's own NATS server, in stream order, with the headers the tests check.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use prost::Message;
use proto::purchases::v1::PurchaseEvent;
use shop_common::events::PURCHASE_STREAM;

/// One message of the stream.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Its stream sequence.
    pub sequence: u64,
    /// The subject it was published on.
    pub subject: String,
    /// Its `Nats-Msg-Id` header.
    pub message_id: Option<String>,
    /// Its `Content-Type` header.
    pub content_type: Option<String>,
    /// Its `traceparent` header: the trace of the request that made the change.
    pub traceparent: Option<String>,
    /// The decoded payload.
    pub event: PurchaseEvent,
}

/// A JetStream context on the server at `url` (connected before returning).
pub async fn jetstream(url: &str) -> jetstream::Context {
    let client = async_nats::connect(url)
        .await
        .unwrap_or_else(|err| panic!("connect to NATS at {url}: {err}"));
    jetstream::new(client)
}

/// Every message in the purchase stream, in order; empty while the stream does not exist.
pub async fn stored_events(jetstream: &jetstream::Context) -> Vec<StoredEvent> {
    let Ok(stream) = jetstream.get_stream(PURCHASE_STREAM).await else {
        return Vec::new();
    };
    let state = stream.get_info().await.expect("stream info").state;
    let mut events = Vec::new();
    if state.messages == 0 {
        return events;
    }
    for sequence in state.first_sequence..=state.last_sequence {
        let message = stream
            .get_raw_message(sequence)
            .await
            .unwrap_or_else(|err| panic!("message {sequence}: {err}"));
        let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
        events.push(StoredEvent {
            sequence,
            subject: message.subject.to_string(),
            message_id: header("Nats-Msg-Id"),
            content_type: header("Content-Type"),
            traceparent: header("traceparent"),
            event: PurchaseEvent::decode(message.payload.as_ref()).expect("a PurchaseEvent"),
        });
    }
    events
}

/// The stream's messages once there are at least `count` (polling), panicking after `timeout`.
pub async fn wait_for_events(
    jetstream: &jetstream::Context,
    count: usize,
    timeout: Duration,
) -> Vec<StoredEvent> {
    let deadline = Instant::now() + timeout;
    loop {
        let events = stored_events(jetstream).await;
        if events.len() >= count {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} events on the stream after {timeout:?}: {events:#?}",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
