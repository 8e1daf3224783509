//! The purchase lifecycle against a real payments service: PENDING -> COMPLETED with exactly
//! one charge of the exact amount, FAILED with a reason and no charge, COMPLETED -> REFUNDED
//! once.

use payments_service::Rules;
use proto::payments::v1::GetChargeRequest;
use proto::purchases::v1::{GetPurchaseRequest, PurchaseStatus, RefundPurchaseRequest};
use tonic::Code;

use crate::helpers::{LedgerRow, buy, ledger, spawn_stack, spawn_stack_with_payments, stored};

#[tokio::test(flavor = "multi_thread")]
async fn a_completed_purchase_has_one_charge_of_its_exact_amount_under_its_id() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let purchase = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");
    assert_eq!(purchase.status(), PurchaseStatus::Completed);
    assert_eq!(purchase.amount, 1299.99);
    assert_eq!(purchase.failure_reason, "");
    assert_eq!(
        ledger(stack.payments.db.url(), "charges").await,
        vec![LedgerRow {
            idempotency_key: format!("purchase-{}", purchase.id),
            amount_minor: 129_999,
        }]
    );
    assert_eq!(
        stored(stack.purchases.db.url()).await[0].amount_minor,
        129_999
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_charge_fails_the_purchase_with_the_reason_and_charges_nothing() {
    let stack = spawn_stack_with_payments(Rules {
        decline_above: 100_000,
        ..Rules::default()
    })
    .await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let laptop = stack.create_product("Laptop", 1299.99).await;
    let pen = stack.create_product("Pen", 2.5).await;

    let declined = buy(&stack, user.id, laptop.id)
        .await
        .purchase
        .expect("purchase");
    assert_eq!(declined.status(), PurchaseStatus::Failed);
    assert_eq!(
        declined.failure_reason,
        "payment declined: amount 129999 exceeds the limit of 100000 minor units"
    );
    assert!(ledger(stack.payments.db.url(), "charges").await.is_empty());

    // GetPurchase shows the status and the reason.
    let read = stack
        .client()
        .get_purchase(GetPurchaseRequest { id: declined.id })
        .await
        .expect("get")
        .into_inner()
        .purchase;
    assert_eq!(read.as_ref(), Some(&declined));

    // Below the limit the same shop charges.
    let bought = buy(&stack, user.id, pen.id)
        .await
        .purchase
        .expect("purchase");
    assert_eq!(bought.status(), PurchaseStatus::Completed);
    assert_eq!(ledger(stack.payments.db.url(), "charges").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn refunding_twice_refunds_once_and_the_second_is_failed_precondition() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let purchase = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase");

    let refunded = stack
        .client()
        .refund_purchase(RefundPurchaseRequest { id: purchase.id })
        .await
        .expect("refund")
        .into_inner()
        .purchase
        .expect("purchase");
    assert_eq!(refunded.status(), PurchaseStatus::Refunded);
    assert_eq!(refunded.id, purchase.id);
    assert_eq!(refunded.amount, 1299.99);

    let status = stack
        .client()
        .refund_purchase(RefundPurchaseRequest { id: purchase.id })
        .await
        .expect_err("second refund");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        status.message(),
        format!(
            "purchase {} cannot be refunded: it is already REFUNDED",
            purchase.id
        )
    );

    assert_eq!(
        ledger(stack.payments.db.url(), "refunds").await,
        vec![LedgerRow {
            idempotency_key: format!("refund-{}", purchase.id),
            amount_minor: 129_999,
        }]
    );
    let charge = stack
        .payments_client()
        .get_charge(GetChargeRequest {
            idempotency_key: format!("purchase-{}", purchase.id),
        })
        .await
        .expect("charge")
        .into_inner()
        .charge
        .expect("charge");
    assert_eq!(charge.refunded_minor, charge.amount_minor);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refunds_of_one_purchase_refund_once() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let id = buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase")
        .id;
    let attempts = (0..10).map(|_| {
        let mut client = stack.client();
        async move { client.refund_purchase(RefundPurchaseRequest { id }).await }
    });
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(s) if s.code() == Code::FailedPrecondition))
        .count();
    assert!(ok >= 1, "{results:?}");
    assert_eq!(ok + refused, results.len(), "{results:?}");
    assert_eq!(ledger(stack.payments.db.url(), "refunds").await.len(), 1);
    assert_eq!(stored(stack.purchases.db.url()).await[0].status, "REFUNDED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_purchase_cannot_be_refunded_and_a_missing_one_is_not_found() {
    let stack = spawn_stack_with_payments(Rules {
        decline_above: 0,
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

    let status = stack
        .client()
        .refund_purchase(RefundPurchaseRequest { id: failed.id })
        .await
        .expect_err("failed purchase");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("FAILED and was never charged"),
        "{status:?}"
    );
    assert!(ledger(stack.payments.db.url(), "refunds").await.is_empty());

    let status = stack
        .client()
        .refund_purchase(RefundPurchaseRequest { id: 999 })
        .await
        .expect_err("missing");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "purchase 999 not found");
    let status = stack
        .client()
        .refund_purchase(RefundPurchaseRequest { id: 0 })
        .await
        .expect_err("bad id");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_price_that_is_not_whole_cents_is_refused_before_anything_is_written() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Dust", 0.001).await;
    let status = stack
        .client()
        .create_purchase(crate::helpers::request(user.id, product.id))
        .await
        .expect_err("not chargeable");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("whole number of cents"),
        "{status:?}"
    );
    assert!(stored(stack.purchases.db.url()).await.is_empty());
    assert!(ledger(stack.payments.db.url(), "charges").await.is_empty());
}
