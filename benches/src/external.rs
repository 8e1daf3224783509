//! The external load generators, as second opinions beside the in-process one:
//!
//! - `pgbench` (Debian: `postgresql-client`) runs the users service's own statement for
//!   `GetUser` (its SELECT) or `CreateUser` (its INSERT ... RETURNING) as a prepared statement
//!   straight against its database: the most requests per second the database answers that
//!   statement with, the limit every other variant lives under.
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

/// The users service's `insert_user` statement (`services/users/src/db/queries.rs`), as diesel
/// writes it (`insert_into(users).values(NewUserRow).returning(UserRow::as_returning())`:
/// `INSERT INTO "users" ("name", "email") VALUES ($1, $2) RETURNING "users"."id", ...`), into
/// the service's own table with its unique index on `lower(email)`. pgbench binds numbers only,
/// so the email is built in the statement from a run prefix (`{prefix}`, replaced per run) and a
/// random 62-bit `:n`: fresh in every transaction (a repeat in 2^62 is not a practical
/// concern), so the unique index never refuses one. The concatenation is the only difference
/// from the service's statement.
const CREATE_USER_SQL: &str = r#"INSERT INTO "users" ("name", "email") VALUES ('Bench User', '{prefix}-' || :n || '@example.com') RETURNING "users"."id", "users"."name", "users"."email";"#;

/// Which of the users service's statements pgbench runs.
#[derive(Debug, Clone, Copy)]
pub enum PgbenchScript<'a> {
    /// `find_user` on these existing ids (a random one each time).
    GetUser(&'a [i64]),
    /// `insert_user` with a fresh email each time.
    CreateUser,
}

impl PgbenchScript<'_> {
    /// The pgbench script: `\set` lines for the variables, then the statement.
    fn script(self, run: &str) -> String {
        match self {
            PgbenchScript::GetUser(ids) => {
                let (min, max) = (
                    ids.iter().min().copied().unwrap_or(1),
                    ids.iter().max().copied().unwrap_or(1),
                );
                format!("\\set id random({min}, {max})\n{GET_USER_SQL}\n")
            }
            PgbenchScript::CreateUser => format!(
                "\\set n random(1, 4611686018427387904)\n{}\n",
                CREATE_USER_SQL.replace("{prefix}", &format!("pgbench-{run}"))
            ),
        }
    }
}

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
struct Scratch {
    dir: PathBuf,
    /// Unique to this run in this process: `<pid>-<n>`.
    run: String,
}

impl Scratch {
    fn new(tool: &str) -> anyhow::Result<Self> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = format!(
            "{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(format!("gateway-bench-{tool}-{run}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir, run })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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

