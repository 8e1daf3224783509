//! Test helpers shared by the services' and the gateway's integration tests.
//!
//! - [`RunningService`]: one service in-process on `127.0.0.1:0` with its own fresh
//!   [`TestDatabase`], started once health reports SERVING, stopped gracefully on
//!   [`RunningService::stop`] (or aborted when dropped).
//! - [`spawn_users`], [`spawn_products`], [`spawn_payments`]: one service each;
//!   [`RunningService::with_client`] adds a typed client ([`TestApp`]).
//! - [`spawn_shop`]: users, products, payments and purchases wired together, each on its own
//!   database; [`spawn_shop_with`] with payments' rules and purchases' settings of a test's own,
//!   and optionally a NATS server for the purchase events ([`ShopOptions::events`]).
//! - [`events`]: the purchase events on the stream, as the tests read them.

pub mod events;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;

use proto::payments::v1::payment_service_client::PaymentServiceClient;
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
    /// Where the service serves `/metrics` (every service started by [`spawn`] does, on a free
    /// port; `None` for services started otherwise).
    pub metrics_addr: Option<SocketAddr>,
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
            metrics_addr: None,
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

    /// Starts the service again after [`RunningService::stop`], on the same address and
    /// database, as `run` builds it from the stop signal; waits until it reports SERVING.
    pub async fn restart<F>(&mut self, run: impl FnOnce(oneshot::Receiver<()>) -> F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        self.server = Some(tokio::spawn(run(stopped)));
        self.stop = Some(stop);
        test_support::wait_until_serving(self.channel.clone(), "", SERVING_TIMEOUT)
            .await
            .expect("service becomes SERVING again");
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
        .unwrap_or_else(|err| panic!("build {what}: {err:#}"))
        .serve_metrics(any_port())
        .await
        .unwrap_or_else(|err| panic!("{what} metrics: {err:#}"));
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let mut service = RunningService::start(db, addr, |s| app.run_until(until(s))).await;
    service.metrics_addr = metrics_addr;
    service
}

/// A users service on a fresh database.
pub async fn spawn_users() -> RunningService {
    spawn("users", users_service::Application::build).await
}

/// A products service on a fresh database.
pub async fn spawn_products() -> RunningService {
    spawn_products_with(None).await
}

/// A products service on a fresh database, counting sales from the purchase events on `events`'
/// server (none: `sold_count` stays 0).
pub async fn spawn_products_with(
    events: Option<shop_common::events::EventsConfig>,
) -> RunningService {
    spawn("products", async |config: ServiceConfig| {
        let service = products_service::ProductsService { events };
        Application::build_with(config, service).await
    })
    .await
}

/// A payments service on a fresh database, following `rules`.
pub async fn spawn_payments(rules: payments_service::Rules) -> RunningService {
    spawn("payments", async |config: ServiceConfig| {
        let service = payments_service::PaymentsService::new(rules)?;
        Application::build_with(config, service).await
    })
    .await
}

/// How a test's shop is set up: payments' rules and purchases' settings. The default is the
/// shop as `cargo xtask up` runs it, with a 3 s upstream deadline.
#[derive(Debug, Clone)]
pub struct ShopOptions {
    /// Payments' rules (decline limit, delay, failures).
    pub payments: payments_service::Rules,
    /// Purchases' deadline of one upstream call.
    pub deadline: Duration,
    /// Purchases' retries and breakers.
    pub resilience: purchases_service::ResilienceConfig,
    /// Purchases' sweeper and key settings.
    pub lifecycle: purchases_service::LifecycleConfig,
    /// The NATS JetStream server purchases publishes its events to (and products counts sales
    /// from); `None` for a shop without events (they stay in purchases' outbox).
    pub events: Option<shop_common::events::EventsConfig>,
}

impl Default for ShopOptions {
    fn default() -> Self {
        Self {
            payments: payments_service::Rules::default(),
            deadline: Duration::from_secs(3),
            resilience: purchases_service::ResilienceConfig::default(),
            lifecycle: purchases_service::LifecycleConfig::default(),
            events: None,
        }
    }
}

/// Where purchases finds its upstreams.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamAddrs {
    /// The users service.
    pub users: SocketAddr,
    /// The products service.
    pub products: SocketAddr,
    /// The payments service.
    pub payments: SocketAddr,
}

