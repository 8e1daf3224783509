//! The users gRPC service (`users.v1.UserService`), backed by its own PostgreSQL database.
//!
//! [`Application::build`] binds the listener and prepares the pool; [`Application::run_until`]
//! serves, connecting to the database (with retry) and migrating in the background while health
//! reports NOT_SERVING.

mod db;
mod error;
mod grpc;
mod schema;

pub mod domain;

use std::future::Future;
use std::net::SocketAddr;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use discovery::Registration;
use proto::users::v1::user_service_server::{SERVICE_NAME, UserServiceServer};
use shop_common::{Database, DatabaseConfig, GrpcServer};
use tonic::service::Routes;

pub use error::UserError;
pub use grpc::UsersGrpc;

/// The schema migrations, compiled into the binary and run at start-up.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// What the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen_addr: SocketAddr,
    /// The service's database.
    pub database: DatabaseConfig,
}

/// A bound, ready-to-run users service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    db: Database,
}

impl Application {
    /// Binds the listener and builds the (not yet connected) database pool.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = Database::new(&config.database)?;
        let server = GrpcServer::bind(config.listen_addr, SERVICE_NAME).await?;
        Ok(Self { server, db })
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
        let routes = Routes::new(UserServiceServer::new(UsersGrpc::new(self.db.clone())));
        let db = self.db;
        self.server
            .serve(routes, async move { db.start(MIGRATIONS).await }, shutdown)
            .await
    }
}
