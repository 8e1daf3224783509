//! kill -9 of the real purchases-service binary after the charge is committed and before the
//! purchase's status is updated; restarted on the same database, it settles the purchase
//! COMPLETED from the payments ledger, and the ledger holds exactly one charge.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use payments_service::Rules;
use proto::purchases::v1::purchase_service_client::PurchaseServiceClient;
use shop_testkit::ShopOptions;
use test_support::TestDatabase;
use tokio::process::{Child, Command};

use crate::helpers::{ledger, request, stored};

/// Payments holds every answer back this long after committing: the window to kill in.
const PAYMENTS_DELAY: Duration = Duration::from_secs(2);

struct Upstreams {
    users: SocketAddr,
    products: SocketAddr,
    payments: SocketAddr,
}

/// The purchases binary on `listen` with `database_url`, sweeping every 300 ms and settling
/// what is PENDING for longer than 5.5 s (twice its 2.5 s upstream deadline, plus a margin).
fn start_purchases(listen: SocketAddr, database_url: &str, upstreams: &Upstreams) -> Child {
    Command::new(env!("CARGO_BIN_EXE_purchases-service"))
        .env("LISTEN_ADDR", listen.to_string())
        .env("DATABASE_URL", database_url)
        .env("USERS_SERVICE_URL", format!("http://{}", upstreams.users))
        .env(
            "PRODUCTS_SERVICE_URL",
            format!("http://{}", upstreams.products),
        )
        .env(
            "PAYMENTS_SERVICE_URL",
            format!("http://{}", upstreams.payments),
        )
        .env("UPSTREAM_TIMEOUT_MS", "2500")
        .env("SETTLE_PENDING_AFTER_MS", "5500")
        .env("SWEEP_INTERVAL_MS", "300")
        .env("RUST_LOG", "warn")
        // No NATS here: the events stay in the outbox (what this test checks is the ledger).
        .env("NATS_URL", "nats://127.0.0.1:9")
        .env_remove("CONSUL_HTTP_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start purchases-service")
}

/// A channel to the process on `listen`, once it accepts connections and reports SERVING.
async fn serving(listen: SocketAddr) -> tonic::transport::Channel {
    test_support::connect_when_serving(listen, Duration::from_secs(60))
        .await
        .expect("purchases-service becomes SERVING")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_killed_between_charge_and_status_update_is_settled_on_restart() {
    let users = shop_testkit::spawn_users().await;
    let products = shop_testkit::spawn_products().await;
    let options = ShopOptions {
        payments: Rules {
            delay: PAYMENTS_DELAY,
            ..Rules::default()
        },
        ..ShopOptions::default()
    };
    let payments = shop_testkit::spawn_payments(options.payments.clone()).await;
    let upstreams = Upstreams {
        users: users.addr,
        products: products.addr,
        payments: payments.addr,
    };
    let user = shop_testkit::create_user(&users.channel, "John Doe", "john@example.com").await;
    let product = shop_testkit::create_product(&products.channel, "Laptop", 1299.99).await;

    let db = TestDatabase::create().await.expect("purchases database");
    let listen: SocketAddr = format!("127.0.0.1:{}", test_support::free_port().expect("port"))
        .parse()
        .expect("address");
    let mut first = start_purchases(listen, db.url(), &upstreams);
    let channel = serving(listen).await;

    let buying = tokio::spawn(async move {
        PurchaseServiceClient::new(channel)
            .create_purchase(request(user.id, product.id))
            .await
    });
    // The charge is committed (payments then waits before answering): kill -9 now.
    let started = Instant::now();
    while ledger(payments.db.url(), "charges").await.is_empty() {
        assert!(
            started.elapsed() < PAYMENTS_DELAY,
            "no charge was committed in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("reaped");
    assert!(
        started.elapsed() < PAYMENTS_DELAY,
        "killed too late: the status may have been updated"
    );
    assert!(
        buying.await.expect("join").is_err(),
        "the caller lost its answer"
    );
    let rows = stored(db.url()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "PENDING", "killed before the status update");

    // Restarted on the same database, it settles the purchase from the ledger.
    let mut second = start_purchases(listen, db.url(), &upstreams);
    serving(listen).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let settled = loop {
        let rows = stored(db.url()).await;
        if rows[0].status != "PENDING" {
            break rows;
        }
        assert!(Instant::now() < deadline, "never settled: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(settled.len(), 1, "no second purchase");
    assert_eq!(settled[0].status, "COMPLETED");
    assert_eq!(settled[0].failure_reason, None);
    let charges = ledger(payments.db.url(), "charges").await;
    assert_eq!(charges.len(), 1, "exactly one charge: {charges:?}");
    assert_eq!(
        charges[0].idempotency_key,
        format!("purchase-{}", settled[0].id)
    );
    assert_eq!(charges[0].amount_minor, 129_999);

    second.start_kill().expect("stop");
    second.wait().await.expect("reaped");
}
