//! The purchase's fan-out: the services `POST /api/purchases` needs besides users (products,
//! payments and purchases), each the real service in this process on its own fresh PostgreSQL
//! database, wired to each other as `cargo xtask up` wires them.
//!
//! A purchase is the shop's heaviest write: purchases claims the idempotency key, reads the user
//! and the product from their services, writes the purchase PENDING (with its outbox event),
//! charges it through payments (a ledger write), then settles it COMPLETED with the key's
//! answer (another outbox event) in one transaction. Measured beside users' single-statement
//! bindings it shows what the gateway costs when the upstream does real work.
//!
//! Purchases runs without NATS (`events: None`): its events are still written to the outbox in
//! the same transactions, nothing publishes them, so the relay's work is not part of the
//! measurement (it runs off the request path anyway).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use proto::products::v1::CreateProductRequest;
use proto::products::v1::product_service_client::ProductServiceClient;
use shop_common::ServiceConfig;

use crate::upstream::Upstream;

/// The price of the product every purchase buys: well under payments' decline limit
/// (10,000.00), so every charge goes through.
const PRODUCT_PRICE: f64 = 9.99;

/// Purchases' deadline for one upstream call, as `cargo xtask up` runs it.
const UPSTREAM_DEADLINE: Duration = Duration::from_secs(3);

/// Products, payments and purchases, running; purchases calls the users service it was started
/// with.
#[derive(Debug)]
pub struct PurchaseServices {
    products: Upstream,
    payments: Upstream,
    purchases: Upstream,
}

impl PurchaseServices {
    /// Starts products and payments (default rules: no delay, no failures), then purchases
    /// calling them and the users service at `users`.
    pub async fn start(users: SocketAddr) -> anyhow::Result<Self> {
        let products = Upstream::shop_service("products", async |config: ServiceConfig| {
            shop_common::Application::build_with(
                config,
                products_service::ProductsService::default(),
            )
            .await
        })
        .await?;
        let payments = Upstream::shop_service("payments", async |config: ServiceConfig| {
            let service =
                payments_service::PaymentsService::new(payments_service::Rules::default())?;
            shop_common::Application::build_with(config, service).await
        })
        .await?;
        let upstreams = purchases_service::UpstreamsConfig {
            users: vec![format!("http://{users}")],
            products: vec![format!("http://{}", products.addr)],
            payments: vec![format!("http://{}", payments.addr)],
            deadline: UPSTREAM_DEADLINE,
        };
        let purchases = Upstream::shop_service("purchases", async |config: ServiceConfig| {
            let config = purchases_service::Config {
                listen_addr: config.listen_addr,
                database: config.database,
                upstreams,
                resilience: purchases_service::ResilienceConfig::default(),
                lifecycle: purchases_service::LifecycleConfig::default(),
                events: None,
            };
            Ok(purchases_service::Application::build(config)
                .await?
                .into_inner())
        })
        .await?;
        Ok(Self {
            products,
            payments,
            purchases,
        })
    }

    /// Where purchases listens.
    pub fn purchases_addr(&self) -> SocketAddr {
        self.purchases.addr
    }

    /// Where products listens.
    pub fn products_addr(&self) -> SocketAddr {
        self.products.addr
    }

    /// Creates the product the purchases buy; returns its id.
    pub async fn seed_product(&self) -> anyhow::Result<i64> {
        let product = ProductServiceClient::new(crate::connect(self.products.addr).await?)
            .create_product(CreateProductRequest {
                name: "Bench Product".to_owned(),
                price: Some(PRODUCT_PRICE),
            })
            .await
            .context("seeding the product")?
            .into_inner()
            .product
            .context("CreateProduct answered without a product")?;
        Ok(product.id)
    }

    /// Stops purchases first (it calls the others), then payments and products; each drops its
    /// database once stopped.
    pub async fn stop(self) -> anyhow::Result<()> {
        let purchases = self.purchases.stop().await.context("stopping purchases");
        let payments = self.payments.stop().await.context("stopping payments");
        let products = self.products.stop().await.context("stopping products");
        purchases.and(payments).and(products)
    }
}
