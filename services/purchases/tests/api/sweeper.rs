//! The sweeper settles what a crash left PENDING, against the payments ledger, and only once it
//! is older than the settle bound (so it never races a live request).

use std::time::{Duration, Instant};

use proto::payments::v1::ChargeRequest;

use crate::helpers::{ShopOptions, execute, spawn_stack_with, stored};

#[tokio::test(flavor = "multi_thread")]
async fn settles_old_pending_purchases_from_the_ledger_and_leaves_young_ones() {
    let settle_after = Duration::from_secs(3);
    let stack = spawn_stack_with(ShopOptions {
        deadline: Duration::from_millis(500),
        lifecycle: purchases_service::LifecycleConfig {
            settle_after,
            sweep_interval: Duration::from_millis(200),
            ..purchases_service::LifecycleConfig::default()
        },
        ..ShopOptions::default()
    })
    .await;
    // What crashes left: purchase 1 charged, purchase 2 not, both long ago; purchase 3 young.
    execute(
        stack.purchases.db.url(),
        "INSERT INTO purchases (user_id, product_id, amount_minor, status, created_at) VALUES \
         (1, 1, 250, 'PENDING', now() - interval '1 hour'), \
         (1, 1, 250, 'PENDING', now() - interval '1 hour'), \
         (1, 1, 250, 'PENDING', now())",
    )
    .await;
    let inserted = Instant::now();
    stack
        .payments_client()
        .charge(ChargeRequest {
            idempotency_key: "purchase-1".into(),
            amount_minor: 250,
        })
        .await
        .expect("charge");

    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = stored(stack.purchases.db.url()).await;
        if rows[..2].iter().all(|row| row.status != "PENDING") {
            break rows;
        }
        assert!(Instant::now() < deadline, "never settled: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (rows[0].status.as_str(), rows[0].failure_reason.as_deref()),
        ("COMPLETED", None)
    );
    assert_eq!(
        (rows[1].status.as_str(), rows[1].failure_reason.as_deref()),
        ("FAILED", Some("no payment was taken"))
    );
    if inserted.elapsed() < settle_after {
        assert_eq!(
            rows[2].status, "PENDING",
            "a young purchase is left to its request"
        );
    }

    // Once it is old enough, the young one is settled too (no charge: FAILED).
    loop {
        let rows = stored(stack.purchases.db.url()).await;
        if rows[2].status != "PENDING" {
            assert_eq!(rows[2].status, "FAILED");
            assert!(
                inserted.elapsed() >= settle_after,
                "{:?}",
                inserted.elapsed()
            );
            break;
        }
        assert!(Instant::now() < deadline, "never settled: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
