use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proto::purchases::v1::{CreatePurchaseRequest, PurchaseStatus};
use tonic::Code;

use crate::helpers::{spawn_stack, spawn_stack_with_deadline};

fn request(user_id: i64, product_id: i64) -> CreatePurchaseRequest {
    CreatePurchaseRequest {
        user_id,
        product_id,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn records_the_seed_purchase_at_the_current_price() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();

    let response = stack
        .client()
        .create_purchase(request(user.id, product.id))
        .await
        .expect("create purchase")
        .into_inner();

    let purchase = response.purchase.expect("purchase");
    assert!(purchase.id > 0);
    assert_eq!(purchase.user_id, user.id);
    assert_eq!(purchase.product_id, product.id);
    assert_eq!(purchase.amount, 1299.99);
    assert_eq!(purchase.status(), PurchaseStatus::Completed);
    let created = purchase.created_at.expect("created_at").seconds;
    assert!(
        created.unsigned_abs() >= before.saturating_sub(5),
        "{created} vs {before}"
    );
    assert_eq!(response.user, Some(user));
    assert_eq!(response.product, Some(product));
    assert_eq!(stack.stored_purchases().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_ids_are_invalid_argument_naming_the_field() {
    let stack = spawn_stack().await;
    for (req, field) in [(request(0, 1), "user_id"), (request(1, -3), "product_id")] {
        let status = stack
            .client()
            .create_purchase(req)
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            shop_testkit::violated_fields(&status),
            [field],
            "{status:?}"
        );
    }
    assert_eq!(stack.stored_purchases().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_user_or_product_is_not_found_naming_which() {
    let stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;

    let status = stack
        .client()
        .create_purchase(request(999, product.id))
        .await
        .expect_err("no such user");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "user 999 not found");

    let status = stack
        .client()
        .create_purchase(request(user.id, 888))
        .await
        .expect_err("no such product");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "product 888 not found");
    assert_eq!(stack.stored_purchases().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_down_is_unavailable_and_nothing_is_written() {
    let mut stack = spawn_stack().await;
    let product = stack.create_product("Laptop", 1299.99).await;
    stack.users.stop().await;

    let started = Instant::now();
    let status = stack
        .client()
        .create_purchase(request(1, product.id))
        .await
        .expect_err("users down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("users-service"), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "fails fast: {:?}",
        started.elapsed()
    );
    assert_eq!(stack.stored_purchases().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn products_down_is_unavailable_and_nothing_is_written() {
    let mut stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    stack.products.stop().await;

    let status = stack
        .client()
        .create_purchase(request(user.id, 1))
        .await
        .expect_err("products down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("products-service"), "{status:?}");
    assert_eq!(stack.stored_purchases().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_that_never_answers_hits_the_deadline_as_unavailable() {
    // A listener that accepts connections but never speaks HTTP/2.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let stack = spawn_stack_with_deadline(Duration::from_millis(500)).await;
    let product = stack.create_product("Laptop", 1299.99).await;

    // Rebuild a purchases service whose users upstream is the silent listener.
    let db = test_support::TestDatabase::create().await.expect("db");
    let app = purchases_service::Application::build(purchases_service::Config {
        listen_addr: "127.0.0.1:0".parse().expect("literal"),
        database: shop_common::DatabaseConfig::new(db.url()),
        upstreams: purchases_service::UpstreamsConfig {
            users: vec![format!("http://{silent_addr}")],
            products: vec![format!("http://{}", stack.products.addr)],
            payments: vec![format!("http://{}", stack.payments.addr)],
            deadline: Duration::from_millis(500),
        },
        resilience: Default::default(),
        lifecycle: Default::default(),
        events: None,
    })
    .await
    .expect("build");
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    test_support::wait_until_serving(channel.clone(), "", Duration::from_secs(30))
        .await
        .expect("SERVING");

    let started = Instant::now();
    let status = proto::purchases::v1::purchase_service_client::PurchaseServiceClient::new(channel)
        .create_purchase(request(1, product.id))
        .await
        .expect_err("silent upstream");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let _ = stop.send(());
    server.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn recovers_when_a_stopped_upstream_comes_back() {
    let mut stack = spawn_stack().await;
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    stack
        .client()
        .create_purchase(request(user.id, product.id))
        .await
        .expect("works while users is up");

    stack.users.stop().await;
    let status = stack
        .client()
        .create_purchase(request(user.id, product.id))
        .await
        .expect_err("users down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // Users comes back on the same address, same database.
    let app = users_service::Application::build(users_service::Config {
        listen_addr: stack.users.addr,
        database: shop_common::DatabaseConfig::new(stack.users.db.url()),
    })
    .await
    .expect("rebind the users port");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", stack.users.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    test_support::wait_until_serving(channel, "", Duration::from_secs(30))
        .await
        .expect("SERVING again");

    stack
        .client()
        .create_purchase(request(user.id, product.id))
        .await
        .expect("works again once users is back");
    assert_eq!(stack.stored_purchases().await, 2);
    let _ = stop.send(());
    server.await.expect("join").expect("clean stop");
}
