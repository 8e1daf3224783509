//! Test helpers: a throwaway PostgreSQL cluster (or `TEST_DATABASE_URL`) and a fresh database
//! per test.
//!
//! - [`PgCluster`] runs `initdb` and `pg_ctl` (found on `PATH` or under
//!   `/usr/lib/postgresql/*/bin`) for a private cluster; `cargo xtask up` uses it too, which is
//!   why it depends on nothing but `std` and `anyhow`.
//! - [`TestDatabase`] (feature `database`, on by default) gives each test its own uniquely named
//!   database on the server named by `TEST_DATABASE_URL`, or on a cluster started once per test
//!   process under `target/`, and drops it when the test is done.
//! - [`FakeConsul`] (feature `fake-consul`, on by default): a fake Consul agent for the
//!   discovery tests.
//! - [`NatsServer`]: a real `nats-server -js` per test on a free port, which a test can stop and
//!   start again (std only, like the cluster: `cargo xtask up` can use it).
//! - [`ChildProcess`] (feature `process`, on by default): a real binary (or the test binary in
//!   a child role) run as a separate process, its output collected, stopped with SIGTERM or
//!   killed with SIGKILL.
//! - [`wait_until_serving`] and [`list_services`] (feature `grpc`, on by default) probe a
//!   running gRPC server through the standard health and reflection services.

mod cluster;
#[cfg(feature = "database")]
mod database;
#[cfg(feature = "fake-consul")]
pub mod fake_consul;
#[cfg(feature = "grpc")]
mod grpc;
mod nats;
#[cfg(feature = "process")]
mod process;

pub use cluster::{PgCluster, database_url, free_port, target_dir};
#[cfg(feature = "database")]
pub use database::{TestDatabase, server_url};
#[cfg(feature = "fake-consul")]
pub use fake_consul::FakeConsul;
#[cfg(feature = "grpc")]
pub use grpc::{ReflectionVersion, connect_when_serving, list_services, wait_until_serving};
pub use nats::NatsServer;
#[cfg(feature = "process")]
pub use process::ChildProcess;
