//! Flags and environment variables every service takes, and the config values they become.
//!
//! Every binary parses [`ServiceArgs`], which gathers these [`clap::Args`] groups, so every
//! service spells the shared settings the same way (`--listen` / `LISTEN_ADDR`, `--database-url`
//! / `DATABASE_URL`, `--log-format` / `LOG_FORMAT`, `--consul-http-addr` / `CONSUL_HTTP_ADDR`,
//! ...). The README, `docker-compose.yml` and `cargo xtask up` set these names, so they live in
//! one place.

use std::net::SocketAddr;
use std::time::Duration;

use discovery::{AdvertiseArgs, ConsulArgs};

/// The flags of a service binary: `--listen` (`LISTEN_ADDR`), the binary's own flags `E`, then
/// the database, logging, Consul and advertise groups, listed in `--help` in that order.
///
/// Generic over `E` (rather than each binary flattening this group into its own parser) so that
/// a binary's own flags, like purchases' upstream addresses, stay listed right after `--listen`
/// as they always were. `--listen` has no default here: each binary has its own, which
/// [`crate::run`] fills in (see [`crate::ServiceBinary::default_listen`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs<E: clap::Args = NoFlags> {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LISTEN_ADDR")]
    pub listen: SocketAddr,
    /// The binary's own flags ([`NoFlags`] for none).
    #[command(flatten)]
    pub own: E,
    /// Address of the admin HTTP listener serving Prometheus metrics at `/metrics` (port 0
    /// picks a free port). Unset: no metrics listener.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Where the service's database is and how to use it.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// How log lines look.
    #[command(flatten)]
    pub log: LogArgs,
    /// Where the Consul agent is; without it nothing registers and discovery is static.
    #[command(flatten)]
    pub consul: ConsulArgs,
    /// The address registered in Consul.
    #[command(flatten)]
    pub advertise: AdvertiseArgs,
}

impl<E: clap::Args> ServiceArgs<E> {
    /// The listen address and database settings, as [`crate::Application`] takes them.
    pub fn config(&self) -> ServiceConfig {
        ServiceConfig {
            listen_addr: self.listen,
            database: self.database.clone().into(),
        }
    }
}

/// The own flags of a binary that has none (users, products): [`ServiceArgs`]' default.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct NoFlags {}

/// What every service needs to start: where to listen and its database. Tests and benchmarks
/// build it directly (as `users_service::Config`); binaries get it from [`ServiceArgs::config`].
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen_addr: SocketAddr,
    /// The service's database.
    pub database: DatabaseConfig,
}

/// Database flags: `--database-url` (`DATABASE_URL`) and the pool/start-up knobs.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL of this service's own database.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// How long to keep retrying the first database connection at start-up, in seconds.
    #[arg(long, env = "DATABASE_STARTUP_TIMEOUT_SECS", default_value_t = 60)]
    pub database_startup_timeout_secs: u64,
    /// Largest number of pooled database connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: usize,
}

/// Where the database is and how to use it.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// PostgreSQL connection URL.
    pub url: String,
    /// Largest number of pooled connections.
    pub max_connections: usize,
    /// How long start-up keeps retrying the first connection before giving up.
    pub startup_timeout: Duration,
    /// How long a request waits for a pooled connection before failing with UNAVAILABLE.
    pub acquire_timeout: Duration,
}

impl DatabaseConfig {
    /// A config for `url` with the default pool size and timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            startup_timeout: Duration::from_secs(60),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl From<DatabaseArgs> for DatabaseConfig {
    fn from(args: DatabaseArgs) -> Self {
        Self {
            max_connections: args.database_max_connections,
            startup_timeout: Duration::from_secs(args.database_startup_timeout_secs),
            ..Self::new(args.database_url)
        }
    }
}

/// Logging flags: `--log-format` (`LOG_FORMAT`); the filter comes from `RUST_LOG`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, for terminals.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}
