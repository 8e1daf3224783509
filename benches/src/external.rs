//! The external load generators, as second opinions beside the in-process one:
//!
//! - `pgbench` (Debian: `postgresql-client`) runs the users service's own query for
//!   `GetUser` as a prepared statement straight against its database: the most requests per
//!   second the database answers that query with, the limit every other variant lives under.
//! - `h2load` (Debian: `nghttp2-client`) drives the HTTP variants over HTTP/1.1 keep-alive from
//!   another process, so the in-process client's own costs do not flatter or hurt either HTTP
//!   server.
//!
//! Both report per-request latencies in a log file (`pgbench -l`, `h2load --log-file`), read
//! back here into the same [`Sample`] the in-process generator produces; throughput is the
//! tool's own (pgbench's excludes its connection set-up).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};

use crate::load::Sample;

/// The users service's `find_user` query (`services/users/src/db/queries.rs`), as diesel
/// writes it (`.find(id).select(..).first(..)`), with pgbench's `:id` for the bound id.
const GET_USER_SQL: &str = r#"SELECT "users"."id", "users"."name", "users"."email" FROM "users" WHERE ("users"."id" = :id) LIMIT 1;"#;

/// An external tool found on `PATH`.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Where it is.
    pub path: PathBuf,
    /// Its `--version` line.
    pub version: String,
}

/// `name` on `PATH`, with its version; `None` when it is not installed.
pub fn find(name: &str) -> Option<Tool> {
    let path = std::env::var_os("PATH")?;
    let path = std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())?;
    let output = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.lines().next().unwrap_or_default().trim().to_owned();
    Some(Tool { path, version })
}

/// A scratch directory for one tool run, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tool: &str) -> anyhow::Result<Self> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gateway-bench-{tool}-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `command`, failing with its output when it fails.
async fn output(command: &mut tokio::process::Command, what: &str) -> anyhow::Result<String> {
    let output = command
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {what}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// The number after `prefix` on the first line of `text` holding it.
fn number_after(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = &line[line.find(prefix)? + prefix.len()..];
        let number: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        number.parse().ok()
    })
}

/// Reads the latencies (microseconds, in column `column` of whitespace-separated lines) of
/// every file in `dir`.
fn logged_latencies(dir: &Path, column: usize) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "sql") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines() {
            let micros: u64 = line
                .split_whitespace()
                .nth(column)
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("unexpected log line in {}: {line}", path.display()))?;
            latencies.push(Duration::from_micros(micros));
        }
    }
    Ok(latencies)
}

/// A sample from a tool's own throughput and its logged latencies.
fn sample(latencies: Vec<Duration>, per_second: f64) -> anyhow::Result<Sample> {
    ensure!(
        per_second > 0.0 && !latencies.is_empty(),
        "nothing was measured"
    );
    let elapsed = Duration::from_secs_f64(latencies.len() as f64 / per_second);
    Ok(Sample {
        elapsed,
        latencies,
        rounds: vec![per_second],
    })
}

/// `pgbench -M prepared` running the users service's `GetUser` query on `ids` (a random one
/// each time) against the database at `url`: about `transactions` of them, `concurrency`
/// connections at once.
pub async fn pgbench(
    tool: &Tool,
    url: &str,
    ids: &[i64],
    transactions: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let scratch = Scratch::new("pgbench")?;
    let (min, max) = (
        ids.iter().min().copied().unwrap_or(1),
        ids.iter().max().copied().unwrap_or(1),
    );
    let script = scratch.0.join("get_user.sql");
    std::fs::write(
        &script,
        format!("\\set id random({min}, {max})\n{GET_USER_SQL}\n"),
    )?;
    let concurrency = concurrency.max(1);
    let per_client = transactions.div_ceil(concurrency).max(1);
    let stdout = output(
        tokio::process::Command::new(&tool.path)
            .arg("--no-vacuum")
            .args(["--protocol", "prepared"])
            .arg("--file")
            .arg(&script)
            .args(["--client", &concurrency.to_string()])
            .args(["--jobs", &concurrency.min(2).to_string()])
            .args(["--transactions", &per_client.to_string()])
            .arg("--log")
            .arg("--log-prefix")
            .arg(scratch.0.join("log"))
            .arg(url),
        "pgbench",
    )
    .await?;
    let tps = number_after(&stdout, "tps =")
        .with_context(|| format!("no `tps =` in pgbench's output:\n{stdout}"))?;
    // pgbench's log: client, transaction, latency in µs, script, epoch s, epoch µs.
    sample(logged_latencies(&scratch.0, 2)?, tps)
}

/// `h2load --h1`: `requests` `GET /api/users/{id}` on `ids` (round robin over up to 32 of
/// them) to the HTTP server at `addr`, `concurrency` keep-alive connections at once.
pub async fn h2load(
    tool: &Tool,
    addr: SocketAddr,
    ids: &[i64],
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let scratch = Scratch::new("h2load")?;
    let log = scratch.0.join("requests.log");
    let concurrency = concurrency.max(1);
    let uris = ids
        .iter()
        .take(32)
        .map(|id| format!("http://{addr}/api/users/{id}"));
    let stdout = output(
        tokio::process::Command::new(&tool.path)
            .arg("--h1")
            .args(["--requests", &requests.max(concurrency).to_string()])
            .args(["--clients", &concurrency.to_string()])
            .args(["--threads", "1"])
            .args(["--max-concurrent-streams", "1"])
            .arg("--log-file")
            .arg(&log)
            .args(uris),
        "h2load",
    )
    .await?;
    let finished = stdout
        .lines()
        .find(|line| line.starts_with("finished in"))
        .with_context(|| format!("no `finished in ..s, N req/s` in h2load's output:\n{stdout}"))?;
    let per_second = number_after(finished, "s,")
        .with_context(|| format!("no req/s in h2load's `{finished}`"))?;
    // `requests: N total, N started, N done, N succeeded, N failed, ...`
    let failed = number_after(&stdout, "succeeded,").is_none_or(|failed| failed > 0.0);
    let non_2xx: f64 = ["3xx,", "4xx,", "5xx"]
        .iter()
        .filter_map(|class| {
            // `status codes: N 2xx, N 3xx, N 4xx, N 5xx`: the count is before the class.
            let line = stdout.lines().find(|l| l.starts_with("status codes:"))?;
            let before = &line[..line.find(class)?];
            before.split_whitespace().last()?.parse::<f64>().ok()
        })
        .sum();
    ensure!(
        !failed && non_2xx == 0.0,
        "h2load saw failed or non-2xx requests:\n{stdout}"
    );
    // h2load's log: start (µs since epoch), status, µs until the end of the response.
    sample(logged_latencies(&scratch.0, 2)?, per_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tools_summaries() {
        let pgbench = "latency average = 0.120 ms\ninitial connection time = 3.1 ms\ntps = 8123.456789 (without initial connection time)\n";
        assert_eq!(number_after(pgbench, "tps ="), Some(8123.456789));
        let h2load = "finished in 1.23s, 8123.45 req/s, 1.20MB/s\nrequests: 100 total, 100 started, 100 done, 100 succeeded, 0 failed, 0 errored, 0 timeout\n";
        assert_eq!(number_after(h2load, "s,"), Some(8123.45));
        assert_eq!(number_after(h2load, "succeeded,"), Some(0.0));
    }
}
