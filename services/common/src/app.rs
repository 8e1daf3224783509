//! One shop service as a bound, ready-to-run server: the listener, the (not yet connected)
//! database pool and the service's own parts. Every service starts the same way (bind, serve,
//! connect and migrate in the background while health reports NOT_SERVING), so that lives here
//! once and a service only says what differs through [`ShopService`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use diesel_migrations::EmbeddedMigrations;
use discovery::Registration;
use prometheus_client::registry::Registry;
use tonic::service::Routes;

use crate::config::ServiceConfig;
use crate::metrics::{GrpcMetricsLayer, MetricsListener};
use crate::{Database, GrpcServer, ServiceBinary};

/// What makes one service different from another: its binary, its schema and its gRPC routes.
///
/// The implementing value holds whatever the routes need besides the database (nothing for
/// users and products, upstream clients for purchases); it is built before the server binds, so
/// a service whose parts cannot be built never listens.
pub trait ShopService: Send + 'static {
    /// The binary: its names (Consul, health, reflection), version and default listen address.
    const BINARY: ServiceBinary;
    /// The schema migrations, compiled into the binary and run at start-up.
    const MIGRATIONS: EmbeddedMigrations;

    /// The service's gRPC routes, answering from `db`. Reflection and health are added by
    /// [`GrpcServer`].
    fn routes(self, db: Database) -> Routes;

    /// Registers the service's own metrics (beside the gRPC server's and the pool's) in
    /// `registry`, served at `/metrics`; nothing by default.
    fn register_metrics(&self, registry: &mut Registry) {
        let _ = registry;
    }
}

/// A bound, ready-to-run service `S`.
///
/// [`Application::build_with`] binds the listener and prepares the pool;
/// [`Application::run_until`] serves, connecting to the database (with retry) and migrating in
/// the background while health reports NOT_SERVING.
#[derive(Debug)]
pub struct Application<S> {
    server: GrpcServer,
    db: Database,
    service: S,
    /// The gRPC server's and the pool's metrics.
    registry: Arc<Registry>,
    /// Where `/metrics` is served, when asked for ([`Application::serve_metrics`]).
    metrics: Option<MetricsListener>,
}

impl<S: ShopService + Default> Application<S> {
    /// Binds the listener and builds the (not yet connected) database pool, for a service that
    /// needs nothing but its database.
    pub async fn build(config: ServiceConfig) -> anyhow::Result<Self> {
        Self::build_with(config, S::default()).await
    }
}

impl<S: ShopService> Application<S> {
    /// Binds the listener and builds the (not yet connected) database pool for `service`.
    ///
    /// Fails at once on a malformed database URL or an address that cannot be bound, before
    /// anything is served.
    pub async fn build_with(config: ServiceConfig, service: S) -> anyhow::Result<Self> {
        crate::validation::init()?;
        let db = Database::new(&config.database)?;
        let mut registry = Registry::default();
        db.register_metrics(&mut registry);
        service.register_metrics(&mut registry);
        let layer = GrpcMetricsLayer::new(
            &mut registry,
            S::BINARY.grpc_service,
            proto::FILE_DESCRIPTOR_SET,
        );
        let server = GrpcServer::bind(config.listen_addr, S::BINARY.grpc_service)
            .await?
            .with_metrics(layer);
        Ok(Self {
            server,
            db,
            service,
            registry: Arc::new(registry),
            metrics: None,
        })
    }

    /// Serves the metrics ([`crate::metrics`]) at `GET http://<addr>/metrics` while the
    /// service runs; binds `addr` now (port 0 picks a free port).
    pub async fn serve_metrics(mut self, addr: SocketAddr) -> anyhow::Result<Self> {
        self.metrics = Some(MetricsListener::bind(addr).await?);
        Ok(self)
    }

    /// Where `/metrics` is served, if [`Application::serve_metrics`] was called.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsListener::local_addr)
    }

    /// The address the server listens on (the port actually chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Registers the instance in Consul once it reports SERVING, and deregisters it as soon as
    /// shutdown begins.
    pub fn register(mut self, registration: Registration) -> Self {
        self.server = self.server.register(registration);
        self
    }

    /// Serves until `shutdown` completes, then drains in-flight requests. Fails if the database
    /// stays unreachable for the configured start-up timeout or a migration fails.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            server,
            db,
            service,
            registry,
            metrics,
        } = self;
        let admin = metrics.map(|listener| listener.spawn(registry));
        let routes = service.routes(db.clone());
        let served = server
            .serve(
                routes,
                async move { db.start(S::MIGRATIONS).await },
                shutdown,
            )
            .await;
        if let Some(admin) = admin {
            admin.abort();
        }
        served
    }
}
