//! `spawn_app`: a products service on its own fresh database, stopped when the handle drops.

use std::time::Duration;

use products_service::{Application, Config};
use proto::products::v1::product_service_client::ProductServiceClient;
use proto::products::v1::{CreateProductRequest, Product};
use shop_common::DatabaseConfig;
use test_support::TestDatabase;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A running service. Dropping it stops the server, then drops the database.
pub struct TestApp {
    pub channel: Channel,
    pub client: ProductServiceClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Last: dropped after the server has been told to stop.
    pub db: TestDatabase,
}

impl TestApp {
    /// Creates a product, panicking on failure.
    pub async fn create_product(&self, name: &str, price: f64) -> Product {
        self.client
            .clone()
            .create_product(CreateProductRequest {
                name: name.into(),
                price,
            })
            .await
            .expect("create product")
            .into_inner()
            .product
            .expect("product in response")
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

pub async fn spawn_app() -> TestApp {
    shop_common::telemetry::init_test_tracing();
    let db = TestDatabase::create().await.expect("test database");
    let app = Application::build(Config {
        listen_addr: "127.0.0.1:0".parse().expect("literal address"),
        database: DatabaseConfig::new(db.url()),
    })
    .await
    .expect("build app");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect()
        .await
        .expect("connect");
    test_support::wait_until_serving(channel.clone(), "", Duration::from_secs(30))
        .await
        .expect("service becomes SERVING");
    TestApp {
        client: ProductServiceClient::new(channel.clone()),
        channel,
        stop: Some(stop),
        server: Some(server),
        db,
    }
}
