//! `sold_count`: how many units of each product were sold, kept from the purchase events on
//! NATS JetStream, the shop's example of eventual consistency.
//!
//! A durable pull consumer ([`CONSUMER`]) reads `shop.purchases.>` with explicit acks: a
//! completed purchase counts +1, a refunded one -1, and every other event is acknowledged
//! unread. An event is acknowledged only after its count committed, together with its id in
//! `processed_events` ([`db::count_sale_once`]): a crash before the ack makes JetStream deliver
//! it again, and the second delivery finds the id and counts nothing. So redelivery is harmless
//! and a restarted service resumes where the durable consumer stands.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use prost::Message;
use proto::purchases::v1::PurchaseEvent;
use shop_common::Database;
use shop_common::events::{EventsConfig, PURCHASE_SUBJECTS, ensure_purchase_stream};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::db;
use crate::error::ProductError;

/// The durable consumer's name: one per shop, shared by every products instance (JetStream
/// hands each event to one of them).
pub const CONSUMER: &str = "products-sold-count";

/// How long JetStream waits for an ack before delivering an event again.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// The longest wait between attempts while NATS or the database fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The running consumer; aborted when dropped (with the service that owns it).
#[derive(Debug)]
pub struct SalesTask(JoinHandle<()>);

impl Drop for SalesTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts counting sales into `db` from the events on `events`' server. Must run inside a tokio
/// runtime.
pub(crate) fn spawn(db: Database, events: EventsConfig) -> SalesTask {
    SalesTask(tokio::spawn(async move {
        while !db.is_ready() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let jetstream = match events.connect(shop_common::names::PRODUCTS_SERVICE).await {
            Ok(jetstream) => jetstream,
            Err(err) => {
                tracing::error!(error = %err, "sold counts stop: NATS cannot be used");
                return;
            }
        };
        let mut failures = 0u32;
        loop {
            let err = consume(&db, &jetstream, &mut failures).await;
            failures = failures.saturating_add(1);
            tracing::warn!(error = %err, "sold count consumer stopped; retrying");
            let backoff = Duration::from_millis(100u64 << failures.min(6)).min(MAX_BACKOFF);
            tokio::time::sleep(backoff).await;
        }
    }))
}

/// Reads and counts events until something fails; returns what. Every counted event resets
/// `failures`.
async fn consume(
    db: &Database,
    jetstream: &jetstream::Context,
    failures: &mut u32,
) -> ProductError {
    let events = async {
        let stream = ensure_purchase_stream(jetstream)
            .await
            .map_err(|e| ProductError::Events(e.to_string()))?;
        let consumer = stream
            .get_or_create_consumer(
                CONSUMER,
                pull::Config {
                    durable_name: Some(CONSUMER.to_owned()),
                    description: Some("products: sold_count from purchase events".into()),
                    filter_subject: PURCHASE_SUBJECTS.to_owned(),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| ProductError::Events(format!("consumer: {e}")))?;
        consumer
            .messages()
            .await
            .map_err(|e| ProductError::Events(format!("messages: {e}")))
    };
    let mut messages = match events.await {
        Ok(messages) => messages,
        Err(err) => return err,
    };
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            Err(e) => return ProductError::Events(format!("delivery: {e}")),
        };
        let traceparent = message.headers.as_ref().and_then(|headers| {
            headers
                .get("traceparent")
                .map(|value| value.as_str().to_owned())
        });
        let span = shop_common::telemetry::message_span("count sale", traceparent.as_deref());
        let counted = count(db, &message.subject, &message.payload)
            .instrument(span)
            .await;
        let ack = match counted {
            Ok(()) => AckKind::Ack,
            // Never countable, however often delivered: logged, and not delivered again.
            Err(ProductError::BadEvent(why)) => {
                tracing::error!(subject = %message.subject, why, "dropping a bad purchase event");
                AckKind::Term
            }
            Err(err) => return err,
        };
        if let Err(e) = message.ack_with(ack).await {
            return ProductError::Events(format!("ack: {e}"));
        }
        *failures = 0;
    }
    ProductError::Events("the consumer's message stream ended".into())
}

/// Counts one event delivered on `subject`: +1 for `...completed`, -1 for `...refunded`, nothing
/// for the others. Idempotent by the event's id.
async fn count(db: &Database, subject: &str, payload: &[u8]) -> Result<(), ProductError> {
    let delta = match subject.rsplit('.').next() {
        Some("completed") => 1,
        Some("refunded") => -1,
        _ => return Ok(()),
    };
    let event = PurchaseEvent::decode(payload)
        .map_err(|e| ProductError::BadEvent(format!("undecodable: {e}")))?;
    let event_id = uuid::Uuid::parse_str(&event.event_id)
        .map_err(|e| ProductError::BadEvent(format!("event id {:?}: {e}", event.event_id)))?;
    let product_id = event
        .purchase
        .map(|purchase| purchase.product_id)
        .ok_or_else(|| ProductError::BadEvent("no purchase in the event".into()))?;
    let mut conn = db.conn().await?;
    let counted = db::count_sale_once(&mut conn, event_id, product_id, delta).await?;
    if counted {
        tracing::info!(product_id, delta, %event_id, "sold count updated");
    } else {
        tracing::debug!(%event_id, "event counted before; ignored");
    }
    Ok(())
}
