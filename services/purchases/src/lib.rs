//! The purchases gRPC service (`purchases.v1.PurchaseService`): records purchases after checking
//! the user and the product with their services over gRPC, in its own PostgreSQL database.
//!
//! The users and products services are found through [`discovery::Discovery`] under the
//! logical names `users-service` and `products-service`; [`Config::upstreams`] gives the static
//! addresses, and [`Application::build_with_discovery`] accepts any other backend.
//!
//! Start-up, serving and shutdown are shared by every shop service ([`shop_common::Application`]);
//! this crate adds what is its own: the schema, the handlers, the upstream clients and the
//! binary's identity ([`PurchasesService`]).

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
use shop_common::{Database, DatabaseConfig, ServiceBinary, ServiceConfig, ShopService};
use tonic::service::Routes;

pub use error::PurchaseError;
pub use grpc::PurchasesGrpc;
pub use upstream::Upstreams;

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

/// The purchases service's part of the shared scaffold: the clients of the services it checks
/// purchases against, built (from static addresses or any discovery) before the server binds.
#[derive(Debug)]
pub struct PurchasesService {
    upstreams: Upstreams,
}

impl ShopService for PurchasesService {
    const BINARY: ServiceBinary = ServiceBinary {
        // The Consul name the gateway looks it up by.
        name: shop_common::names::PURCHASES_SERVICE,
        version: env!("CARGO_PKG_VERSION"),
        description: env!("CARGO_PKG_DESCRIPTION"),
        grpc_service: SERVICE_NAME,
        default_listen: "127.0.0.1:50053",
    };
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

    fn routes(self, db: Database) -> Routes {
        Routes::new(PurchaseServiceServer::new(PurchasesGrpc::new(
            db,
            self.upstreams,
        )))
    }
}

/// A bound, ready-to-run purchases service: the shared [`shop_common::Application`], with
/// constructors that take the upstreams' addresses or their discovery. Its own type (not an
/// alias like users' and products') because those constructors take purchases' [`Config`].
#[derive(Debug)]
pub struct Application(shop_common::Application<PurchasesService>);

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
        let service = PurchasesService {
            upstreams: Upstreams::new(discovery, config.upstreams.deadline)?,
        };
        let server = ServiceConfig {
            listen_addr: config.listen_addr,
            database: config.database,
        };
        let app = shop_common::Application::build_with(server, service).await?;
        Ok(Self(app))
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// Registers the instance in Consul once it reports SERVING, and deregisters it as soon as
    /// shutdown begins.
    pub fn register(self, registration: Registration) -> Self {
        Self(self.0.register(registration))
    }

    /// Serves until `shutdown` completes, then drains in-flight requests. Fails if the database
    /// stays unreachable for the configured start-up timeout or a migration fails.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.0.run_until(shutdown).await
    }

    /// The shared application inside, which [`shop_common::run`] serves.
    pub fn into_inner(self) -> shop_common::Application<PurchasesService> {
        self.0
    }
}
