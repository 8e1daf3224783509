//! Flags and environment variables every service takes, and the config values they become.
//!
//! Binaries flatten these [`clap::Args`] groups into their own parser, so every service spells
//! the shared settings the same way (`--database-url` / `DATABASE_URL`, `--log-format` /
//! `LOG_FORMAT`).

use std::time::Duration;

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
