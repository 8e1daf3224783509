//! Purchase events: written into the outbox with each status change ([`record`]), published to
//! NATS JetStream by the [`relay`], and read back for `WatchPurchase` ([`watch`]).
//!
//! The outbox is what makes publishing reliable without a distributed transaction: the change
//! and its event commit together, so an event exists exactly when its change does, and the
//! relay publishes it at least once (JetStream drops the copies by `Nats-Msg-Id`). With NATS down
//! purchases keep working; the events wait in the outbox and the relay catches up.

pub mod relay;
pub mod watch;

use std::sync::Arc;

use async_nats::jetstream;
use diesel_async::AsyncPgConnection;
use prost::Message;
use proto::purchases::v1::{PurchaseEvent, PurchaseEventType};
use shop_common::events::purchase_subject;
use tokio::sync::Notify;

use crate::db::{self, NewOutboxRow, PurchaseRow};
use crate::domain::PurchaseStatus;
use crate::error::PurchaseError;

pub use relay::OutboxMetrics;

/// The subject suffix and event type of the change that left a purchase in `status`.
pub fn event_kind(status: PurchaseStatus) -> (&'static str, PurchaseEventType) {
    match status {
        PurchaseStatus::Pending => ("created", PurchaseEventType::Created),
        PurchaseStatus::Completed => ("completed", PurchaseEventType::Completed),
        PurchaseStatus::Failed => ("failed", PurchaseEventType::Failed),
        PurchaseStatus::Refunded => ("refunded", PurchaseEventType::Refunded),
    }
}

/// Whether nothing can follow an event of this type: FAILED and REFUNDED are final (a
/// COMPLETED purchase may still be refunded).
pub fn is_final(event_type: PurchaseEventType) -> bool {
    matches!(
        event_type,
        PurchaseEventType::Failed | PurchaseEventType::Refunded
    )
}

/// Writes the event of the change that left `row` as it is into the outbox, in the caller's
/// transaction: call it in the transaction that made the change, so that both commit or
/// neither does.
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    row: &PurchaseRow,
) -> Result<(), PurchaseError> {
    let (kind, event_type) = event_kind(row.status()?);
    let event_id = uuid::Uuid::new_v4();
    let event = PurchaseEvent {
        event_id: event_id.to_string(),
        r#type: event_type.into(),
        purchase: Some(row.clone().into_message()?),
        occurred_at: Some(db::timestamp(chrono::Utc::now())),
    };
    let outbox_row = NewOutboxRow {
        event_id,
        subject: purchase_subject(row.id, kind),
        payload: event.encode_to_vec(),
        // The request's trace goes on with the message (the relay sends it as a header).
        traceparent: shop_common::telemetry::current_traceparent(),
    };
    db::insert_event(conn, &outbox_row).await?;
    Ok(())
}

/// The service's connection to the event stream, shared by the relay and the watchers.
#[derive(Debug, Clone)]
pub struct Events {
    pub(crate) jetstream: jetstream::Context,
    /// Wakes the relay when a transaction wrote events, so they go out at once instead of at
    /// the next poll.
    pub(crate) written: Arc<Notify>,
    pub(crate) metrics: OutboxMetrics,
}

impl Events {
    /// Events over `jetstream`, counted in `metrics`.
    pub fn new(jetstream: jetstream::Context, metrics: OutboxMetrics) -> Self {
        Self {
            jetstream,
            written: Arc::new(Notify::new()),
            metrics,
        }
    }

    /// Tells the relay that committed transactions wrote events.
    pub(crate) fn wake_relay(&self) {
        self.written.notify_one();
    }
}
