//! What every service (and later the gateway) shares: configuration flags, tracing, the database
//! pool with start-up retry and embedded migrations, the tonic server scaffold (reflection,
//! health, graceful shutdown) and the discovery seam that turns a logical service name into a
//! gRPC channel.

pub mod binary;
pub mod config;
pub mod consul;
pub mod db;
pub mod discovery;
pub mod domain;
pub mod server;
pub mod shutdown;
pub mod telemetry;

pub use binary::ServiceBinary;
pub use config::{AdvertiseArgs, ConsulArgs, DatabaseArgs, DatabaseConfig, LogArgs, LogFormat};
pub use consul::{ConsulClient, ConsulError, Registration, RegistrationHandle};
pub use db::{Database, DbConn, DbError};
pub use discovery::{ChannelOptions, ConsulDiscovery, Discovery, DiscoveryError, StaticDiscovery};
pub use domain::{FieldError, Id, Name};
pub use server::GrpcServer;
pub use shutdown::shutdown_signal;
