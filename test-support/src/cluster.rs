//! A private PostgreSQL cluster driven through the server binaries (`initdb`, `pg_ctl`,
//! `createdb`). Std only, so `cargo xtask` can use it without pulling in a database driver.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, bail};

/// The superuser `initdb` creates; local connections need no password (`-A trust`).
const SUPERUSER: &str = "postgres";

/// The user to run the server as when we are root: `initdb` refuses to run as root.
const SERVER_USER_WHEN_ROOT: &str = "postgres";

/// A PostgreSQL cluster in a private data directory, listening on `127.0.0.1:<port>` with trust
/// authentication for the `postgres` superuser.
///
/// [`PgCluster::start`] initialises the directory if needed and starts the server; the server
/// keeps running until [`PgCluster::stop`] (dropping the value does not stop it, so a cluster can
/// outlive the process that started it, as `cargo xtask up` wants).
#[derive(Debug, Clone)]
pub struct PgCluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    run_as: Option<String>,
}

impl PgCluster {
    /// Initialises `data_dir` (unless it already holds a cluster) and starts the server on
    /// `127.0.0.1:port`, waiting until it accepts connections.
    ///
    /// When the current user is root, the data directory is handed to the `postgres` user and
    /// the server binaries run as that user through `runuser`.
    pub fn start(data_dir: &Path, port: u16) -> anyhow::Result<Self> {
        let cluster = Self::new(data_dir, port)?;
        if !cluster.server_can_use_data_dir()? {
            bail!(
                "the `{SERVER_USER_WHEN_ROOT}` user cannot write {} (is a parent directory private to root?): \
                 put the target directory somewhere it can reach, or use your own server through the DATABASE_URL variables",
                data_dir.display()
            );
        }
        cluster.init()?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// Starts a cluster in the first of `candidates` the server user can write (when root, the
    /// server runs as `postgres`, which cannot enter e.g. `/root/...`).
    pub fn start_in_first_usable(candidates: &[PathBuf], port: u16) -> anyhow::Result<Self> {
        for dir in candidates {
            let cluster = Self::new(dir, port)?;
            if cluster.server_can_use_data_dir()? {
                cluster.init()?;
                cluster.start_server()?;
                return Ok(cluster);
            }
            // Only removes what server_can_use_data_dir just created (it is empty).
            let _ = std::fs::remove_dir(dir);
        }
        bail!("the `{SERVER_USER_WHEN_ROOT}` user can write none of {candidates:?}")
    }

    fn new(data_dir: &Path, port: u16) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        let run_as = if is_root()? {
            Some(SERVER_USER_WHEN_ROOT.to_owned())
        } else {
            None
        };
        Ok(Self {
            bin_dir,
            data_dir: data_dir.to_path_buf(),
            port,
            run_as,
        })
    }

