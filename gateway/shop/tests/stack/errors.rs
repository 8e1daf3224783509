//! Every error case of the gRPC -> HTTP table (ARCHITECTURE.md), through the gateway to the real
//! services.

use crate::helpers::spawn_stack_with;

/// A small body limit, so that the oversized body below is small too.
const BODY_LIMIT: usize = 1024;

#[tokio::test(flavor = "multi_thread")]
async fn every_error_case_of_the_design_table() {
    let mut stack = spawn_stack_with(|config| config.body_limit = BODY_LIMIT).await;
    stack.create_user("John Doe", "john@example.com").await;
    stack.create_product("Laptop", 1299.99).await;

    // Bad JSON: 400 from the gateway.
    let message = stack
        .post("/api/users", r#"{"name":"x","email":"#)
        .await
        .assert_error(400, 3);
    assert!(!message.is_empty());

    // Wrong type: 400 naming the field.
    let message = stack
        .post("/api/products", r#"{"name":"Pen","price":"cheap"}"#)
        .await
        .assert_error(400, 3);
    assert!(message.contains("price"), "{message}");

    // Unknown route: 404; known path with another method: 405.
    stack.get("/api/nothing").await.assert_error(404, 5);
    let wrong_method = stack.send("DELETE", "/api/users/1", None).await;
    wrong_method.assert_error(405, 12);

    // Body over the limit: 413.
    let big = format!(r#"{{"name":"{}","email":"a@b.c"}}"#, "x".repeat(BODY_LIMIT));
    stack
        .send_in_one_write("POST", "/api/users", &big)
        .await
        .assert_error(413, 8);

    // Missing rows: 404 from each service.
    stack.get("/api/users/999").await.assert_error(404, 5);
    stack.get("/api/products/999").await.assert_error(404, 5);
    stack.get("/api/purchases/999").await.assert_error(404, 5);
    stack
        .get("/api/users/999/purchases")
        .await
        .assert_error(404, 5);
    stack
        .post("/api/purchases", r#"{"user_id":"999","product_id":"1"}"#)
        .await
        .assert_error(404, 5);

    // Duplicate email (case-insensitive): 409.
    stack
        .post(
            "/api/users",
            r#"{"name":"Johnny","email":"JOHN@example.com"}"#,
        )
        .await
        .assert_error(409, 6);

    // Invalid ids: not a number (the gateway) and not positive (the service): 400.
    let message = stack.get("/api/users/abc").await.assert_error(400, 3);
    assert!(message.contains("id"), "{message}");
    let message = stack.get("/api/users/0").await.assert_error(400, 3);
    assert!(message.contains("id"), "{message}");

    // Invalid fields: 400 naming the field, never database text.
    let message = stack
        .post("/api/users", r#"{"name":"","email":"x@example.com"}"#)
        .await
        .assert_error(400, 3);
    assert!(message.contains("name"), "{message}");

    // An upstream that is down: 503 naming it.
    stack.products.stop().await;
    let message = stack.get("/api/products/1").await.assert_error(503, 14);
    assert!(message.contains("products.v1.ProductService"), "{message}");
    stack.users.stop().await;
    stack.get("/api/users/1").await.assert_error(503, 14);
    stack.purchases.stop().await;
    stack.get("/api/purchases/1").await.assert_error(503, 14);
}
