//! What every shop service shares: configuration flags, tracing, the database pool with start-up
//! retry and embedded migrations, the tonic server scaffold (reflection, health, graceful
//! shutdown, Consul registration through the `discovery` crate), Prometheus metrics on an admin
//! port ([`metrics`]), the [`Application`] that ties
//! them together, the binary's whole `main` ([`run`]) and the shop's service names.
//!
//! A service crate implements [`ShopService`] (its binary, migrations and routes) and keeps
//! only what is its own.

pub mod app;
pub mod binary;
pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod metrics;
pub mod names;
pub mod pagination;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod validation;

pub use app::{Application, ShopService};
pub use binary::{ServiceBinary, run};
pub use config::{
    DatabaseArgs, DatabaseConfig, LogArgs, LogFormat, NoFlags, ServiceArgs, ServiceConfig,
};
pub use db::{Database, DbConn, DbError};
pub use domain::{FieldError, Id, IdempotencyKey};
pub use server::GrpcServer;
pub use shutdown::shutdown_signal;
