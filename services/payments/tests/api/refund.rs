use proto::payments::v1::GetChargeRequest;
use tonic::Code;

use crate::helpers::{charge, ledger, refund, spawn_app};

#[tokio::test(flavor = "multi_thread")]
async fn refunds_once_per_key_and_never_more_than_was_charged() {
    let app = spawn_app().await;
    charge(&app, "purchase-1", 1_000).await.expect("charge");

    let first = refund(&app, "refund-a", "purchase-1", 600)
        .await
        .expect("refund")
        .refund
        .expect("the ledger's refund");
    assert_eq!(first.amount_minor, 600);
    assert_eq!(first.charge_idempotency_key, "purchase-1");
    let again = refund(&app, "refund-a", "purchase-1", 600)
        .await
        .expect("replay")
        .refund
        .expect("refund");
    assert_eq!(again, first, "the same key answers the same refund");
    assert_eq!(ledger(&app, "refunds").await.len(), 1);

    let status = refund(&app, "refund-b", "purchase-1", 500)
        .await
        .expect_err("more than is left");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("400 of 1000"), "{status:?}");

    refund(&app, "refund-b", "purchase-1", 400)
        .await
        .expect("the rest");
    let charge = app
        .client
        .clone()
        .get_charge(GetChargeRequest {
            idempotency_key: "purchase-1".into(),
        })
        .await
        .expect("get charge")
        .into_inner()
        .charge
        .expect("charge");
    assert_eq!((charge.amount_minor, charge.refunded_minor), (1_000, 1_000));
    assert_eq!(ledger(&app, "refunds").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_key_reused_for_another_refund_is_already_exists() {
    let app = spawn_app().await;
    charge(&app, "purchase-1", 1_000).await.expect("charge");
    charge(&app, "purchase-2", 1_000).await.expect("charge");
    refund(&app, "refund-1", "purchase-1", 100)
        .await
        .expect("refund");
    for (charge_key, amount) in [("purchase-1", 200), ("purchase-2", 100)] {
        let status = refund(&app, "refund-1", charge_key, amount)
            .await
            .expect_err("conflict");
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        assert!(status.message().contains("\"refund-1\""), "{status:?}");
    }
    assert_eq!(ledger(&app, "refunds").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn refunding_an_unknown_charge_is_not_found() {
    let app = spawn_app().await;
    let status = refund(&app, "refund-1", "purchase-404", 1)
        .await
        .expect_err("no charge");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("purchase-404"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refunds_never_add_up_to_more_than_the_charge() {
    let app = spawn_app().await;
    charge(&app, "purchase-1", 1_000).await.expect("charge");
    let attempts = (0..10).map(|n| {
        let app = &app;
        async move { refund(app, &format!("refund-{n}"), "purchase-1", 300).await }
    });
    let results = futures::future::join_all(attempts).await;
    let refunded = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(refunded, 3, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|status| status.code() == Code::FailedPrecondition),
        "{results:?}"
    );
    let total: i64 = ledger(&app, "refunds")
        .await
        .iter()
        .map(|row| row.amount_minor)
        .sum();
    assert_eq!(total, 900);
}
