//! Purchase events through the transactional outbox to a real NATS JetStream server (one per
//! test): each change published exactly once with its subject, id and content type; a watcher
//! following the changes live and resuming from a stream position; NATS down while purchases go
//! on, then every event published once when it is back; and products' `sold_count` following.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use proto::products::v1::GetProductRequest;
use proto::products::v1::product_service_client::ProductServiceClient;
use proto::purchases::v1::{
    PurchaseEvent, PurchaseEventType, PurchaseStatus, RefundPurchaseRequest, WatchPurchaseRequest,
    WatchPurchaseResponse,
};
use shop_common::events::EventsConfig;
use shop_testkit::events::{StoredEvent, jetstream, wait_for_events};
use test_support::NatsServer;
use tonic::Code;

use crate::helpers::{ShopOptions, Stack, buy, request, sample, scrape, spawn_stack_with};

/// The trace a test request belongs to (W3C `traceparent`: version, trace id, parent, flags).
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// How long the relay may take to publish what is in the outbox (it is woken at once; this is
/// only the test's patience).
const PUBLISHED_WITHIN: Duration = Duration::from_secs(15);

async fn stack_with_events(nats: &NatsServer) -> Stack {
    spawn_stack_with(ShopOptions {
        events: Some(EventsConfig::new(nats.url())),
        ..ShopOptions::default()
    })
    .await
}

