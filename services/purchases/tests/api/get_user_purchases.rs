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
        .get_user_purchases(GetUserPurchasesRequest {
            user_id: john.id,
            ..Default::default()
        })
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
        .get_user_purchases(GetUserPurchasesRequest {
            user_id: user.id,
            ..Default::default()
        })
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
        .get_user_purchases(GetUserPurchasesRequest {
            user_id: 31,
            ..Default::default()
        })
        .await
        .expect_err("missing");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "user 31 not found");

    let status = stack
        .client()
        .get_user_purchases(GetUserPurchasesRequest {
            user_id: -1,
            ..Default::default()
        })
        .await
        .expect_err("bad id");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        shop_testkit::violated_fields(&status),
        ["user_id"],
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_through_a_users_purchases_and_refuses_tokens_of_another_users_list() {
    let stack = spawn_stack().await;
    let john = stack.create_user("John Doe", "john@example.com").await;
    let jane = stack.create_user("Jane Roe", "jane@example.com").await;
    let mouse = stack.create_product("Mouse", 19.5).await;
    let buy = |user_id| CreatePurchaseRequest {
        user_id,
        product_id: mouse.id,
    };
    let mut client = stack.client();
    for _ in 0..5 {
        client.create_purchase(buy(john.id)).await.expect("buy");
    }
    client.create_purchase(buy(jane.id)).await.expect("buy");
    let page = |page_token: String| GetUserPurchasesRequest {
        user_id: john.id,
        page_size: 2,
        page_token,
    };

    let first = client
        .get_user_purchases(page(String::new()))
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(first.purchases.len(), 2);
    assert!(!first.next_page_token.is_empty());
    // A purchase made between pages comes at the end, never shifting what follows.
    client.create_purchase(buy(john.id)).await.expect("buy");
    let mut ids: Vec<i64> = first.purchases.iter().map(|p| p.id).collect();
    let mut token = first.next_page_token;
    let mut pages = 1;
    while !token.is_empty() {
        let next = client
            .get_user_purchases(page(token))
            .await
            .expect("next page")
            .into_inner();
        assert!(next.purchases.len() <= 2);
        assert_eq!(next.products.len(), 1, "the page's distinct products");
        ids.extend(next.purchases.iter().map(|p| p.id));
        token = next.next_page_token;
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 6, "every purchase of John's once: {ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");

    // John's token on Jane's list, an edited token, a negative size: INVALID_ARGUMENT.
    let johns = client
        .get_user_purchases(page(String::new()))
        .await
        .expect("page")
        .into_inner()
        .next_page_token;
    let status = client
        .get_user_purchases(GetUserPurchasesRequest {
            user_id: jane.id,
            page_size: 2,
            page_token: johns.clone(),
        })
        .await
        .expect_err("another user's token");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        shop_testkit::violated_fields(&status),
        ["page_token"],
        "{status:?}"
    );
    let mut edited = johns.into_bytes();
    edited[3] = if edited[3] == b'A' { b'B' } else { b'A' };
    let status = client
        .get_user_purchases(page(String::from_utf8(edited).expect("ascii")))
        .await
        .expect_err("edited token");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client
        .get_user_purchases(GetUserPurchasesRequest {
            user_id: john.id,
            page_size: -1,
            page_token: String::new(),
        })
        .await
        .expect_err("negative size");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        shop_testkit::violated_fields(&status),
        ["page_size"],
        "{status:?}"
    );
}
