use proto::purchases::v1::{CreatePurchaseRequest, GetUserPurchasesRequest};
use tonic::Code;

use crate::helpers::spawn_stack;

#[tokio::test(flavor = "multi_thread")]
async fn lists_purchases_with_the_user_and_each_distinct_product_once() {
    let stack = spawn_stack().await;
    let john = stack.create_user("John Doe", "john@example.com").await;
    let jane = stack.create_user("Jane Roe", "jane@example.com").await;
    let laptop = stack.create_product("Laptop", 1299.99).await;
    let mouse = stack.create_product("Mouse", 19.5).await;
    let mut created = Vec::new();
    for (user, product) in [
        (&john, &laptop),
        (&john, &mouse),
        (&jane, &mouse),
        (&john, &laptop),
    ] {
        let purchase = stack
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
        if user.id == john.id {
            created.push(purchase);
        }
    }

    let list = stack
        .client()
        .get_user_purchases(GetUserPurchasesRequest { user_id: john.id })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(list.purchases, created, "oldest first, only John's");
    assert_eq!(list.user, Some(john));
    assert_eq!(
        list.products,
        vec![laptop, mouse],
        "distinct, in order of first purchase"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_purchases_gets_an_empty_list() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let list = stack
        .client()
        .get_user_purchases(GetUserPurchasesRequest { user_id: user.id })
        .await
        .expect("list")
        .into_inner();
    assert!(list.purchases.is_empty());
    assert!(list.products.is_empty());
    assert_eq!(list.user, Some(user));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_user_is_not_found_and_a_bad_id_invalid() {
    let stack = spawn_stack().await;
    let status = stack
        .client()
        .get_user_purchases(GetUserPurchasesRequest { user_id: 31 })
        .await
        .expect_err("missing");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "user 31 not found");

    let status = stack
        .client()
        .get_user_purchases(GetUserPurchasesRequest { user_id: -1 })
        .await
        .expect_err("bad id");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("user_id:"), "{status:?}");
}