    /// Creates the data directory (handing it to the server user when root) and checks that
    /// the server user can write it.
    fn server_can_use_data_dir(&self) -> anyhow::Result<bool> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let Some(user) = &self.run_as else {
            return Ok(true);
        };
        chown_to(&self.data_dir, user)?;
        let status = Command::new("runuser")
            .args(["-u", user, "--", "test", "-w"])
            .arg(&self.data_dir)
            .stderr(Stdio::null())
            .status()
            .context("running runuser (needed to run initdb as a non-root user)")?;
        Ok(status.success())
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A connection URL for `database` on this cluster, as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates `name` unless it already exists.
    pub fn create_database(&self, name: &str) -> anyhow::Result<()> {
        let output = Command::new(self.bin_dir.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
            ])
            .arg(name)
            .output()
            .context("running createdb")?;
        if output.status.success()
            || String::from_utf8_lossy(&output.stderr).contains("already exists")
        {
            return Ok(());
        }
        bail!("createdb {name} failed: {}", stderr_line(&output))
    }

    /// Stops the server (fast shutdown: open sessions are ended, data is kept).
    pub fn stop(&self) -> anyhow::Result<()> {
        let output = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "stop"])
            .output()
            .context("running pg_ctl stop")?;
        if !output.status.success() {
            bail!("pg_ctl stop failed: {}", stderr_line(&output));
        }
        Ok(())
    }

    /// Stops the server and removes the data directory once `pid` (the process that owns the
    /// cluster) has exited. Starts a small detached shell that polls for the process: Rust has no
    /// portable exit hook, and the test harness never drops statics.
    pub fn stop_and_remove_when_process_exits(&self, pid: u32) -> anyhow::Result<()> {
        let pg_ctl = self.server_command_line("pg_ctl");
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {pg_ctl} -D \"$0\" -m immediate stop; rm -rf \"$0\""
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning the cluster clean-up watcher")?;
        Ok(())
    }

    fn init(&self) -> anyhow::Result<()> {
        if self.data_dir.join("PG_VERSION").exists() {
            return Ok(());
        }
        let output = self
            .server_command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync"])
            .output()
            .context("running initdb")?;
        if !output.status.success() {
            bail!("initdb failed: {}", stderr_line(&output));
        }
        Ok(())
    }

    fn start_server(&self) -> anyhow::Result<()> {
        // A server left running from an earlier run may listen on another port: restart it.
        if self.data_dir.join("postmaster.pid").exists() {
            let _stopped = self.stop();
        }
        // TCP only: the default socket directory may not exist or be writable, and socket paths
        // under a deep target/ can exceed the 107-byte limit.
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off",
            self.port
        );
        let output = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(self.data_dir.join("server.log"))
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            .output()
            .context("running pg_ctl start")?;
        if !output.status.success() {
            bail!(
                "pg_ctl start failed: {} (see {})",
                stderr_line(&output),
                self.data_dir.join("server.log").display()
            );
        }
        Ok(())
    }

    /// A server binary, run as the server user when we are root.
    fn server_command(&self, binary: &str) -> Command {
        let path = self.bin_dir.join(binary);
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }

    fn server_command_line(&self, binary: &str) -> String {
        let path = self.bin_dir.join(binary).display().to_string();
        match &self.run_as {
            Some(user) => format!("runuser -u {user} -- '{path}'"),
            None => format!("'{path}'"),
        }
    }
}

/// The directory holding `initdb` and `pg_ctl`: `PATH` first, then the newest
/// `/usr/lib/postgresql/*/bin`.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if let Some(dir) = on_path {
        // PATH often holds symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/
        // initdb) without the sibling tools; the real directory has them all.
        let real = std::fs::canonicalize(dir.join("initdb"))
            .ok()
            .and_then(|initdb| initdb.parent().map(Path::to_path_buf));
        return Ok(real.unwrap_or(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).context(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin: \
         install them (e.g. `apt-get install postgresql`) or set TEST_DATABASE_URL / the *_DATABASE_URL variables \
         to a running server",
    )
}

fn is_root() -> anyhow::Result<bool> {
    Ok(id(&["-u"])? == "0")
}

fn chown_to(dir: &Path, user: &str) -> anyhow::Result<()> {
    let uid = id(&["-u", user])?
        .parse()
        .with_context(|| format!("uid of {user}"))?;
    let gid = id(&["-g", user])?
        .parse()
        .with_context(|| format!("gid of {user}"))?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .with_context(|| format!("handing {} to {user}", dir.display()))
}

fn id(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("id")
        .args(args)
        .output()
        .context("running id")?;
    if !output.status.success() {
        bail!(
            "`id {}` failed: {} (initdb cannot run as root; create a `{SERVER_USER_WHEN_ROOT}` user or set TEST_DATABASE_URL)",
            args.join(" "),
            stderr_line(&output)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn stderr_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = stderr.trim();
    if text.is_empty() {
        format!("exit status {}", output.status)
    } else {
        text.lines().collect::<Vec<_>>().join(" / ")
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The cargo target directory: `$CARGO_TARGET_DIR`, else `target/` at the workspace root.
///
/// A relative `$CARGO_TARGET_DIR` is taken from the workspace root, where `cargo xtask` runs
/// cargo, not from the current directory, which under `cargo test` is the package's own. The one
/// definition for the test clusters and for `cargo xtask` (its cluster, the binaries it runs),
/// so they all agree on where cargo put things.
pub fn target_dir() -> PathBuf {
    // Always there: test-support sits one level below the workspace root.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace_root = manifest_dir.parent().unwrap_or(manifest_dir);
    // `join` keeps an absolute `$CARGO_TARGET_DIR` as it is.
    workspace_root.join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
}

/// `server_url` with its database (the URL path) replaced by `database`, keeping any query.
///
/// ```
/// assert_eq!(
///     test_support::database_url("postgres://u@h:5432/postgres?sslmode=disable", "t1"),
///     "postgres://u@h:5432/t1?sslmode=disable"
/// );
/// ```
pub fn database_url(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn database_url_replaces_or_adds_the_path() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(database_url("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
