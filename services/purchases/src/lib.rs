//! The purchases gRPC service (`purchases.v1.PurchaseService`): records purchases after checking
//! the user and the product with their services over gRPC, charges them through the payments
//! service, refunds them, in its own PostgreSQL database.
//!
//! The users, products and payments services are found through [`discovery::Discovery`] under
//! the logical names `users-service`, `products-service` and `payments-service`;
//! [`Config::upstreams`] gives the static addresses, and [`Application::build_with_discovery`]
//! accepts any other backend. Every call to them has a deadline derived from the caller's,
//! transport failures are retried with backoff, and each has a circuit breaker
//! ([`ResilienceConfig`]). A sweeper settles what a crash leaves PENDING ([`LifecycleConfig`]).
//!
//! Every status change writes a `purchases.v1.PurchaseEvent` into a transactional outbox in the
//! same transaction; a relay publishes them to NATS JetStream ([`Config::events`]), and
//! `WatchPurchase` streams one purchase's events back from there.
//!
//! Start-up, serving and shutdown are shared by every shop service ([`shop_common::Application`]);
//! this crate adds what is its own: the schema, the handlers, the upstream clients, the sweeper
//! and the binary's identity ([`PurchasesService`]).

mod breaker;
mod budget;
mod db;
mod error;
mod events;
mod grpc;
mod idempotency;
mod schema;
mod sweeper;
mod upstream;

pub mod domain;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use discovery::ChannelOptions;
use discovery::{Discovery, Registration, StaticDiscovery};
use proto::purchases::v1::purchase_service_server::{PurchaseServiceServer, SERVICE_NAME};
use shop_common::events::EventsConfig;
use shop_common::names::{PAYMENTS_SERVICE, PRODUCTS_SERVICE, USERS_SERVICE};
use shop_common::{Database, DatabaseConfig, ServiceBinary, ServiceConfig, ShopService};
use tonic::service::Routes;

pub use breaker::{BreakerConfig, BreakerState};
pub use error::PurchaseError;
pub use events::{OutboxMetrics, event_kind, is_final};
pub use grpc::{PurchasesGrpc, Settings};
pub use idempotency::METADATA_KEY as IDEMPOTENCY_KEY_METADATA;
pub use upstream::{CallPolicy, Upstreams};

/// What the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen_addr: SocketAddr,
    /// The service's database.
    pub database: DatabaseConfig,
    /// Where the users, products and payments services are, and the per-call deadline.
    pub upstreams: UpstreamsConfig,
    /// Retries, breakers and the budget of requests without a deadline.
    pub resilience: ResilienceConfig,
    /// When leftovers are settled and how long idempotency keys live.
    pub lifecycle: LifecycleConfig,
    /// The NATS JetStream server the outbox relay publishes purchase events to and
    /// `WatchPurchase` reads them from. `None`: changes still write their events into the
    /// outbox, nothing publishes them, and `WatchPurchase` is UNAVAILABLE.
    pub events: Option<EventsConfig>,
}

/// Static addresses of the upstream services, and the deadline for calls to them.
#[derive(Debug, Clone)]
pub struct UpstreamsConfig {
    /// Users service instances (`http://host:port`), balanced over.
    pub users: Vec<String>,
    /// Products service instances (`http://host:port`), balanced over.
    pub products: Vec<String>,
    /// Payments service instances (`http://host:port`), balanced over.
    pub payments: Vec<String>,
    /// The longest one upstream call may take, retries included; the caller's remaining
    /// deadline shortens it.
    pub deadline: Duration,
}

impl UpstreamsConfig {
    /// The static discovery table for these addresses. Must run inside a tokio runtime.
    pub fn discovery(&self) -> anyhow::Result<Discovery> {
        let table = [
            (USERS_SERVICE, self.users.clone()),
            (PRODUCTS_SERVICE, self.products.clone()),
            (PAYMENTS_SERVICE, self.payments.clone()),
        ];
        Ok(Discovery::Static(StaticDiscovery::new(
            table,
            ChannelOptions::default(),
        )?))
    }
}

