//! What every shop service shares: configuration flags, tracing, the database pool with start-up
//! retry and embedded migrations, the tonic server scaffold (reflection, health, graceful
//! shutdown, Consul registration through the `discovery` crate) and the shop's service names.

pub mod binary;
pub mod config;
pub mod db;
pub mod domain;
pub mod names;
pub mod server;
pub mod shutdown;
pub mod telemetry;

pub use binary::ServiceBinary;
pub use config::{DatabaseArgs, DatabaseConfig, LogArgs, LogFormat};
pub use db::{Database, DbConn, DbError};
pub use domain::{FieldError, Id, Name};
pub use server::GrpcServer;
pub use shutdown::shutdown_signal;
