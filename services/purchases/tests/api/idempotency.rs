//! Idempotency keys on CreatePurchase and RefundPurchase, as the gateway forwards them
//! (`idempotency-key` metadata).

use std::time::Duration;

use proto::purchases::v1::{PurchaseStatus, RefundPurchaseRequest};
use tonic::Code;

use crate::helpers::{
    ShopOptions, ledger, request, spawn_stack, spawn_stack_with, stored, with_key,
};

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_creates_with_one_key_buy_once_and_answer_alike() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let attempts = (0..50).map(|_| {
        let mut client = stack.client();
        async move {
            client
                .create_purchase(with_key(request(user.id, product.id), "order-4711"))
                .await
                .map(tonic::Response::into_inner)
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let first = answers[0].as_ref().expect("bought").clone();
    for answer in &answers {
        assert_eq!(answer.as_ref().expect("bought"), &first);
    }
    let purchase = first.purchase.expect("purchase");
    assert_eq!(purchase.status(), PurchaseStatus::Completed);
    assert_eq!(stored(stack.purchases.db.url()).await.len(), 1);
    assert_eq!(ledger(stack.payments.db.url(), "charges").await.len(), 1);

    // Later copies get the stored answer too.
    let late = stack
        .client()
        .create_purchase(with_key(request(user.id, product.id), "order-4711"))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(late.purchase, Some(purchase));
    assert_eq!(stored(stack.purchases.db.url()).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_key_with_another_request_is_already_exists_naming_the_key() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let laptop = stack.create_product("Laptop", 1299.99).await;
    let pen = stack.create_product("Pen", 2.5).await;
    stack
        .client()
        .create_purchase(with_key(request(user.id, laptop.id), "k-1"))
        .await
        .expect("bought");
    let status = stack
        .client()
        .create_purchase(with_key(request(user.id, pen.id), "k-1"))
        .await
        .expect_err("another request");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(
        status.message().contains("Idempotency-Key \"k-1\""),
        "{status:?}"
    );
    // A refund is another request too.
    let status = stack
        .client()
        .refund_purchase(with_key(RefundPurchaseRequest { id: 1 }, "k-1"))
        .await
        .expect_err("another operation");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(stored(stack.purchases.db.url()).await.len(), 1);
    assert_eq!(ledger(stack.payments.db.url(), "charges").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_whose_request_wrote_nothing_runs_again() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    // No product 1 yet: NOT_FOUND, nothing written, the key released.
    let status = stack
        .client()
        .create_purchase(with_key(request(user.id, 1), "k-2"))
        .await
        .expect_err("no product");
    assert_eq!(status.code(), Code::NotFound);
    let product = stack.create_product("Laptop", 1299.99).await;
    assert_eq!(product.id, 1);
    let bought = stack
        .client()
        .create_purchase(with_key(request(user.id, 1), "k-2"))
        .await
        .expect("runs again")
        .into_inner();
    assert_eq!(
        bought.purchase.expect("purchase").status(),
        PurchaseStatus::Completed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_with_a_key_answers_its_retries_alike_and_refunds_once() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let id = crate::helpers::buy(&stack, user.id, product.id)
        .await
        .purchase
        .expect("purchase")
        .id;
    let refund = async || {
        stack
            .client()
            .refund_purchase(with_key(RefundPurchaseRequest { id }, "refund-me"))
            .await
            .map(tonic::Response::into_inner)
    };
    let first = refund().await.expect("refunded");
    assert_eq!(refund().await.expect("replayed"), first);
    // Without the key, a second refund is refused.
    let status = stack
        .client()
        .refund_purchase(RefundPurchaseRequest { id })
        .await
        .expect_err("already refunded");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(ledger(stack.payments.db.url(), "refunds").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_key_is_invalid_argument_naming_the_header() {
    let stack = spawn_stack().await;
    let status = stack
        .client()
        .create_purchase(with_key(request(1, 1), "has space"))
        .await
        .expect_err("invalid key");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("Idempotency-Key:"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_expire_after_their_time_and_are_purged() {
    let stack = spawn_stack_with(ShopOptions {
        deadline: Duration::from_millis(500),
        lifecycle: purchases_service::LifecycleConfig {
            settle_after: Duration::from_secs(2),
            sweep_interval: Duration::from_millis(200),
            key_ttl: Duration::from_secs(1),
        },
        ..ShopOptions::default()
    })
    .await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let laptop = stack.create_product("Laptop", 1299.99).await;
    let pen = stack.create_product("Pen", 2.5).await;
    stack
        .client()
        .create_purchase(with_key(request(user.id, laptop.id), "short-lived"))
        .await
        .expect("bought");
    let keys = async || {
        stack
            .purchases
            .db
            .count_rows("idempotency_keys")
            .await
            .expect("count")
    };
    assert_eq!(keys().await, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while keys().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired key was never purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Forgotten: the key is free for a new request.
    let bought = stack
        .client()
        .create_purchase(with_key(request(user.id, pen.id), "short-lived"))
        .await
        .expect("a new purchase")
        .into_inner();
    assert_eq!(bought.purchase.expect("purchase").product_id, pen.id);
    assert_eq!(stored(stack.purchases.db.url()).await.len(), 2);
}
