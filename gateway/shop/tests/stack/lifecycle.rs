//! The purchase lifecycle over HTTP: a decline shows as FAILED with its reason, a refund
//! through `POST /api/purchases/{id}:refund`, and `Idempotency-Key` forwarded by the gateway so
//! that 50 concurrent copies of one POST buy once.

use bytes::Bytes;
use serde_json::json;

use crate::helpers::spawn_stack;

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_posts_with_one_idempotency_key_buy_once() {
    let stack = spawn_stack().await;
    stack.create_user("John Doe", "john@example.com").await;
    stack.create_product("Laptop", 1299.99).await;
    stack.create_product("Pen", 2.5).await;
    let body = r#"{"user_id":"1","product_id":"1"}"#;
    let key = [("Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324")];
    let posts = (0..50).map(|_| stack.post_with("/api/purchases", body, &key));
    let answers = futures::future::join_all(posts).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.body, answers[0].body, "50 identical answers");
    }
    let bought = answers[0].json();
    assert_eq!(
        bought["purchase"]["status"], "PURCHASE_STATUS_COMPLETED",
        "{bought}"
    );
    assert_eq!(
        stack
            .purchases
            .db
            .count_rows("purchases")
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        stack
            .payments
            .db
            .count_rows("charges")
            .await
            .expect("count"),
        1
    );

    // The same key with another body: 409 naming the key; nothing bought.
    let other = stack
        .post_with(
            "/api/purchases",
            r#"{"user_id":"1","product_id":"2"}"#,
            &key,
        )
        .await;
    let message = other.assert_error(409, 6);
    assert!(
        message.contains("Idempotency-Key \"8e03978e-40d5-43e8-bc93-6894a57f9324\""),
        "{message}"
    );
    assert_eq!(
        stack
            .purchases
            .db
            .count_rows("purchases")
            .await
            .expect("count"),
        1
    );

    // Without a key, the same body is a new purchase.
    let again = stack.post("/api/purchases", body).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.json()["purchase"]["id"], "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_moves_completed_to_refunded_once_and_a_second_is_400() {
    let stack = spawn_stack().await;
    stack.create_user("John Doe", "john@example.com").await;
    stack.create_product("Laptop", 1299.99).await;
    let bought = stack
        .post("/api/purchases", r#"{"user_id":"1","product_id":"1"}"#)
        .await;
    assert_eq!(bought.status, 200, "{:?}", bought.body);
    let purchase = bought.json()["purchase"].clone();

    let refunded = stack.post("/api/purchases/1:refund", "{}").await;
    assert_eq!(refunded.status, 200, "{:?}", refunded.body);
    let mut expected = purchase.clone();
    expected["status"] = json!("PURCHASE_STATUS_REFUNDED");
    assert_eq!(refunded.json(), json!({ "purchase": expected }));

    // No body at all works too; a second refund is refused and refunds nothing.
    let again = stack
        .send_with("POST", "/api/purchases/1:refund", &[], None)
        .await;
    let message = again.assert_error(400, 9);
    assert_eq!(
        message,
        "purchase 1 cannot be refunded: it is already REFUNDED"
    );
    assert_eq!(
        stack
            .payments
            .db
            .count_rows("refunds")
            .await
            .expect("count"),
        1
    );

    let read = stack.get("/api/purchases/1").await;
    assert_eq!(
        read.json()["purchase"]["status"],
        "PURCHASE_STATUS_REFUNDED"
    );
    let missing = stack
        .send_with("POST", "/api/purchases/9:refund", &[], Some(Bytes::new()))
        .await;
    missing.assert_error(404, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_price_above_the_decline_limit_fails_with_the_reason_and_cannot_be_refunded() {
    let stack = spawn_stack().await;
    stack.create_user("John Doe", "john@example.com").await;
    stack.create_product("Sports car", 20000.0).await;
    let bought = stack
        .post("/api/purchases", r#"{"user_id":"1","product_id":"1"}"#)
        .await;
    assert_eq!(bought.status, 200, "{:?}", bought.body);
    let purchase = &bought.json()["purchase"];
    assert_eq!(purchase["status"], "PURCHASE_STATUS_FAILED", "{purchase}");
    assert_eq!(
        purchase["failure_reason"],
        "payment declined: amount 2000000 exceeds the limit of 1000000 minor units"
    );
    assert_eq!(purchase["amount"], 20000.0);
    assert_eq!(
        stack
            .payments
            .db
            .count_rows("charges")
            .await
            .expect("count"),
        0
    );

    let refund = stack.post("/api/purchases/1:refund", "{}").await;
    let message = refund.assert_error(400, 9);
    assert!(
        message.contains("FAILED and was never charged"),
        "{message}"
    );
}
