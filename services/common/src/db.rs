//! The database: a diesel-async deadpool of `AsyncPgConnection`s, plus start-up (connect with
//! exponential backoff, then run the service's embedded migrations).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use backon::{ExponentialBuilder, Retryable};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::config::DatabaseConfig;

/// A pooled connection; derefs to `AsyncPgConnection`, so query functions take `&mut *conn`.
pub type DbConn = Object<AsyncPgConnection>;

/// How long one connection attempt may take before it counts as failed.
const CONNECT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Key of the PostgreSQL advisory lock held while migrating, so that instances starting
/// together against one database migrate one after another.
const MIGRATION_LOCK_KEY: i64 = 0x5348_4f50_4d49_4752; // "SHOPMIGR"

/// Why no connection could be handed out. Services map every variant to UNAVAILABLE: the
/// request may succeed later, and the cause stays in the log.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Start-up has not finished connecting and migrating yet.
    #[error("the database is not ready yet")]
    NotReady,
    /// No connection became free, or none could be opened, within the acquire timeout.
    #[error("timed out waiting for a database connection")]
    Timeout,
    /// The pool could not open a connection.
    #[error("cannot get a database connection")]
    Pool(#[from] PoolError),
}

/// The service's database. Cheap to clone (shares one pool).
///
/// [`Database::new`] connects nothing; [`Database::start`] waits for the server and migrates,
/// and until it has finished [`Database::conn`] answers [`DbError::NotReady`].
#[derive(Clone)]
pub struct Database {
    pool: Pool<AsyncPgConnection>,
    config: Arc<DatabaseConfig>,
    ready: Arc<AtomicBool>,
    /// How long [`Database::conn`] waited for a connection (`db_pool_acquire_seconds`).
    acquire: Histogram,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("Database")
            .field("max_connections", &self.config.max_connections)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// A pool for `config.url`; no connection is opened yet.
    ///
    /// Fails at once (rather than after the start-up retries) if the URL is not a PostgreSQL
    /// URL.
    pub fn new(config: &DatabaseConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.url.starts_with("postgres://") || config.url.starts_with("postgresql://"),
            "the database URL must start with postgres:// or postgresql://"
        );
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(config.url.clone());
        let pool = Pool::builder(manager)
            .max_size(config.max_connections)
            .build()
            .context("building the database pool")?;
        Ok(Self {
            pool,
            config: Arc::new(config.clone()),
            ready: Arc::new(AtomicBool::new(false)),
            acquire: Histogram::new(crate::metrics::LATENCY_BUCKETS),
        })
    }

    /// Registers the pool's metrics in `registry`: its size, connections in use and callers
    /// waiting (read at scrape time) and the time callers waited for a connection.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "db_pool_acquire_seconds",
            "Time a request waited for a pooled database connection",
            self.acquire.clone(),
        );
        registry.register_collector(Box::new(PoolCollector(self.pool.clone())));
    }

    /// Waits for the database (retrying the connection with exponential backoff for up to the
    /// configured start-up timeout), runs the pending `migrations`, and marks the database
    /// ready.
    pub async fn start(&self, migrations: EmbeddedMigrations) -> anyhow::Result<()> {
        let conn = connect_with_retry(&self.config.url, self.config.startup_timeout).await?;
        let applied = run_migrations(conn, migrations).await?;
        if applied.is_empty() {
            tracing::info!("database schema is up to date");
        } else {
            tracing::info!(?applied, "applied database migrations");
        }
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether [`Database::start`] has finished.
    pub fn is_ready(&self) -> bool {
        AtomicBool::load(&self.ready, Ordering::Acquire)
    }

    /// A pooled connection, waiting at most the configured acquire timeout.
    pub async fn conn(&self) -> Result<DbConn, DbError> {
        if !self.is_ready() {
            return Err(DbError::NotReady);
        }
        let started = std::time::Instant::now();
        let conn = tokio::time::timeout(self.config.acquire_timeout, self.pool.get()).await;
        self.acquire.observe(started.elapsed().as_secs_f64());
        conn.map_err(|_elapsed| DbError::Timeout)?
            .map_err(DbError::from)
    }
}

/// The pool's state as gauges, read from deadpool at each scrape.
struct PoolCollector(Pool<AsyncPgConnection>);

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolCollector").finish_non_exhaustive()
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = self.0.status();
        let gauges = [
            (
                "db_pool_max_connections",
                "Largest number of pooled database connections",
                status.max_size,
            ),
            (
                "db_pool_connections",
                "Database connections open in the pool",
                status.size,
            ),
            (
                "db_pool_connections_in_use",
                "Database connections handed out to requests",
                status.size.saturating_sub(status.available),
            ),
            (
                "db_pool_waiting",
                "Requests waiting for a database connection",
                status.waiting,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// Opens one connection to `url`, retrying with jittered exponential backoff (100 ms doubling
/// up to 5 s between attempts) until `give_up_after` of waiting has passed.
pub async fn connect_with_retry(
    url: &str,
    give_up_after: Duration,
) -> anyhow::Result<AsyncPgConnection> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .with_total_delay(Some(give_up_after));
    let attempt = || async {
        tokio::time::timeout(CONNECT_ATTEMPT_TIMEOUT, AsyncPgConnection::establish(url))
            .await
            .context("connection attempt timed out")?
            .context("cannot connect to the database")
    };
    attempt
        .retry(backoff)
        .notify(|err: &anyhow::Error, wait: Duration| {
            tracing::warn!(
                error = format!("{err:#}"),
                ?wait,
                "database not reachable yet, retrying"
            );
        })
        .await
        .with_context(|| format!("database still unreachable after {give_up_after:?}"))
}

/// Runs the pending `migrations` on `conn` under an advisory lock; returns the versions applied.
///
/// The harness blocks (diesel's migration API is synchronous), so it runs on the blocking pool.
pub async fn run_migrations(
    mut conn: AsyncPgConnection,
    migrations: EmbeddedMigrations,
) -> anyhow::Result<Vec<String>> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .execute(&mut conn)
        .await
        .context("taking the migration lock")?;
    // The lock is a session lock: it goes away with the connection at the end of the task.
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .run_pending_migrations(migrations)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|err| anyhow::anyhow!(err).context("running database migrations"))
    })
    .await
    .context("the migration task panicked")?
}

impl From<DbError> for tonic::Status {
    /// UNAVAILABLE with a generic message; the cause is logged here, once.
    fn from(err: DbError) -> Self {
        tracing::warn!(error = ?err, "database unavailable");
        tonic::Status::unavailable("the database is unavailable, try again later")
    }
}
