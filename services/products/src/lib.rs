//! The products gRPC service (`products.v1.ProductService`), backed by its own PostgreSQL database.
//!
//! Start-up, serving and shutdown are shared by every shop service ([`shop_common::Application`]);
//! this crate adds what is its own: the schema, the handlers and the binary's identity
//! ([`ProductsService`]).

mod db;
mod error;
mod grpc;
mod sales;
mod schema;

pub mod domain;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use proto::products::v1::product_service_server::{ProductServiceServer, SERVICE_NAME};
use shop_common::events::EventsConfig;
use shop_common::{Database, ServiceBinary, ShopService};
use tonic::service::Routes;

pub use error::ProductError;
pub use grpc::ProductsGrpc;
pub use sales::CONSUMER as SOLD_COUNT_CONSUMER;

/// What the service needs to start: the listen address and its database.
pub type Config = shop_common::ServiceConfig;

/// A bound, ready-to-run products service: [`Application::build`] binds,
/// [`Application::run_until`] serves.
pub type Application = shop_common::Application<ProductsService>;

/// The products service's part of the shared scaffold: its database, and where the purchase
/// events are that its sold counts come from (none by default: `sold_count` then stays 0).
#[derive(Debug, Clone, Default)]
pub struct ProductsService {
    /// The NATS JetStream server with the purchase events.
    pub events: Option<EventsConfig>,
}

impl ShopService for ProductsService {
    const BINARY: ServiceBinary = ServiceBinary {
        // The Consul name the other services look it up by.
        name: shop_common::names::PRODUCTS_SERVICE,
        version: env!("CARGO_PKG_VERSION"),
        description: env!("CARGO_PKG_DESCRIPTION"),
        grpc_service: SERVICE_NAME,
        default_listen: "127.0.0.1:50052",
    };
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

    /// The service, and (given events) the sold count consumer, started now.
    fn routes(self, db: Database) -> Routes {
        let sales = self.events.map(|events| sales::spawn(db.clone(), events));
        Routes::new(ProductServiceServer::new(ProductsGrpc::new(db, sales)))
    }
}
