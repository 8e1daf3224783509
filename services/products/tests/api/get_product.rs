use proto::products::v1::GetProductRequest;
use tonic::Code;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn reads_back_a_created_product() {
    let app = spawn_app().await;
    let created = app.create_product("Laptop", 1299.99).await;
    let read = app
        .client
        .clone()
        .get_product(GetProductRequest { id: created.id })
        .await
        .expect("get product")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(read, created);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_product_is_not_found() {
    let app = spawn_app().await;
    let status = app
        .client
        .clone()
        .get_product(GetProductRequest { id: 777 })
        .await
        .expect_err("missing");
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("777"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_positive_id_is_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let status = app
        .client
        .clone()
        .get_product(GetProductRequest { id: 0 })
        .await
        .expect_err("invalid id");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(shop_testkit::violated_fields(&status), ["id"], "{status:?}");
}
