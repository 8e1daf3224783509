//! The seed's composite endpoint (`purchases.v1.PurchaseQueryService/GetUserProduct`, declared
//! with `gateway.v1.compose`) against the real services: success, a missing part, and a part
//! whose service is down.

use serde_json::json;

use crate::helpers::spawn_stack;

#[tokio::test(flavor = "multi_thread")]
async fn composite_parts_fail_by_name() {
    let mut stack = spawn_stack().await;
    let user = stack.create_user("Ann", "ann@example.com").await;
    let product = stack.create_product("Pen", 2.5).await;
    let (uid, pid) = (
        user["id"].as_str().expect("an id"),
        product["id"].as_str().expect("an id"),
    );

    let both = stack
        .get(&format!("/api/purchases/user/{uid}/product/{pid}"))
        .await;
    assert_eq!(both.status, 200, "{:?}", both.body);
    assert_eq!(both.json(), json!({ "user": user, "product": product }));

    // `/api/purchases/{id}` exists too: the literal `user` segment wins over `{id}`.
    let missing_user = stack
        .get(&format!("/api/purchases/user/999/product/{pid}"))
        .await;
    let message = missing_user.assert_error(404, 5);
    assert!(message.starts_with("user: "), "{message}");

    let missing_product = stack
        .get(&format!("/api/purchases/user/{uid}/product/999"))
        .await;
    let message = missing_product.assert_error(404, 5);
    assert!(message.starts_with("product: "), "{message}");

    // Both missing: the first part in declaration order decides.
    let message = stack
        .get("/api/purchases/user/998/product/999")
        .await
        .assert_error(404, 5);
    assert!(message.starts_with("user: "), "{message}");

    // A path value that is not an int64 never reaches the services.
    let message = stack
        .get(&format!("/api/purchases/user/abc/product/{pid}"))
        .await
        .assert_error(400, 3);
    assert!(message.contains("user_id"), "{message}");

    // The products service stops: the composite fails naming the part, with 503.
    stack.products.stop().await;
    let message = stack
        .get(&format!("/api/purchases/user/{uid}/product/{pid}"))
        .await
        .assert_error(503, 14);
    assert!(message.starts_with("product: "), "{message}");
    assert!(message.contains("products.v1.ProductService"), "{message}");
}