/// How purchases protects itself and its callers from slow or dead upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResilienceConfig {
    /// The budget of a request whose caller sent no deadline (`grpc-timeout`).
    pub request_timeout: Duration,
    /// Retries of a failed upstream call (transport failures only; answers are final).
    pub retries: u32,
    /// When each upstream's circuit breaker opens and for how long.
    pub breaker: BreakerConfig,
}

impl Default for ResilienceConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            retries: 2,
            breaker: BreakerConfig::default(),
        }
    }
}

/// When the sweeper runs, what it settles, and how long idempotency keys are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// A PENDING purchase older than this is settled against the payments ledger (and a key
    /// claimed longer ago with nothing written is presumed abandoned). Must exceed twice the
    /// upstream deadline (the charge phase, then what payments may still do with a charge it
    /// was sent), so that a live request is never raced.
    pub settle_after: Duration,
    /// How often the sweeper runs (and once at start-up).
    pub sweep_interval: Duration,
    /// How long idempotency keys and their answers are kept.
    pub key_ttl: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            settle_after: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(30),
            key_ttl: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// The purchases service's part of the shared scaffold: the clients of the services it depends
/// on, built (from static addresses or any discovery) before the server binds, and the
/// lifecycle's settings.
#[derive(Debug)]
pub struct PurchasesService {
    upstreams: Upstreams,
    settings: Settings,
    events: Option<events::Events>,
    outbox_metrics: OutboxMetrics,
    watchers: events::watch::Watchers,
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

    /// The service, and its sweeper (started here, stopped with the server).
    fn routes(self, db: Database) -> Routes {
        Routes::new(PurchaseServiceServer::new(PurchasesGrpc::new(
            db,
            self.upstreams,
            self.settings,
            self.events,
            self.watchers,
        )))
    }

    /// Each upstream's circuit breaker: `circuit_breaker_state{upstream}` (0 closed,
    /// 1 half-open, 2 open), `circuit_breaker_transitions_total{upstream, state}` and
    /// `circuit_breaker_rejections_total{upstream}`, read at scrape time; the outbox's
    /// `outbox_published_events_total`, `outbox_pending_events`, `outbox_lag_seconds`; and
    /// `purchase_watchers`.
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register_collector(Box::new(breaker::BreakerCollector(
            self.upstreams.breakers(),
        )));
        self.outbox_metrics.register(registry);
        self.watchers.register(registry);
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
    ///
    /// Fails when the settle bound does not exceed twice the upstream deadline: the sweeper
    /// could then settle a purchase a live request is still charging.
    pub async fn build_with_discovery(
        config: Config,
        discovery: &Discovery,
    ) -> anyhow::Result<Self> {
        let deadline = config.upstreams.deadline;
        anyhow::ensure!(
            config.lifecycle.settle_after > deadline * 2,
            "the settle bound ({:?}) must exceed twice the upstream deadline ({deadline:?})",
            config.lifecycle.settle_after
        );
        let policy = CallPolicy {
            deadline,
            retries: config.resilience.retries,
            breaker: config.resilience.breaker,
        };
        let outbox_metrics = OutboxMetrics::default();
        let events = match &config.events {
            Some(events) => Some(events::Events::new(
                events
                    .connect(shop_common::names::PURCHASES_SERVICE)
                    .await?,
                outbox_metrics.clone(),
            )),
            None => None,
        };
        let service = PurchasesService {
            events,
            outbox_metrics,
            watchers: Default::default(),
            upstreams: Upstreams::new(discovery, policy)?,
            settings: Settings {
                request_timeout: config.resilience.request_timeout,
                settle_after: config.lifecycle.settle_after,
                sweep_interval: config.lifecycle.sweep_interval,
                key_ttl: config.lifecycle.key_ttl,
            },
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