fn types(events: &[StoredEvent]) -> Vec<(String, PurchaseEventType)> {
    events
        .iter()
        .map(|e| (e.subject.clone(), e.event.r#type()))
        .collect()
}

/// Unpublished rows in purchases' outbox.
async fn unpublished(stack: &Stack) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(stack.purchases.db.url())
        .await
        .expect("connect");
    let count: Count =
        diesel::sql_query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
            .get_result(&mut conn)
            .await
            .expect("count the outbox");
    count.n
}

/// Waits until the relay has stamped every outbox row published (it stamps after JetStream's
/// acks, so the stream can be ahead of the table for a moment).
async fn wait_until_drained(stack: &Stack) {
    let start = Instant::now();
    while unpublished(stack).await > 0 {
        assert!(start.elapsed() < PUBLISHED_WITHIN, "the outbox drains");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next event of a watch and its stream position, within a few seconds; `None` at the end.
async fn next_event(
    watch: &mut tonic::Streaming<WatchPurchaseResponse>,
) -> Option<(PurchaseEvent, u64)> {
    let next = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("an event (or the end) within 10 s")?;
    let watched = next.expect("an event, not an error");
    Some((watched.event.expect("an event"), watched.sequence))
}

async fn sold_count(stack: &Stack, product_id: i64) -> i64 {
    ProductServiceClient::new(stack.products.channel.clone())
        .get_product(GetProductRequest { id: product_id })
        .await
        .expect("get product")
        .into_inner()
        .product
        .expect("a product")
        .sold_count
}

/// Polls until product `product_id`'s `sold_count` is `expected`; returns how long it took.
async fn wait_for_sold_count(stack: &Stack, product_id: i64, expected: i64) -> Duration {
    let start = Instant::now();
    loop {
        let count = sold_count(stack, product_id).await;
        if count == expected {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < PUBLISHED_WITHIN,
            "sold_count stayed {count}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_change_is_published_once_and_watchers_follow_and_resume() {
    let nats = NatsServer::start().expect("nats-server");
    let stack = stack_with_events(&nats).await;
    let js = jetstream(&nats.url()).await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;

    // The request's trace context goes on with its events, as the message header.
    let mut request = tonic::Request::new(request(user.id, product.id));
    request
        .metadata_mut()
        .insert("traceparent", TRACEPARENT.parse().expect("ASCII metadata"));
    let bought = stack
        .client()
        .create_purchase(request)
        .await
        .expect("create purchase")
        .into_inner();
    let purchase = bought.purchase.expect("a purchase");
    assert_eq!(purchase.status(), PurchaseStatus::Completed);
    let delay = wait_for_sold_count(&stack, product.id, 1).await;
    println!("SOLD_COUNT_DELAY purchase answered -> sold_count 1: {delay:?}");

    // Exactly the two changes, on the purchase's subjects, with their ids as Nats-Msg-Id.
    let events = wait_for_events(&js, 2, PUBLISHED_WITHIN).await;
    let id = purchase.id;
    assert_eq!(
        types(&events),
        [
            (
                format!("shop.purchases.{id}.created"),
                PurchaseEventType::Created
            ),
            (
                format!("shop.purchases.{id}.completed"),
                PurchaseEventType::Completed
            ),
        ]
    );
    for stored in &events {
        assert_eq!(stored.message_id.as_deref(), Some(&*stored.event.event_id));
        assert_eq!(stored.content_type.as_deref(), Some("application/protobuf"));
        assert_eq!(stored.event.purchase.as_ref().map(|p| p.id), Some(id));
        assert!(stored.event.occurred_at.is_some());
        let traceparent = stored.traceparent.as_deref().unwrap_or_default();
        assert!(
            traceparent.starts_with(&TRACEPARENT[..35]),
            "{traceparent:?} continues {TRACEPARENT}"
        );
    }
    assert_eq!(
        events[0].event.purchase.as_ref().map(|p| p.status()),
        Some(PurchaseStatus::Pending)
    );
    wait_until_drained(&stack).await;

    // A watcher from the start sees PENDING -> COMPLETED with stream positions, then the refund
    // live, and its stream ends after that final state.
    let mut client = stack.client();
    let mut watch = client
        .watch_purchase(WatchPurchaseRequest {
            id,
            after_sequence: 0,
        })
        .await
        .expect("watch")
        .into_inner();
    let (created, created_at) = next_event(&mut watch).await.expect("created");
    let (completed, completed_at) = next_event(&mut watch).await.expect("completed");
    assert_eq!(
        (created.r#type(), created_at),
        (PurchaseEventType::Created, 1)
    );
    assert_eq!(
        (completed.r#type(), completed_at),
        (PurchaseEventType::Completed, 2)
    );
    assert_eq!(
        completed.purchase.as_ref().map(|p| p.status()),
        Some(PurchaseStatus::Completed)
    );
    client
        .refund_purchase(RefundPurchaseRequest { id })
        .await
        .expect("refund");
    let (refunded, refunded_at) = next_event(&mut watch).await.expect("refunded");
    assert_eq!(
        (refunded.r#type(), refunded_at),
        (PurchaseEventType::Refunded, 3)
    );
    assert!(
        next_event(&mut watch).await.is_none(),
        "ends after REFUNDED"
    );
    wait_for_sold_count(&stack, product.id, 0).await;

    // Resuming after position 1 replays from COMPLETED; after the final event, nothing is left.
    let resumed: Vec<_> = client
        .watch_purchase(WatchPurchaseRequest {
            id,
            after_sequence: 1,
        })
        .await
        .expect("resume")
        .into_inner()
        .map(|event| event.expect("event").sequence)
        .collect()
        .await;
    assert_eq!(resumed, [2, 3]);
    let after_end: Vec<_> = client
        .watch_purchase(WatchPurchaseRequest {
            id,
            after_sequence: 3,
        })
        .await
        .expect("resume after the end")
        .into_inner()
        .collect()
        .await;
    assert!(after_end.is_empty(), "{after_end:?}");

    let missing = client
        .watch_purchase(WatchPurchaseRequest {
            id: id + 1000,
            after_sequence: 0,
        })
        .await
        .expect_err("a missing purchase");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let watchers = sample(
        &scrape(stack.purchases.metrics_addr.expect("metrics")).await,
        "purchase_watchers",
    );
    assert_eq!(watchers, Some(0.0), "every watch ended");
}

#[tokio::test(flavor = "multi_thread")]
async fn purchases_go_on_with_nats_down_and_every_event_is_published_once_when_it_is_back() {
    let mut nats = NatsServer::start().expect("nats-server");
    let stack = stack_with_events(&nats).await;
    let js = jetstream(&nats.url()).await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 10.0).await;
    buy(&stack, user.id, product.id).await;
    wait_for_events(&js, 2, PUBLISHED_WITHIN).await;

    nats.stop();
    for _ in 0..3 {
        let purchase = buy(&stack, user.id, product.id).await.purchase.expect("p");
        assert_eq!(purchase.status(), PurchaseStatus::Completed);
    }
    assert_eq!(
        unpublished(&stack).await,
        6,
        "the outbox holds what NATS missed"
    );
    // The lag is visible: a metric (and a warning in the log) while NATS is down.
    let metrics_addr = stack.purchases.metrics_addr.expect("metrics");
    let start = Instant::now();
    loop {
        let text = scrape(metrics_addr).await;
        if sample(&text, "outbox_pending_events") == Some(6.0) {
            assert!(sample(&text, "outbox_lag_seconds").is_some_and(|lag| lag > 0.0));
            break;
        }
        assert!(start.elapsed() < PUBLISHED_WITHIN, "no outbox lag metric");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    nats.restart().expect("nats-server again");
    let js = jetstream(&nats.url()).await;
    let events = wait_for_events(&js, 8, Duration::from_secs(30)).await;
    wait_until_drained(&stack).await;
    // Settle any republish the relay may still send, then count: nothing twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events_after = shop_testkit::events::stored_events(&js).await;
    assert_eq!(events_after.len(), 8, "{:#?}", types(&events_after));
    let ids: HashSet<_> = events.iter().map(|e| e.event.event_id.clone()).collect();
    assert_eq!(ids.len(), 8, "eight distinct events");
    let completed = events
        .iter()
        .filter(|e| e.event.r#type() == PurchaseEventType::Completed)
        .count();
    assert_eq!(completed, 4);
    wait_for_sold_count(&stack, product.id, 4).await;
}
