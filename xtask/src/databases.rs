//! The stack's four databases, for `cargo xtask up` and `cargo xtask e2e`: each service's URL
//! from its `*_DATABASE_URL` variable, or a database on a private PostgreSQL cluster
//! (test-support's [`PgCluster`], `initdb`/`pg_ctl`) started here and stopped when the returned
//! guard drops, however the command ends (error or Ctrl-C).

use anyhow::{Context, bail};
use test_support::PgCluster;

use crate::up::ensure_port_free;

/// The variables naming a service's own database, and the database created for it on the
/// private cluster when the variable is unset or empty.
const GIVEN: [(&str, &str); 4] = [
    ("USERS_DATABASE_URL", "users"),
    ("PRODUCTS_DATABASE_URL", "products"),
    ("PURCHASES_DATABASE_URL", "purchases"),
    ("PAYMENTS_DATABASE_URL", "payments"),
];

/// Database URL per service: from the environment, or a database on our cluster.
pub(crate) struct Databases {
    pub(crate) users: String,
    pub(crate) products: String,
    pub(crate) purchases: String,
    pub(crate) payments: String,
}

/// Where a private cluster lives and what becomes of it, the one thing `up` and `e2e` do
/// differently.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ClusterKind {
    /// `cargo xtask up`: under `target/xtask-pg`, stopped at the end but kept (data and all)
    /// for the next run, so what was created survives a restart.
    Kept,
    /// `cargo xtask e2e`: a fresh directory (under the target directory when the server user
    /// can write there, else under the temp dir), stopped and deleted at the end, so every run
    /// starts empty and runs can overlap.
    Throwaway,
}

impl Databases {
    /// Placeholder URLs, for listing the stack's processes before any database exists (to build
    /// them).
    pub(crate) fn none() -> Self {
        Self {
            users: String::new(),
            products: String::new(),
            purchases: String::new(),
            payments: String::new(),
        }
    }

    /// The four URLs: the given ones, and for the missing ones a database on a private cluster
    /// of `kind` on `127.0.0.1:pg_port` (started only if a URL is missing).
    pub(crate) fn given_or_on_cluster(
        pg_port: u16,
        kind: ClusterKind,
    ) -> anyhow::Result<(Self, ClusterGuard)> {
        let given = GIVEN.map(|(variable, database)| {
            let url = std::env::var(variable).ok().filter(|url| !url.is_empty());
            (url, database)
        });
        let cluster = if given.iter().all(|(url, _)| url.is_some()) {
            None
        } else {
            Some(start_cluster(pg_port, kind)?)
        };
        let cluster = ClusterGuard { cluster, kind };
        let [users, products, purchases, payments] =
            given.map(|(url, database)| match (url, &cluster.cluster) {
                (Some(url), _) => Ok(url),
                (None, Some(cluster)) => {
                    cluster.create_database(database)?;
                    Ok(cluster.url(database))
                }
                (None, None) => bail!("no URL for the {database} database and no cluster"),
            });
        let databases = Self {
            users: users?,
            products: products?,
            purchases: purchases?,
            payments: payments?,
        };
        Ok((databases, cluster))
    }
}

fn start_cluster(pg_port: u16, kind: ClusterKind) -> anyhow::Result<PgCluster> {
    match kind {
        ClusterKind::Kept => {
            let data_dir = test_support::target_dir().join("xtask-pg");
            // A server still running from an earlier run holds the port; PgCluster restarts it.
            if !data_dir.join("postmaster.pid").exists() {
                ensure_port_free(pg_port, "PostgreSQL", "--pg-port")?;
            }
            eprintln!(
                "starting PostgreSQL in {} on port {pg_port}",
                data_dir.display()
            );
            PgCluster::start(&data_dir, pg_port)
                .context("cannot start the private PostgreSQL cluster")
        }
        ClusterKind::Throwaway => {
            // As root the server runs as `postgres`, which cannot enter e.g. /root: the temp dir
            // is the fallback.
            let name = format!("xtask-e2e-pg-{}", std::process::id());
            let candidates = [
                test_support::target_dir().join(&name),
                std::env::temp_dir().join(&name),
            ];
            eprintln!("starting a throwaway PostgreSQL cluster on port {pg_port}");
            PgCluster::start_in_first_usable(&candidates, pg_port)
                .context("cannot start a throwaway PostgreSQL cluster")
        }
    }
}

/// Stops the private cluster, if one was started, when dropped; a throwaway one is also
/// deleted.
pub(crate) struct ClusterGuard {
    cluster: Option<PgCluster>,
    kind: ClusterKind,
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        match cluster.stop() {
            Ok(()) => eprintln!("stopped PostgreSQL ({})", cluster.data_dir().display()),
            Err(err) => eprintln!("could not stop PostgreSQL: {err:#}"),
        }
        if matches!(self.kind, ClusterKind::Throwaway) {
            let _ = std::fs::remove_dir_all(cluster.data_dir());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The e2e set-up end to end: without the variables, a throwaway cluster with the four
    /// databases, deleted once the guard drops. (Given variables are used as they are.)
    #[test]
    fn a_throwaway_cluster_holds_the_missing_databases_and_goes_away() {
        let port = test_support::free_port().expect("free port");
        let (databases, guard) =
            Databases::given_or_on_cluster(port, ClusterKind::Throwaway).expect("databases");
        let data_dir = guard.cluster.as_ref().map(|c| c.data_dir().to_path_buf());
        for (url, (variable, database)) in [
            &databases.users,
            &databases.products,
            &databases.purchases,
            &databases.payments,
        ]
        .into_iter()
        .zip(GIVEN)
        {
            match std::env::var(variable).ok().filter(|url| !url.is_empty()) {
                Some(given) => assert_eq!(url, &given),
                None => assert_eq!(
                    url,
                    &format!("postgres://postgres@127.0.0.1:{port}/{database}")
                ),
            }
        }
        drop(guard);
        if let Some(data_dir) = data_dir {
            assert!(!data_dir.exists(), "{} left behind", data_dir.display());
        }
    }
}
