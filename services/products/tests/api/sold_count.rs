//! `sold_count` from the purchase events on a real NATS JetStream server, counted by the real
//! products-service binary: killed (`kill -9`) in the middle of a stream of events and started
//! again, it ends with the exact count, every event counted once, including events JetStream
//! holds twice (a producer's republish outside the duplicate window).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use prost::Message;
use proto::products::v1::GetProductRequest;
use proto::products::v1::product_service_client::ProductServiceClient;
use proto::purchases::v1::{Purchase, PurchaseEvent, PurchaseEventType, PurchaseStatus};
use shop_common::events::{ensure_purchase_stream, purchase_subject};
use shop_testkit::events::jetstream;
use test_support::{NatsServer, TestDatabase};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

/// Completed purchases published, refunds among them, and events published twice.
const COMPLETED: usize = 300;
const REFUNDED: usize = 40;
const REPUBLISHED: usize = 30;

fn start_products(listen: SocketAddr, database_url: &str, nats_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_products-service"))
        .env("LISTEN_ADDR", listen.to_string())
        .env("DATABASE_URL", database_url)
        .env("NATS_URL", nats_url)
        .env("RUST_LOG", "warn")
        .env_remove("CONSUL_HTTP_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start products-service")
}

async fn client(listen: SocketAddr) -> ProductServiceClient<Channel> {
    let channel = test_support::connect_when_serving(listen, Duration::from_secs(60))
        .await
        .expect("products-service becomes SERVING");
    ProductServiceClient::new(channel)
}

async fn sold_count(client: &mut ProductServiceClient<Channel>, id: i64) -> i64 {
    client
        .get_product(GetProductRequest { id })
        .await
        .expect("get product")
        .into_inner()
        .product
        .expect("product")
        .sold_count
}

/// A purchase event of `event_type` for a purchase of `product_id`.
fn event(purchase_id: i64, product_id: i64, event_type: PurchaseEventType) -> PurchaseEvent {
    let status = match event_type {
        PurchaseEventType::Refunded => PurchaseStatus::Refunded,
        _ => PurchaseStatus::Completed,
    };
    PurchaseEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        r#type: event_type.into(),
        purchase: Some(Purchase {
            id: purchase_id,
            user_id: 1,
            product_id,
            amount: 1.0,
            status: status.into(),
            ..Default::default()
        }),
        occurred_at: None,
    }
}

/// Publishes `event` as the purchases relay does, with `message_id` as `Nats-Msg-Id`, and waits
/// for JetStream's ack.
async fn publish(
    js: &async_nats::jetstream::Context,
    event: &PurchaseEvent,
    kind: &str,
    message_id: &str,
) {
    let purchase_id = event.purchase.as_ref().map_or(0, |p| p.id);
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", message_id);
    headers.insert("Content-Type", "application/protobuf");
    js.publish_with_headers(
        purchase_subject(purchase_id, kind),
        headers,
        event.encode_to_vec().into(),
    )
    .await
    .expect("publish")
    .await
    .expect("ack");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_consumer_restarts_and_counts_every_event_exactly_once() {
    let nats = NatsServer::start().expect("nats-server");
    let db = TestDatabase::create().await.expect("database");
    let listen: SocketAddr = format!("127.0.0.1:{}", test_support::free_port().expect("port"))
        .parse()
        .expect("address");
    let mut process = start_products(listen, db.url(), &nats.url());
    let mut products = client(listen).await;
    let product = products
        .create_product(proto::products::v1::CreateProductRequest {
            name: "Laptop".into(),
            price: Some(1.0),
        })
        .await
        .expect("create")
        .into_inner()
        .product
        .expect("product");

    let js = jetstream(&nats.url()).await;
    ensure_purchase_stream(&js).await.expect("stream");
    let mut published = Vec::new();
    for purchase_id in 1..=COMPLETED as i64 {
        let completed = event(purchase_id, product.id, PurchaseEventType::Completed);
        publish(&js, &completed, "completed", &completed.event_id).await;
        published.push(completed);
        if purchase_id as usize <= REFUNDED {
            let refunded = event(purchase_id, product.id, PurchaseEventType::Refunded);
            publish(&js, &refunded, "refunded", &refunded.event_id).await;
            published.push(refunded);
        }
        // Kill the consumer in the middle of the stream, once it has counted some.
        if purchase_id == COMPLETED as i64 / 2 {
            let start = Instant::now();
            while sold_count(&mut products, product.id).await == 0 {
                assert!(start.elapsed() < Duration::from_secs(15), "nothing counted");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            process.kill().await.expect("kill -9 products-service");
        }
    }
    // Events JetStream stores twice (republished under another message id): counted once.
    for event in published.iter().take(REPUBLISHED) {
        let kind = if event.r#type() == PurchaseEventType::Refunded {
            "refunded"
        } else {
            "completed"
        };
        publish(&js, event, kind, &format!("again-{}", event.event_id)).await;
    }

    let mut process = start_products(listen, db.url(), &nats.url());
    let mut products = client(listen).await;
    let expected = (COMPLETED - REFUNDED) as i64;
    let start = Instant::now();
    loop {
        let count = sold_count(&mut products, product.id).await;
        if count == expected
            && db.count_rows("processed_events").await.expect("count") == published.len() as i64
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sold_count {count}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more arrives to change it: the count is exact, not on its way past.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sold_count(&mut products, product.id).await, expected);
    process.kill().await.expect("stop products-service");
}
