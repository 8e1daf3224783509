//! The shop's event plumbing on NATS JetStream: where the server is (`--nats-url` /
//! `NATS_URL`), the purchase events' stream and subjects, and the connection every service that
//! publishes or consumes them makes the same way.
//!
//! Purchases publishes `purchases.v1.PurchaseEvent` messages (protobuf, from its transactional
//! outbox) on `shop.purchases.<purchase id>.<kind>`; products consumes the completed and refunded
//! ones. Both declare the stream at start-up ([`ensure_purchase_stream`]) with the same
//! configuration, so whichever starts first creates it and the order of start-up never matters.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// The JetStream stream holding every purchase event.
pub const PURCHASE_STREAM: &str = "SHOP_PURCHASES";

/// The subjects of [`PURCHASE_STREAM`]: `shop.purchases.<purchase id>.<kind>`.
pub const PURCHASE_SUBJECTS: &str = "shop.purchases.>";

/// The `Content-Type` header of every event: the payload is an encoded protobuf message.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/protobuf";

/// The header naming the payload's protobuf message type, so a reader of the stream (the `nats`
/// CLI, a new consumer) knows how to decode it without knowing the subject scheme.
pub const MESSAGE_TYPE_HEADER: &str = "Proto-Message";

/// How long JetStream remembers a `Nats-Msg-Id` to drop a republished copy: longer than any
/// relay restart, so an event published just before a crash and again after it is stored once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The subject of one purchase event: `shop.purchases.<purchase_id>.<kind>`.
pub fn purchase_subject(purchase_id: i64, kind: &str) -> String {
    format!("shop.purchases.{purchase_id}.{kind}")
}

/// NATS flags: `--nats-url` (`NATS_URL`).
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// NATS server with JetStream, for the purchase events (`nats://host:port`, several
    /// comma-separated for a cluster).
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
}

impl NatsArgs {
    /// The events settings these flags give.
    pub fn config(&self) -> EventsConfig {
        EventsConfig {
            nats_url: self.nats_url.clone(),
        }
    }
}

/// Where the event stream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// NATS server URL(s), comma-separated.
    pub nats_url: String,
}

impl EventsConfig {
    /// A config for the server at `nats_url`.
    pub fn new(nats_url: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
        }
    }

    /// A JetStream context on a client that connects in the background and keeps reconnecting:
    /// it returns at once, even with NATS down, so that a service starts and serves without its
    /// event stream, and publishing or consuming resumes when NATS is back.
    pub async fn connect(&self, client_name: &str) -> Result<jetstream::Context, EventsError> {
        let client = async_nats::ConnectOptions::new()
            .name(client_name)
            .retry_on_initial_connect()
            // Reconnect attempts back off up to this; the default grows to several seconds.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100 * attempts as u64).min(1_000))
            })
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("NATS connected"),
                    async_nats::Event::Disconnected => tracing::warn!("NATS disconnected"),
                    other => tracing::debug!(%other, "NATS event"),
                }
            })
            .connect(self.nats_url.as_str())
            .await
            .map_err(|e| EventsError::Connect(e.to_string()))?;
        Ok(jetstream::new(client))
    }
}

/// What can go wrong with the event stream.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The NATS URL or options were refused.
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
    /// The stream could not be created or read.
    #[error("JetStream stream {stream}: {cause}")]
    Stream {
        /// The stream.
        stream: &'static str,
        /// What the server or client said.
        cause: String,
    },
}

/// The purchase events' stream configuration: file storage, subjects `shop.purchases.>`, and
/// [`DUPLICATE_WINDOW`].
pub fn purchase_stream_config() -> stream::Config {
    stream::Config {
        name: PURCHASE_STREAM.to_owned(),
        description: Some("Purchase status changes, from the purchases service's outbox".into()),
        subjects: vec![PURCHASE_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    }
}

/// The purchase events' stream, created when missing. Fails while NATS is unreachable; callers
/// retry.
pub async fn ensure_purchase_stream(
    jetstream: &jetstream::Context,
) -> Result<stream::Stream, EventsError> {
    jetstream
        .get_or_create_stream(purchase_stream_config())
        .await
        .map_err(|e| EventsError::Stream {
            stream: PURCHASE_STREAM,
            cause: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_fall_under_the_stream() {
        let subject = purchase_subject(42, "completed");
        assert_eq!(subject, "shop.purchases.42.completed");
        let prefix = PURCHASE_SUBJECTS.trim_end_matches('>');
        assert!(subject.starts_with(prefix), "{subject} under {prefix}");
    }

    #[test]
    fn the_stream_drops_republished_events_for_ten_minutes() {
        let config = purchase_stream_config();
        assert_eq!(config.name, PURCHASE_STREAM);
        assert_eq!(config.duplicate_window, Duration::from_secs(600));
        assert_eq!(config.subjects, [PURCHASE_SUBJECTS]);
    }
}
