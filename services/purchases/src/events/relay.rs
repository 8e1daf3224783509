//! The outbox relay: publishes pending outbox rows to JetStream in order and stamps them.
//!
//! Each round locks up to [`BATCH`] pending rows (`FOR UPDATE SKIP LOCKED`, so several instances
//! share the work), publishes them all, then waits for JetStream's acks and stamps the
//! acknowledged prefix in the same transaction. A crash between the ack and the commit
//! republishes those events; the stream's duplicate window drops the copies by `Nats-Msg-Id`.
//! With NATS down a round fails, nothing is stamped, and the relay retries with backoff while
//! logging how far behind it is; the backlog goes out when NATS is back.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishAckFuture;
use diesel_async::AsyncConnection;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shop_common::Database;
use shop_common::events::{MESSAGE_TYPE_HEADER, PROTOBUF_CONTENT_TYPE, ensure_purchase_stream};
use tokio::task::JoinHandle;

use super::Events;
use crate::db::{self, PendingEvent};
use crate::error::PurchaseError;

/// The most events one round publishes.
const BATCH: i64 = 256;

/// How often the relay looks for events written by other instances (or missed wake-ups).
const POLL: Duration = Duration::from_secs(1);

/// The longest wait between attempts while NATS or the database fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The outbox's metrics: what was published, and how far publishing is behind.
#[derive(Debug, Clone, Default)]
pub struct OutboxMetrics {
    published: Counter,
    pending: Gauge,
    lag_seconds: Gauge<f64, AtomicU64>,
}

impl OutboxMetrics {
    /// Registers `outbox_published_events_total`, `outbox_pending_events` and
    /// `outbox_lag_seconds` (the age of the oldest unpublished event; 0 when none waits).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "outbox_published_events",
            "Events the outbox relay published to NATS JetStream (acknowledged)",
            self.published.clone(),
        );
        registry.register(
            "outbox_pending_events",
            "Events written to the outbox and not yet published",
            self.pending.clone(),
        );
        registry.register(
            "outbox_lag_seconds",
            "Age of the oldest event not yet published; 0 when the outbox is drained",
            self.lag_seconds.clone(),
        );
    }

    /// Events published so far by this process.
    pub fn published(&self) -> u64 {
        self.published.get()
    }

    fn drained(&self) {
        self.pending.set(0);
        self.lag_seconds.set(0.0);
    }
}

/// The running relay; aborted when dropped (with the service that owns it).
#[derive(Debug)]
pub struct RelayTask(JoinHandle<()>);

impl Drop for RelayTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the relay publishing `db`'s outbox through `events`. Must run inside a tokio runtime.
pub(crate) fn spawn(db: Database, events: Events) -> RelayTask {
    RelayTask(tokio::spawn(async move {
        while !db.is_ready() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut failures = 0u32;
        loop {
            let err = match ensure_purchase_stream(&events.jetstream).await {
                Ok(_) => relay_until_failure(&db, &events, &mut failures).await,
                Err(err) => PurchaseError::EventsUnavailable {
                    cause: err.to_string(),
                },
            };
            failures = failures.saturating_add(1);
            let (pending, lag_secs) = report_backlog(&db, &events).await;
            tracing::warn!(
                error = %err,
                pending,
                lag_secs,
                "outbox relay cannot publish; events wait in the outbox"
            );
            let backoff = Duration::from_millis(100u64 << failures.min(6)).min(MAX_BACKOFF);
            tokio::time::sleep(backoff).await;
        }
    }))
}

/// Publishes round after round, sleeping between them until woken or [`POLL`]; returns the
/// error that stopped it. Every successful round resets `failures`.
async fn relay_until_failure(db: &Database, events: &Events, failures: &mut u32) -> PurchaseError {
    loop {
        let published = match relay_round(db, events).await {
            Ok(published) => published,
            Err(err) => return err,
        };
        *failures = 0;
        if published < BATCH as usize {
            events.metrics.drained();
            let _ = tokio::time::timeout(POLL, events.written.notified()).await;
        } else {
            report_backlog(db, events).await;
        }
    }
}

/// One round: publishes up to [`BATCH`] pending events and stamps those JetStream
/// acknowledged. Returns how many it published; an error leaves the unacknowledged ones pending.
async fn relay_round(db: &Database, events: &Events) -> Result<usize, PurchaseError> {
    let mut conn = db.conn().await?;
    let (published, failure) = conn
        .transaction(async |conn| {
            let pending = db::lock_pending_events(conn, BATCH).await?;
            if pending.is_empty() {
                return Ok::<_, PurchaseError>((0, None));
            }
            // Every publish goes out before the first ack is awaited: one round trip per
            // batch, not per event.
            let mut acks = Vec::with_capacity(pending.len());
            let mut failure = None;
            for event in &pending {
                match publish(events, event).await {
                    Ok(ack) => acks.push((event.id, ack)),
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
            let mut acknowledged = Vec::with_capacity(acks.len());
            for (id, ack) in acks {
                match ack.await {
                    Ok(ack) => {
                        if ack.duplicate {
                            tracing::debug!(outbox_id = id, "JetStream already had this event");
                        }
                        acknowledged.push(id);
                    }
                    Err(err) => {
                        failure.get_or_insert(PurchaseError::EventsUnavailable {
                            cause: format!("no acknowledgement: {err}"),
                        });
                        break;
                    }
                }
            }
            db::mark_published(conn, &acknowledged).await?;
            Ok((acknowledged.len(), failure))
        })
        .await?;
    events.metrics.published.inc_by(published as u64);
    if published > 0 {
        tracing::debug!(published, "outbox relay published events");
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(published),
    }
}

/// Sends one event to JetStream; the returned future resolves to its acknowledgement.
async fn publish(events: &Events, event: &PendingEvent) -> Result<PublishAckFuture, PurchaseError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        async_nats::header::NATS_MESSAGE_ID,
        event.event_id.to_string(),
    );
    headers.insert("Content-Type", PROTOBUF_CONTENT_TYPE);
    headers.insert(MESSAGE_TYPE_HEADER, "purchases.v1.PurchaseEvent");
    if let Some(traceparent) = &event.traceparent {
        headers.insert("traceparent", traceparent.as_str());
    }
    events
        .jetstream
        .publish_with_headers(event.subject.clone(), headers, event.payload.clone().into())
        .await
        .map_err(|err| PurchaseError::EventsUnavailable {
            cause: format!("publish: {err}"),
        })
}

/// Reads the backlog into the metrics and returns it: pending events and the oldest one's age
/// in seconds. Best effort: a database error reports nothing new.
async fn report_backlog(db: &Database, events: &Events) -> (i64, f64) {
    let backlog = async {
        let mut conn = db.conn().await?;
        Ok::<_, PurchaseError>(db::pending_backlog(&mut conn).await?)
    };
    match backlog.await {
        Ok((pending, oldest)) => {
            let lag = oldest
                .map(|at| (chrono::Utc::now() - at).as_seconds_f64().max(0.0))
                .unwrap_or(0.0);
            events.metrics.pending.set(pending);
            events.metrics.lag_seconds.set(lag);
            (pending, lag)
        }
        Err(_) => (-1, -1.0),
    }
}
