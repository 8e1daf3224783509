//! The payments gRPC service (`payments.v1.PaymentService`), simulated: no payment provider, but
//! a real ledger of charges and refunds in integer minor units in its own PostgreSQL database,
//! idempotent by key, and deterministic rules ([`Rules`]) that make declines, failures and slow
//! answers reproducible.
//!
//! Start-up, serving and shutdown are shared by every shop service ([`shop_common::Application`]);
//! this crate adds what is its own: the schema, the handlers, the rules and the binary's identity
//! ([`PaymentsService`]).

mod db;
mod error;
mod grpc;
mod schema;

pub mod domain;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use proto::payments::v1::payment_service_server::{PaymentServiceServer, SERVICE_NAME};
use shop_common::{Database, ServiceBinary, ShopService};
use tonic::service::Routes;

pub use domain::Rules;
pub use error::PaymentError;
pub use grpc::PaymentsGrpc;

/// What the service needs to start: the listen address and its database. The rules are the
/// service value's ([`PaymentsService::new`]).
pub type Config = shop_common::ServiceConfig;

/// A bound, ready-to-run payments service: [`Application::build`] (default rules) or
/// [`Application::build_with`] binds, [`Application::run_until`] serves.
pub type Application = shop_common::Application<PaymentsService>;

/// The payments service's part of the shared scaffold: the rules its answers follow.
#[derive(Debug, Clone, Default)]
pub struct PaymentsService {
    rules: Rules,
}

impl PaymentsService {
    /// A service following `rules`; fails on a rule no flag should allow (a negative limit, a
    /// failure rate outside 0..=1), before anything is bound.
    pub fn new(rules: Rules) -> anyhow::Result<Self> {
        rules.validate()?;
        Ok(Self { rules })
    }
}

impl ShopService for PaymentsService {
    const BINARY: ServiceBinary = ServiceBinary {
        // The Consul name purchases looks it up by.
        name: shop_common::names::PAYMENTS_SERVICE,
        version: env!("CARGO_PKG_VERSION"),
        description: env!("CARGO_PKG_DESCRIPTION"),
        grpc_service: SERVICE_NAME,
        default_listen: "127.0.0.1:50054",
    };
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

    fn routes(self, db: Database) -> Routes {
        Routes::new(PaymentServiceServer::new(PaymentsGrpc::new(db, self.rules)))
    }
}
