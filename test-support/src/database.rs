//! A fresh database per test.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::cluster::{PgCluster, database_url, free_port, target_dir};

/// The variable naming a running server to create test databases on, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// The URL of the server tests create their databases on: `TEST_DATABASE_URL` if set, otherwise
/// a throwaway cluster started (once per test process) under `target/test-pg/`, stopped and
/// removed when the process exits.
pub fn server_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var(TEST_DATABASE_URL) {
        return Ok(url);
    }
    static CLUSTER: OnceLock<Result<PgCluster, String>> = OnceLock::new();
    let cluster = CLUSTER
        .get_or_init(|| start_throwaway_cluster().map_err(|err| format!("{err:#}")))
        .as_ref()
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(cluster.url("postgres"))
}

fn start_throwaway_cluster() -> anyhow::Result<PgCluster> {
    let id = format!("{}-{}", std::process::id(), nanos());
    // target/ first; the temp dir when the server user cannot reach target/ (root running
    // tests with a target dir under /root).
    let candidates = [
        target_dir().join("test-pg").join(&id),
        std::env::temp_dir().join("shop-test-pg").join(&id),
    ];
    let cluster = PgCluster::start_in_first_usable(&candidates, free_port()?)
        .context("starting a throwaway PostgreSQL cluster (or set TEST_DATABASE_URL)")?;
    cluster.stop_and_remove_when_process_exits(std::process::id())?;
    Ok(cluster)
}

/// A uniquely named, empty database, dropped (best effort) when the value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    server_url: String,
}

impl TestDatabase {
    /// Creates a new database on [`server_url`].
    pub async fn create() -> anyhow::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let server_url = server_url()?;
        let name = format!(
            "test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos() % 1_000_000_000
        );
        let mut conn = AsyncPgConnection::establish(&server_url)
            .await
            .with_context(|| format!("connecting to the test server {server_url}"))?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        Ok(Self {
            url: database_url(&server_url, &name),
            name,
            server_url,
        })
    }

    /// The connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `SELECT count(*) FROM <table>` on this database, e.g. to see which of several service
    /// instances handled requests.
    pub async fn count_rows(&self, table: &str) -> anyhow::Result<i64> {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = AsyncPgConnection::establish(&self.url)
            .await
            .with_context(|| format!("connecting to {}", self.name))?;
        let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM \"{table}\""))
            .get_result(&mut conn)
            .await
            .with_context(|| format!("counting rows of {table} in {}", self.name))?;
        Ok(count.n)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread with its
        // own small runtime.
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = AsyncPgConnection::establish(&server_url).await?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!(
                "test-support: could not drop database {}: {err:#}",
                self.name
            );
        }
    }
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
