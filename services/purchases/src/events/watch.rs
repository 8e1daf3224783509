//! `WatchPurchase`: one purchase's events read back from JetStream, from its creation or from
//! a stream position, as a stream that ends after a final state.
//!
//! Each watcher is an ordered (ephemeral, flow-controlled) consumer filtered to
//! `shop.purchases.<id>.>`: the server sends only that purchase's events, in order, and forgets
//! the consumer shortly after the watcher goes away. Dropping the returned stream (the caller
//! cancelled, or disconnected from the gateway) drops the consumer's subscription.

use std::pin::Pin;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::{Stream, StreamExt};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use prost::Message;
use proto::purchases::v1::{PurchaseEvent, WatchPurchaseResponse};
use shop_common::Id;
use shop_common::events::{PURCHASE_STREAM, purchase_subject};
use tonic::Status;

use super::{Events, event_kind, is_final};
use crate::domain::PurchaseStatus;
use crate::error::PurchaseError;

/// The events a watcher receives, as tonic sends them.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<WatchPurchaseResponse, Status>> + Send>>;

/// Counts the watchers being served, for the `purchase_watchers` gauge: a watcher leaves it when
/// its stream is dropped, which is how a disconnected client shows.
#[derive(Debug, Clone, Default)]
pub struct Watchers(Gauge);

impl Watchers {
    /// Registers the `purchase_watchers` gauge.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "purchase_watchers",
            "WatchPurchase streams being served",
            self.0.clone(),
        );
    }

    /// Watchers being served now.
    pub fn active(&self) -> i64 {
        self.0.get()
    }

    fn enter(&self) -> WatcherGuard {
        self.0.inc();
        WatcherGuard(self.0.clone())
    }
}

/// One watcher being served; leaves the count when dropped.
struct WatcherGuard(Gauge);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The events of purchase `id` after stream position `after` (0: all of them), ending after a
/// final one. The caller has checked that the purchase exists.
pub(crate) async fn watch(
    events: &Events,
    watchers: &Watchers,
    id: Id,
    after: u64,
) -> Result<EventStream, PurchaseError> {
    let unavailable = |what: &str, err: &dyn std::fmt::Display| PurchaseError::EventsUnavailable {
        cause: format!("{what}: {err}"),
    };
    let stream = events
        .jetstream
        .get_stream(PURCHASE_STREAM)
        .await
        .map_err(|e| unavailable("stream", &e))?;
    // Resuming after the final event: there is nothing left to wait for.
    if after > 0 {
        for status in [PurchaseStatus::Failed, PurchaseStatus::Refunded] {
            let subject = purchase_subject(id.get(), event_kind(status).0);
            if let Ok(last) = stream.get_last_raw_message_by_subject(&subject).await
                && last.sequence <= after
            {
                return Ok(Box::pin(futures::stream::empty()));
            }
        }
    }
    let deliver_policy = match after {
        0 => DeliverPolicy::All,
        after => DeliverPolicy::ByStartSequence {
            start_sequence: after + 1,
        },
    };
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: format!("shop.purchases.{}.>", id.get()),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable("consumer", &e))?;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| unavailable("messages", &e))?;
    // Through the first final event (or error), then the stream ends: the consumer and the
    // watcher's place in the count go with it.
    let state = Some((messages, watchers.enter()));
    let events = futures::stream::unfold(state, |state| async move {
        let (mut messages, watching) = state?;
        let event = decode(messages.next().await?);
        let ended = match &event {
            Ok(watched) => watched.event.as_ref().is_some_and(|e| is_final(e.r#type())),
            Err(_) => true,
        };
        Some((event, (!ended).then_some((messages, watching))))
    });
    Ok(Box::pin(events))
}

/// One delivered message as the event it carries, with its stream position.
fn decode(
    message: Result<
        async_nats::jetstream::Message,
        async_nats::jetstream::consumer::pull::OrderedError,
    >,
) -> Result<WatchPurchaseResponse, Status> {
    let message = message.map_err(|e| Status::unavailable(format!("event stream: {e}")))?;
    let sequence = message
        .info()
        .map_err(|e| Status::internal(format!("event without stream info: {e}")))?
        .stream_sequence;
    let event = PurchaseEvent::decode(message.payload.as_ref()).map_err(|e| {
        tracing::error!(sequence, error = %e, "undecodable purchase event");
        Status::internal("undecodable purchase event")
    })?;
    Ok(WatchPurchaseResponse {
        event: Some(event),
        sequence,
    })
}

#[cfg(test)]
mod tests {
    use proto::purchases::v1::PurchaseEventType;

    use super::*;

    #[test]
    fn watchers_leave_the_count_when_dropped() {
        let watchers = Watchers::default();
        let first = watchers.enter();
        let second = watchers.enter();
        assert_eq!(watchers.active(), 2);
        drop(first);
        assert_eq!(watchers.active(), 1);
        drop(second);
        assert_eq!(watchers.active(), 0);
    }

    #[test]
    fn only_failed_and_refunded_end_a_watch() {
        assert!(is_final(PurchaseEventType::Failed));
        assert!(is_final(PurchaseEventType::Refunded));
        assert!(!is_final(PurchaseEventType::Created));
        assert!(!is_final(PurchaseEventType::Completed));
    }
}
