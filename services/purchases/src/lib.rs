//! The purchases gRPC service (`purchases.v1.PurchaseService`): records purchases after checking
//! the user and the product with their services over gRPC, in its own PostgreSQL database.
//!
//! The users and products services are found through [`shop_common::Discovery`] under the
//! logical names `users-service` and `products-service`; [`Config::upstreams`] gives the static
//! addresses, and [`Application::build_with_discovery`] accepts any other backend.

mod db;
mod error;
mod grpc;
mod schema;
mod upstream;

pub mod domain;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use discovery::ChannelOptions;
use discovery::{Discovery, Registration, StaticDiscovery};
use proto::purchases::v1::purchase_service_server::{PurchaseServiceServer, SERVICE_NAME};
use shop_common::names::{PRODUCTS_SERVICE, USERS_SERVICE};
use shop_common::{Database, DatabaseConfig, GrpcServer};
use tonic::service::Routes;

pub use error::PurchaseError;
pub use grpc::PurchasesGrpc;
pub use upstream::Upstreams;

/// The schema migrations, compiled into the binary and run at start-up.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// What the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen_addr: SocketAddr,
    /// The service's database.
    pub database: DatabaseConfig,
    /// Where the users and products services are.
    pub upstreams: UpstreamsConfig,
}

/// Static addresses of the upstream services, and the deadline for calls to them.
#[derive(Debug, Clone)]
pub struct UpstreamsConfig {
    /// Users service instances (`http://host:port`), balanced over.
    pub users: Vec<String>,
    /// Products service instances (`http://host:port`), balanced over.
    pub products: Vec<String>,
    /// Deadline of each upstream call.
    pub deadline: Duration,
}

impl UpstreamsConfig {
    /// The static discovery table for these addresses. Must run inside a tokio runtime.
    pub fn discovery(&self) -> anyhow::Result<Discovery> {
        let table = [
            (USERS_SERVICE, self.users.clone()),
            (PRODUCTS_SERVICE, self.products.clone()),
        ];
        Ok(Discovery::Static(StaticDiscovery::new(
            table,
            ChannelOptions::default(),
        )?))
    }
}

/// A bound, ready-to-run purchases service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    db: Database,
    upstreams: Upstreams,
}

impl Application {
    /// Binds the listener, builds the (not yet connected) database pool, and the upstream
    /// channels from the static addresses in `config.upstreams`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let discovery = config.upstreams.discovery()?;
        Self::build_with_discovery(config, &discovery).await
    }

    /// Like [`Application::build`], with upstreams found through `discovery` instead of
    /// `config.upstreams` (whose deadline still applies).
    pub async fn build_with_discovery(
        config: Config,
        discovery: &Discovery,
    ) -> anyhow::Result<Self> {
        let upstreams = Upstreams::new(discovery, config.upstreams.deadline)?;
        let db = Database::new(&config.database)?;
        let server = GrpcServer::bind(config.listen_addr, SERVICE_NAME).await?;
        Ok(Self {
            server,
            db,
            upstreams,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Registers the instance in Consul once it reports SERVING, and deregisters it as soon as
    /// shutdown begins.
    pub fn register(mut self, registration: Registration) -> Self {
        self.server = self.server.register(registration);
        self
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shop_common::shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then drains in-flight requests. Fails if the database
    /// stays unreachable for the configured start-up timeout or a migration fails.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let service = PurchasesGrpc::new(self.db.clone(), self.upstreams);
        let routes = Routes::new(PurchaseServiceServer::new(service));
        let db = self.db;
        self.server
            .serve(routes, async move { db.start(MIGRATIONS).await }, shutdown)
            .await
    }
}
