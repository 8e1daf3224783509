//! `spawn_stack`: users, products and purchases services, each on its own database.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use proto::products::v1::product_service_client::ProductServiceClient;
use proto::products::v1::{CreateProductRequest, Product};
use proto::purchases::v1::purchase_service_client::PurchaseServiceClient;
use proto::users::v1::user_service_client::UserServiceClient;
use proto::users::v1::{CreateUserRequest, User};
use shop_common::DatabaseConfig;
use test_support::TestDatabase;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// One running service; dropping it stops the server.
pub struct Running {
    pub addr: SocketAddr,
    pub channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    pub db: TestDatabase,
}

impl Running {
    /// Starts a service whose `run_until` future `run` builds, then waits for SERVING.
    async fn start<F>(
        db: TestDatabase,
        addr: SocketAddr,
        run: impl FnOnce(oneshot::Receiver<()>) -> F,
    ) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(run(stopped));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        test_support::wait_until_serving(channel.clone(), "", Duration::from_secs(30))
            .await
            .expect("SERVING");
        Self {
            addr,
            channel,
            stop: Some(stop),
            server: Some(server),
            db,
        }
    }

    /// Stops the server and waits until it no longer accepts connections.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("join").expect("clean stop");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal address")
}

async fn until(stopped: oneshot::Receiver<()>) {
    let _ = stopped.await;
}

/// The three services.
pub struct Stack {
    pub users: Running,
    pub products: Running,
    pub purchases: Running,
}

pub async fn spawn_stack() -> Stack {
    spawn_stack_with_deadline(Duration::from_secs(3)).await
}

pub async fn spawn_stack_with_deadline(deadline: Duration) -> Stack {
    shop_common::telemetry::init_test_tracing();
    let users_db = TestDatabase::create().await.expect("users db");
    let users_app = users_service::Application::build(users_service::Config {
        listen_addr: any_port(),
        database: DatabaseConfig::new(users_db.url()),
    })
    .await
    .expect("build users");
    let users_addr = users_app.local_addr();
    let users = Running::start(users_db, users_addr, |s| users_app.run_until(until(s))).await;

    let products_db = TestDatabase::create().await.expect("products db");
    let products_app = products_service::Application::build(products_service::Config {
        listen_addr: any_port(),
        database: DatabaseConfig::new(products_db.url()),
    })
    .await
    .expect("build products");
    let products_addr = products_app.local_addr();
    let products = Running::start(products_db, products_addr, |s| {
        products_app.run_until(until(s))
    })
    .await;

    let purchases_db = TestDatabase::create().await.expect("purchases db");
    let purchases_app = purchases_service::Application::build(purchases_service::Config {
        listen_addr: any_port(),
        database: DatabaseConfig::new(purchases_db.url()),
        upstreams: purchases_service::UpstreamsConfig {
            users: vec![format!("http://{users_addr}")],
            products: vec![format!("http://{products_addr}")],
            deadline,
        },
    })
    .await
    .expect("build purchases");
    let purchases_addr = purchases_app.local_addr();
    let purchases = Running::start(purchases_db, purchases_addr, |s| {
        purchases_app.run_until(until(s))
    })
    .await;

    Stack {
        users,
        products,
        purchases,
    }
}

impl Stack {
    pub fn client(&self) -> PurchaseServiceClient<Channel> {
        PurchaseServiceClient::new(self.purchases.channel.clone())
    }

    pub async fn create_user(&self, name: &str, email: &str) -> User {
        UserServiceClient::new(self.users.channel.clone())
            .create_user(CreateUserRequest {
                name: name.into(),
                email: email.into(),
            })
            .await
            .expect("create user")
            .into_inner()
            .user
            .expect("user")
    }

    pub async fn create_product(&self, name: &str, price: f64) -> Product {
        ProductServiceClient::new(self.products.channel.clone())
            .create_product(CreateProductRequest {
                name: name.into(),
                price,
            })
            .await
            .expect("create product")
            .into_inner()
            .product
            .expect("product")
    }

    /// Rows in the purchases table, read directly.
    pub async fn stored_purchases(&self) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        let mut conn = AsyncPgConnection::establish(self.purchases.db.url())
            .await
            .expect("connect");
        diesel::sql_query("SELECT count(*) AS count FROM purchases")
            .get_result::<Count>(&mut conn)
            .await
            .expect("count")
            .count
    }
}
