use proto::purchases::v1::{CreatePurchaseRequest, GetPurchaseRequest};
use tonic::Code;

use crate::helpers::spawn_stack;

#[tokio::test(flavor = "multi_thread")]
async fn reads_a_purchase_with_its_user_and_product() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let created = stack
        .client()
        .create_purchase(CreatePurchaseRequest {
            user_id: user.id,
            product_id: product.id,
        })
        .await
        .expect("create")
        .into_inner()
        .purchase
        .expect("purchase");

    let read = stack
        .client()
        .get_purchase(GetPurchaseRequest { id: created.id })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(read.purchase, Some(created));
    assert_eq!(read.user, Some(user));
    assert_eq!(read.product, Some(product));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_purchase_is_not_found_and_a_bad_id_invalid() {
    let stack = spawn_stack().await;
    let status = stack
        .client()
        .get_purchase(GetPurchaseRequest { id: 5 })
        .await
        .expect_err("missing");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "purchase 5 not found");

    let status = stack
        .client()
        .get_purchase(GetPurchaseRequest { id: 0 })
        .await
        .expect_err("bad id");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(shop_testkit::violated_fields(&status), ["id"], "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn products_down_while_reading_is_unavailable() {
    let mut stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let id = stack
        .client()
        .create_purchase(CreatePurchaseRequest {
            user_id: user.id,
            product_id: product.id,
        })
        .await
        .expect("create")
        .into_inner()
        .purchase
        .expect("purchase")
        .id;
    stack.products.stop().await;
    let status = stack
        .client()
        .get_purchase(GetPurchaseRequest { id })
        .await
        .expect_err("products down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}
