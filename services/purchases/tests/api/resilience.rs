//! Payments down, failing, slow or silent: purchases fail fast and clearly (never hang until
//! the caller's deadline), the breaker opens and recovers, and a charge whose answer was lost
//! is found in the ledger.

use std::time::{Duration, Instant};

use payments_service::Rules;
use proto::purchases::v1::PurchaseStatus;
use purchases_service::{BreakerConfig, ResilienceConfig};
use shop_testkit::UpstreamAddrs;
use tonic::Code;

use crate::helpers::{
    ShopOptions, buy, ledger, request, sample, scrape, spawn_stack_with, spawn_stack_with_payments,
    stored,
};

/// With payments refusing connections, a purchase fails within this (three attempts with
/// 50-400 ms jittered backoff); once the breaker is open, within a few milliseconds.
const FAIL_FAST: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread")]
async fn payments_down_fails_purchases_fast_opens_the_breaker_and_recovers_after_the_cooldown() {
    let cooldown = Duration::from_secs(4);
    let mut stack = spawn_stack_with(ShopOptions {
        deadline: Duration::from_secs(1),
        resilience: ResilienceConfig {
            retries: 2,
            breaker: BreakerConfig {
                failures: 3,
                cooldown,
            },
            ..ResilienceConfig::default()
        },
        ..ShopOptions::default()
    })
    .await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let bought = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");
    assert_eq!(bought.status(), PurchaseStatus::Completed);

    stack.payments.stop().await;
    let started = Instant::now();
    let failed = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");
    let fail_time = started.elapsed();
    let opened = Instant::now();
    assert_eq!(failed.status(), PurchaseStatus::Failed);
    assert_eq!(failed.failure_reason, "payments unavailable");
    assert!(fail_time < FAIL_FAST, "payments down took {fail_time:?}");

    // Three failed attempts opened the breaker: the next purchase does not even try.
    let started = Instant::now();
    let failed = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");
    let open_time = started.elapsed();
    assert_eq!(failed.failure_reason, "payments unavailable");
    assert!(open_time < FAIL_FAST, "breaker open took {open_time:?}");
    eprintln!("fail-fast: {fail_time:?} with payments down, {open_time:?} with the breaker open");

    // Payments is back, but the breaker is still open until the cool-down ends.
    stack.restart_payments(Rules::default()).await;
    let failed = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");
    assert!(
        opened.elapsed() < cooldown,
        "restarting payments outlasted the cool-down ({:?}): the check below proves nothing",
        opened.elapsed()
    );
    assert_eq!(failed.status(), PurchaseStatus::Failed);
    assert_eq!(failed.failure_reason, "payments unavailable");
    assert_eq!(
        ledger(stack.payments.db.url(), "charges").await.len(),
        1,
        "nothing reached payments while the breaker was open"
    );

    // After the cool-down one probe goes through, succeeds, and closes the breaker.
    tokio::time::sleep(cooldown.saturating_sub(opened.elapsed()) + Duration::from_millis(200))
        .await;
    for _ in 0..2 {
        let bought = buy(&stack, user.id, product.id)
            .await
            .purchase
            .expect("purchase");
        assert_eq!(bought.status(), PurchaseStatus::Completed);
    }
    assert_eq!(ledger(stack.payments.db.url(), "charges").await.len(), 3);
    let statuses: Vec<_> = stored(stack.purchases.db.url())
        .await
        .into_iter()
        .map(|row| row.status)
        .collect();
    assert_eq!(
        statuses,
        [
            "COMPLETED",
            "FAILED",
            "FAILED",
            "FAILED",
            "COMPLETED",
            "COMPLETED"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_breaker_state_and_its_rejections_are_on_the_metrics_endpoint() {
    let mut stack = spawn_stack_with(ShopOptions {
        deadline: Duration::from_secs(1),
        resilience: ResilienceConfig {
            retries: 2,
            breaker: BreakerConfig {
                failures: 3,
                // Longer than the test: the breaker stays open while it is read.
                cooldown: Duration::from_secs(300),
            },
            ..ResilienceConfig::default()
        },
        ..ShopOptions::default()
    })
    .await;
    let metrics = stack
        .purchases
        .metrics_addr
        .expect("purchases serves /metrics");
    let state = r#"circuit_breaker_state{upstream="payments-service"}"#;
    let opened = r#"circuit_breaker_transitions_total{upstream="payments-service",state="open"}"#;
    let rejected = r#"circuit_breaker_rejections_total{upstream="payments-service"}"#;

    let text = scrape(metrics).await;
    for upstream in ["users-service", "products-service", "payments-service"] {
        let series = format!(r#"circuit_breaker_state{{upstream="{upstream}"}}"#);
        assert_eq!(
            sample(&text, &series),
            Some(0.0),
            "{series} closed in:\n{text}"
        );
    }
    assert_eq!(sample(&text, opened), Some(0.0));
    assert_eq!(sample(&text, rejected), Some(0.0));

    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    stack.payments.stop().await;
    // Three failed attempts (one try, two retries) open payments' breaker...
    let failed = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");
    assert_eq!(failed.failure_reason, "payments unavailable");
    // ...and the next purchase is refused by it without trying.
    let failed = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");
    assert_eq!(failed.failure_reason, "payments unavailable");

    let text = scrape(metrics).await;
    assert_eq!(sample(&text, state), Some(2.0), "open in:\n{text}");
    assert_eq!(sample(&text, opened), Some(1.0), "opened once in:\n{text}");
    assert!(
        sample(&text, rejected).is_some_and(|n| n >= 1.0),
        "rejections counted in:\n{text}"
    );
    assert_eq!(
        sample(&text, r#"circuit_breaker_state{upstream="users-service"}"#),
        Some(0.0),
        "the other upstreams' breakers stay closed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn payments_failing_every_call_fails_the_purchase_and_charges_nothing() {
    let stack = spawn_stack_with_payments(Rules {
        failure_rate: 1.0,
        ..Rules::default()
    })
    .await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let failed = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");
    assert_eq!(failed.status(), PurchaseStatus::Failed);
    assert_eq!(failed.failure_reason, "payments unavailable");
    assert!(ledger(stack.payments.db.url(), "charges").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_charge_whose_answer_is_lost_is_found_in_the_ledger() {
    // Payments commits at once but answers after 1.5 s; purchases waits 500 ms per call.
    let stack = spawn_stack_with(ShopOptions {
        payments: Rules {
            delay: Duration::from_millis(1500),
            ..Rules::default()
        },
        deadline: Duration::from_millis(500),
        lifecycle: purchases_service::LifecycleConfig {
            settle_after: Duration::from_secs(5),
            ..purchases_service::LifecycleConfig::default()
        },
        ..ShopOptions::default()
    })
    .await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let started = Instant::now();
    let bought = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");
    assert_eq!(bought.status(), PurchaseStatus::Completed);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "did not wait for the late answer: {:?}",
        started.elapsed()
    );
    assert_eq!(ledger(stack.payments.db.url(), "charges").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_payments_leaves_the_purchase_pending_and_answers_unavailable_in_time() {
    // A listener that accepts connections but never speaks HTTP/2.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let users = shop_testkit::spawn_users().await;
    let products = shop_testkit::spawn_products().await;
    let options = ShopOptions {
        deadline: Duration::from_millis(500),
        lifecycle: purchases_service::LifecycleConfig {
            settle_after: Duration::from_secs(60),
            ..purchases_service::LifecycleConfig::default()
        },
        ..ShopOptions::default()
    };
    let purchases = shop_testkit::spawn_purchases(
        UpstreamAddrs {
            users: users.addr,
            products: products.addr,
            payments: silent_addr,
        },
        &options,
    )
    .await;
    let user = shop_testkit::create_user(&users.channel, "John Doe", "john@example.com").await;
    let product = shop_testkit::create_product(&products.channel, "Laptop", 1299.99).await;

    let mut request = tonic::Request::new(request(user.id, product.id));
    // The gateway's deadline: purchases answers well within it.
    request.set_timeout(Duration::from_secs(5));
    let started = Instant::now();
    let status = proto::purchases::v1::purchase_service_client::PurchaseServiceClient::new(
        purchases.channel.clone(),
    )
    .create_purchase(request)
    .await
    .expect_err("no answer from payments");
    let took = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("PENDING"), "{status:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let rows = stored(purchases.db.url()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].status, "PENDING",
        "it may have been charged: not FAILED"
    );
}
