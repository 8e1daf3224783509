//! Test helpers shared by the services' and the gateway's integration tests.
//!
//! - [`RunningService`]: one service in-process on `127.0.0.1:0` with its own fresh
//!   [`TestDatabase`], started once health reports SERVING, stopped gracefully on
//!   [`RunningService::stop`] (or aborted when dropped).
//! - [`spawn_users`], [`spawn_products`]: one service each; [`RunningService::with_client`]
//!   adds a typed client ([`TestApp`]).
//! - [`spawn_shop`]: users, products and purchases wired together, each on its own database.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;

use proto::products::v1::product_service_client::ProductServiceClient;
use proto::products::v1::{CreateProductRequest, Product};
use proto::purchases::v1::purchase_service_client::PurchaseServiceClient;
use proto::users::v1::user_service_client::UserServiceClient;
use proto::users::v1::{CreateUserRequest, User};
use shop_common::{Application, DatabaseConfig, ServiceConfig, ShopService};
use test_support::TestDatabase;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// How long a started service may take to report SERVING.
const SERVING_TIMEOUT: Duration = Duration::from_secs(60);

/// One running service. Dropping it stops the server (aborting it), then drops the database.
pub struct RunningService {
    /// Where the service listens.
    pub addr: SocketAddr,
    /// A channel connected to the service.
    pub channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    /// The service's own database.
    pub db: TestDatabase,
}

impl RunningService {
    /// Starts a service listening on `addr` whose `run_until` future `run` builds from the stop
    /// signal, then waits until its health service reports SERVING. `db` lives as long as the
    /// returned value.
    pub async fn start<F>(
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
            .expect("valid uri")
            .connect()
            .await
            .expect("connect");
        test_support::wait_until_serving(channel.clone(), "", SERVING_TIMEOUT)
            .await
            .expect("service becomes SERVING");
        Self {
            addr,
            channel,
            stop: Some(stop),
            server: Some(server),
            db,
        }
    }

    /// Stops the server and waits until it has shut down; panics unless it stopped cleanly.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("join").expect("clean stop");
        }
    }

    /// This service with a typed client of it, e.g. `with_client(UserServiceClient::new)`.
    pub fn with_client<C>(self, client: impl FnOnce(Channel) -> C) -> TestApp<C> {
        TestApp {
            client: client(self.channel.clone()),
            service: self,
        }
    }

    /// Stops the server and waits for it to finish; returns how it ended.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A running service with a typed client; its `addr`, `channel` and `db` through
/// [`RunningService`]. Dropping it stops the server, then drops the database.
pub struct TestApp<C> {
    /// A client of the service.
    pub client: C,
    service: RunningService,
}

impl<C> Deref for TestApp<C> {
    type Target = RunningService;

    fn deref(&self) -> &RunningService {
        &self.service
    }
}

impl<C> TestApp<C> {
    /// Stops the server and waits for it to finish; returns how it ended.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.service.shutdown().await
    }
}

impl TestApp<UserServiceClient<Channel>> {
    /// Creates a user, panicking on failure.
    pub async fn create_user(&self, name: &str, email: &str) -> User {
        create_user(&self.service.channel, name, email).await
    }
}

impl TestApp<ProductServiceClient<Channel>> {
    /// Creates a product, panicking on failure.
    pub async fn create_product(&self, name: &str, price: f64) -> Product {
        create_product(&self.service.channel, name, price).await
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal address")
}

async fn until(stopped: oneshot::Receiver<()>) {
    let _ = stopped.await;
}

/// Service `S` on a fresh database, as `build` makes it from its listen address (any port) and
/// database; `what` names it in panics.
async fn spawn<S: ShopService>(
    what: &str,
    build: impl AsyncFnOnce(ServiceConfig) -> anyhow::Result<Application<S>>,
) -> RunningService {
    shop_common::telemetry::init_test_tracing();
    let db = TestDatabase::create()
        .await
        .unwrap_or_else(|err| panic!("{what} db: {err:#}"));
    let config = ServiceConfig {
        listen_addr: any_port(),
        database: DatabaseConfig::new(db.url()),
    };
    let app = build(config)
        .await
        .unwrap_or_else(|err| panic!("build {what}: {err:#}"));
    let addr = app.local_addr();
    RunningService::start(db, addr, |s| app.run_until(until(s))).await
}

/// A users service on a fresh database.
pub async fn spawn_users() -> RunningService {
    spawn("users", users_service::Application::build).await
}

/// A products service on a fresh database.
pub async fn spawn_products() -> RunningService {
    spawn("products", products_service::Application::build).await
}

/// A purchases service on a fresh database, calling users and products at these addresses
/// with this deadline.
pub async fn spawn_purchases(
    users: SocketAddr,
    products: SocketAddr,
    deadline: Duration,
) -> RunningService {
    spawn("purchases", async |config: ServiceConfig| {
        let app = purchases_service::Application::build(purchases_service::Config {
            listen_addr: config.listen_addr,
            database: config.database,
            upstreams: purchases_service::UpstreamsConfig {
                users: vec![format!("http://{users}")],
                products: vec![format!("http://{products}")],
                deadline,
            },
        })
        .await?;
        Ok(app.into_inner())
    })
    .await
}

/// The three services, each on its own database; purchases calls the other two.
pub struct Shop {
    /// The users service.
    pub users: RunningService,
    /// The products service.
    pub products: RunningService,
    /// The purchases service.
    pub purchases: RunningService,
}

/// Starts users, products, then purchases (upstream calls bounded by `deadline`).
pub async fn spawn_shop(deadline: Duration) -> Shop {
    let users = spawn_users().await;
    let products = spawn_products().await;
    let purchases = spawn_purchases(users.addr, products.addr, deadline).await;
    Shop {
        users,
        products,
        purchases,
    }
}

impl Shop {
    /// A client of the purchases service.
    pub fn client(&self) -> PurchaseServiceClient<Channel> {
        PurchaseServiceClient::new(self.purchases.channel.clone())
    }

    /// Creates a user through the users service, panicking on failure.
    pub async fn create_user(&self, name: &str, email: &str) -> User {
        create_user(&self.users.channel, name, email).await
    }

    /// Creates a product through the products service, panicking on failure.
    pub async fn create_product(&self, name: &str, price: f64) -> Product {
        create_product(&self.products.channel, name, price).await
    }

    /// Rows in the purchases table, read directly.
    pub async fn stored_purchases(&self) -> i64 {
        self.purchases
            .db
            .count_rows("purchases")
            .await
            .expect("count")
    }
}

/// Creates a user through the users service on `channel`, panicking on failure.
pub async fn create_user(channel: &Channel, name: &str, email: &str) -> User {
    UserServiceClient::new(channel.clone())
        .create_user(CreateUserRequest {
            name: name.into(),
            email: email.into(),
        })
        .await
        .expect("create user")
        .into_inner()
        .user
        .expect("user in response")
}

/// Creates a product through the products service on `channel`, panicking on failure.
pub async fn create_product(channel: &Channel, name: &str, price: f64) -> Product {
    ProductServiceClient::new(channel.clone())
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