/// The configuration of a purchases service listening on `listen_addr` with `database`, calling
/// `upstreams` as `options` say.
pub fn purchases_config(
    listen_addr: SocketAddr,
    database: DatabaseConfig,
    upstreams: UpstreamAddrs,
    options: &ShopOptions,
) -> purchases_service::Config {
    purchases_service::Config {
        listen_addr,
        database,
        upstreams: purchases_service::UpstreamsConfig {
            users: vec![format!("http://{}", upstreams.users)],
            products: vec![format!("http://{}", upstreams.products)],
            payments: vec![format!("http://{}", upstreams.payments)],
            deadline: options.deadline,
        },
        resilience: options.resilience,
        lifecycle: options.lifecycle,
        events: options.events.clone(),
    }
}

/// A purchases service on a fresh database, calling its upstreams at `upstreams` as `options`
/// say.
pub async fn spawn_purchases(upstreams: UpstreamAddrs, options: &ShopOptions) -> RunningService {
    spawn("purchases", async |config: ServiceConfig| {
        let config = purchases_config(config.listen_addr, config.database, upstreams, options);
        let app = purchases_service::Application::build(config).await?;
        Ok(app.into_inner())
    })
    .await
}

/// The four services, each on its own database; purchases calls the other three.
pub struct Shop {
    /// The users service.
    pub users: RunningService,
    /// The products service.
    pub products: RunningService,
    /// The payments service.
    pub payments: RunningService,
    /// The purchases service.
    pub purchases: RunningService,
}

/// Starts users, products, payments, then purchases (upstream calls bounded by `deadline`).
pub async fn spawn_shop(deadline: Duration) -> Shop {
    spawn_shop_with(ShopOptions {
        deadline,
        ..ShopOptions::default()
    })
    .await
}

/// Starts users, products, payments (with `options.payments`' rules), then purchases (with
/// `options`' settings).
pub async fn spawn_shop_with(options: ShopOptions) -> Shop {
    let users = spawn_users().await;
    let products = spawn_products_with(options.events.clone()).await;
    let payments = spawn_payments(options.payments.clone()).await;
    let upstreams = UpstreamAddrs {
        users: users.addr,
        products: products.addr,
        payments: payments.addr,
    };
    let purchases = spawn_purchases(upstreams, &options).await;
    Shop {
        users,
        products,
        payments,
        purchases,
    }
}

impl Shop {
    /// A client of the purchases service.
    pub fn client(&self) -> PurchaseServiceClient<Channel> {
        PurchaseServiceClient::new(self.purchases.channel.clone())
    }

    /// A client of the payments service.
    pub fn payments_client(&self) -> PaymentServiceClient<Channel> {
        PaymentServiceClient::new(self.payments.channel.clone())
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

    /// Charges in the payments ledger, read directly.
    pub async fn stored_charges(&self) -> i64 {
        self.payments.db.count_rows("charges").await.expect("count")
    }

    /// Refunds in the payments ledger, read directly.
    pub async fn stored_refunds(&self) -> i64 {
        self.payments.db.count_rows("refunds").await.expect("count")
    }

    /// Restarts the payments service after [`RunningService::stop`]: on the same address and
    /// database, following `rules`.
    pub async fn restart_payments(&mut self, rules: payments_service::Rules) {
        let service = payments_service::PaymentsService::new(rules).expect("valid rules");
        let app = Application::build_with(
            ServiceConfig {
                listen_addr: self.payments.addr,
                database: DatabaseConfig::new(self.payments.db.url()),
            },
            service,
        )
        .await
        .expect("rebind the payments port");
        self.payments.restart(|s| app.run_until(until(s))).await;
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
            price: Some(price),
        })
        .await
        .expect("create product")
        .into_inner()
        .product
        .expect("product in response")
}

/// The distinct fields an INVALID_ARGUMENT status names in its `google.rpc.BadRequest` detail,
/// in order of first violation (empty when it has none; a field breaking two rules is named
/// once).
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    let mut fields: Vec<String> = Vec::new();
    if let Some(bad) = status.get_error_details().bad_request() {
        for violation in &bad.field_violations {
            if !fields.contains(&violation.field) {
                fields.push(violation.field.clone());
            }
        }
    }
    fields
}
