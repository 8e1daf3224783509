//! The seed walkthrough over gRPC against a running stack (`cargo xtask up`):
//! lists each service through reflection, creates John Doe and a Laptop at 1299.99, buys it,
//! and reads everything back.
//!
//! `cargo run -p purchases-service --example seed` (addresses: USERS_ADDR, PRODUCTS_ADDR,
//! PURCHASES_ADDR, defaulting to the `cargo xtask up` ports).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use proto::products::v1::CreateProductRequest;
use proto::products::v1::product_service_client::ProductServiceClient;
use proto::purchases::v1::purchase_service_client::PurchaseServiceClient;
use proto::purchases::v1::{CreatePurchaseRequest, GetPurchaseRequest, GetUserPurchasesRequest};
use proto::users::v1::CreateUserRequest;
use proto::users::v1::user_service_client::UserServiceClient;
use test_support::{ReflectionVersion, list_services};
use tonic::Code;
use tonic::transport::Channel;

async fn channel(var: &str, default: &str) -> anyhow::Result<Channel> {
    let addr = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let channel = Channel::from_shared(addr.clone())?
        .connect()
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    println!(
        "{addr}: {:?}",
        list_services(channel.clone(), ReflectionVersion::V1).await?
    );
    Ok(channel)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let users = channel("USERS_ADDR", "http://127.0.0.1:50051").await?;
    let products = channel("PRODUCTS_ADDR", "http://127.0.0.1:50052").await?;
    let purchases = channel("PURCHASES_ADDR", "http://127.0.0.1:50053").await?;

    let mut users = UserServiceClient::new(users);
    let create = |email: &str| CreateUserRequest {
        name: "John Doe".into(),
        email: email.into(),
    };
    let user = match users.create_user(create("john@example.com")).await {
        Ok(response) => response.into_inner().user,
        Err(status) if status.code() == Code::AlreadyExists => {
            // A database kept from an earlier run: the seed email is taken.
            let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            users
                .create_user(create(&format!("john+{stamp}@example.com")))
                .await?
                .into_inner()
                .user
        }
        Err(status) => return Err(status.into()),
    }
    .context("no user")?;
    println!("user: {user:?}");

    let product = ProductServiceClient::new(products)
        .create_product(CreateProductRequest {
            name: "Laptop".into(),
            price: Some(1299.99),
        })
        .await?
        .into_inner()
        .product
        .context("no product")?;
    println!("product: {product:?}");

    let mut purchases = PurchaseServiceClient::new(purchases);
    let created = purchases
        .create_purchase(CreatePurchaseRequest {
            user_id: user.id,
            product_id: product.id,
        })
        .await?
        .into_inner();
    let purchase = created.purchase.context("no purchase")?;
    println!(
        "purchase: {purchase:?} status={}",
        purchase.status().as_str_name()
    );

    let read = purchases
        .get_purchase(GetPurchaseRequest { id: purchase.id })
        .await?
        .into_inner();
    anyhow::ensure!(
        read.purchase.as_ref() == Some(&purchase),
        "read back differs"
    );
    let list = purchases
        .get_user_purchases(GetUserPurchasesRequest {
            user_id: user.id,
            ..Default::default()
        })
        .await?
        .into_inner();
    println!(
        "user {} has {} purchase(s) of {} product(s)",
        user.id,
        list.purchases.len(),
        list.products.len()
    );
    Ok(())
}
