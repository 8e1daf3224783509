//! The seed walkthrough (README.md, "Try it"), request for request, on fresh databases.

use serde_json::json;

use crate::helpers::spawn_stack;

#[tokio::test(flavor = "multi_thread")]
async fn seed_walkthrough() {
    let stack = spawn_stack().await;

    let user = stack
        .post(
            "/api/users",
            r#"{"name":"John Doe","email":"john@example.com"}"#,
        )
        .await;
    assert_eq!(user.status, 200, "{:?}", user.body);
    assert_eq!(
        user.json(),
        json!({"id":"1","name":"John Doe","email":"john@example.com"})
    );

    let product = stack
        .post("/api/products", r#"{"name":"Laptop","price":1299.99}"#)
        .await;
    assert_eq!(product.status, 200, "{:?}", product.body);
    assert_eq!(
        product.json(),
        json!({"id":"1","name":"Laptop","price":1299.99,"sold_count":"0"})
    );

    let both = stack.get("/api/purchases/user/1/product/1").await;
    assert_eq!(both.status, 200, "{:?}", both.body);
    assert_eq!(
        both.json(),
        json!({
            "user": {"id":"1","name":"John Doe","email":"john@example.com"},
            "product": {"id":"1","name":"Laptop","price":1299.99,"sold_count":"0"},
        })
    );

    let created = stack
        .post("/api/purchases", r#"{"user_id":"1","product_id":"1"}"#)
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let created = created.json();
    let purchase = &created["purchase"];
    assert_eq!(purchase["id"], "1", "{created}");
    assert_eq!(purchase["user_id"], "1", "{created}");
    assert_eq!(purchase["product_id"], "1", "{created}");
    assert_eq!(purchase["amount"], 1299.99, "{created}");
    assert_eq!(purchase["status"], "PURCHASE_STATUS_COMPLETED", "{created}");
    let created_at = purchase["created_at"].as_str().expect("a timestamp string");
    assert!(created_at.ends_with('Z'), "RFC 3339 UTC: {created_at}");
    assert_eq!(
        created["user"],
        json!({"id":"1","name":"John Doe","email":"john@example.com"})
    );
    assert_eq!(
        created["product"],
        json!({"id":"1","name":"Laptop","price":1299.99,"sold_count":"0"})
    );

    let read = stack.get("/api/purchases/1").await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.json(), created);

    let listed = stack.get("/api/users/1/purchases").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(
        listed.json(),
        json!({
            "purchases": [created["purchase"].clone()],
            "user": created["user"].clone(),
            "products": [created["product"].clone()],
            "next_page_token": "",
        })
    );

    // Input accepts lowerCamelCase too.
    let camel = stack
        .post("/api/purchases", r#"{"userId":"1","productId":"1"}"#)
        .await;
    assert_eq!(camel.status, 200, "{:?}", camel.body);
    assert_eq!(camel.json()["purchase"]["id"], "2");
}