/// The wall time in h2load's `finished in 5.00s, ...` (or `300.12ms`, `950.00us` for short
/// runs).
fn elapsed_of(finished: &str) -> Option<Duration> {
    let value = finished
        .strip_prefix("finished in")?
        .split_whitespace()
        .next()?
        .trim_end_matches(',');
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: f64 = digits.parse().ok()?;
    let seconds = match &value[digits.len()..] {
        "s" => number,
        "ms" => number / 1e3,
        "us" => number / 1e6,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
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

/// `pgbench -M prepared` running the users service's own statement (`script`) against the
/// database at `url`: about `transactions` of them, `concurrency` connections at once.
pub async fn pgbench(
    tool: &Tool,
    url: &str,
    script: PgbenchScript<'_>,
    transactions: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let scratch = Scratch::new("pgbench")?;
    let script_file = scratch.dir.join("script.sql");
    std::fs::write(&script_file, script.script(&scratch.run))
        .with_context(|| format!("writing {}", script_file.display()))?;
    let concurrency = concurrency.max(1);
    let per_client = transactions.div_ceil(concurrency).max(1);
    let stdout = output(
        tokio::process::Command::new(&tool.path)
            .arg("--no-vacuum")
            .args(["--protocol", "prepared"])
            .arg("--file")
            .arg(&script_file)
            .args(["--client", &concurrency.to_string()])
            .args(["--jobs", &concurrency.min(2).to_string()])
            .args(["--transactions", &per_client.to_string()])
            .arg("--log")
            .arg("--log-prefix")
            .arg(scratch.dir.join("log"))
            .arg(url),
        "pgbench",
    )
    .await?;
    let tps = number_after(&stdout, "tps =")
        .with_context(|| format!("no `tps =` in pgbench's output:\n{stdout}"))?;
    // pgbench's log: client, transaction, latency in µs, script, epoch s, epoch µs.
    sample(logged_latencies(&scratch.dir, 2)?, tps)
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
    let log = scratch.dir.join("requests.log");
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
    sample(logged_latencies(&scratch.dir, 2)?, per_second)
}

/// `h2load --h1` against an overloaded gateway: `connections` keep-alive clients sending
/// `GET path` to `addr` for `duration`, each resending as soon as it has an answer. Returns the
/// 2xx answers (admitted, with the run's wall time as `elapsed`), the 503s (shed; h2load's log
/// has no headers, so `Retry-After` is not checked) and the rest (other statuses, errors and
/// timeouts), which h2load, unlike [`h2load`], must not fail the run for.
pub async fn h2load_overload(
    tool: &Tool,
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<(Sample, Sample, usize)> {
    let scratch = Scratch::new("h2load")?;
    let log = scratch.dir.join("requests.log");
    let stdout = output(
        tokio::process::Command::new(&tool.path)
            .arg("--h1")
            .args(["--clients", &connections.max(1).to_string()])
            .args(["--threads", "1"])
            .args(["--max-concurrent-streams", "1"])
            .args(["--duration", &format!("{}ms", duration.as_millis().max(1))])
            .arg("--log-file")
            .arg(&log)
            .arg(format!("http://{addr}{path}")),
        "h2load",
    )
    .await?;
    let finished = stdout
        .lines()
        .find(|line| line.starts_with("finished in"))
        .with_context(|| format!("no `finished in ..s` in h2load's output:\n{stdout}"))?;
    let elapsed =
        elapsed_of(finished).with_context(|| format!("no duration in h2load's `{finished}`"))?;
    // `requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout`:
    // the count after `failed,` is the errored one, after `errored,` the timeouts.
    let errored = number_after(&stdout, "failed,").unwrap_or(0.0);
    let timed_out = number_after(&stdout, "errored,").unwrap_or(0.0);
    let text =
        std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    let mut admitted = Sample::default();
    let mut shed = Sample::default();
    let mut failed = (errored + timed_out) as usize;
    // h2load's log: start (µs since epoch), status, µs until the end of the response.
    for line in text.lines() {
        let mut columns = line.split_whitespace().skip(1);
        let (Some(status), Some(micros)) = (columns.next(), columns.next()) else {
            bail!("unexpected h2load log line: {line}");
        };
        let latency = Duration::from_micros(
            micros
                .parse()
                .with_context(|| format!("unexpected h2load log line: {line}"))?,
        );
        match status {
            "503" => shed.latencies.push(latency),
            status if status.starts_with('2') => admitted.latencies.push(latency),
            _ => failed += 1,
        }
    }
    for sample in [&mut admitted, &mut shed] {
        sample.elapsed = elapsed;
        sample.rounds = vec![sample.throughput()];
    }
    Ok((admitted, shed, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgbench_scripts_run_the_services_statements() {
        let get = PgbenchScript::GetUser(&[7, 3, 9]).script("1-0");
        assert!(get.starts_with("\\set id random(3, 9)\n"), "{get}");
        assert!(get.contains(GET_USER_SQL), "{get}");
        let create = PgbenchScript::CreateUser.script("42-7");
        assert!(create.starts_with("\\set n random(1, "), "{create}");
        assert!(
            create.contains(r#"INSERT INTO "users" ("name", "email") VALUES ('Bench User', 'pgbench-42-7-' || :n || '@example.com') RETURNING"#),
            "{create}"
        );
    }

    #[test]
    fn parses_the_tools_summaries() {
        let pgbench = "latency average = 0.120 ms\ninitial connection time = 3.1 ms\ntps = 8123.456789 (without initial connection time)\n";
        assert_eq!(number_after(pgbench, "tps ="), Some(8123.456789));
        let h2load = "finished in 1.23s, 8123.45 req/s, 1.20MB/s\nrequests: 100 total, 100 started, 100 done, 100 succeeded, 0 failed, 0 errored, 0 timeout\n";
        assert_eq!(number_after(h2load, "s,"), Some(8123.45));
        assert_eq!(number_after(h2load, "succeeded,"), Some(0.0));
        assert_eq!(
            elapsed_of("finished in 1.25s, 8123.45 req/s, 1.20MB/s"),
            Some(Duration::from_millis(1250))
        );
        assert_eq!(
            elapsed_of("finished in 250.00ms, 3560.00 req/s, 1.20MB/s"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(elapsed_of("finished in soon"), None);
    }
}
