//! The overload scenario: far more clients than the gateway admits at once, to show what its
//! in-flight limit (`--max-in-flight`, [`gateway::GatewayConfig::max_in_flight`]) does past
//! saturation.
//!
//! 1,024 HTTP/1.1 keep-alive connections each send `GET /api/users/{id}` in a loop to the
//! gateway, which admits 512 at once, in front of an in-memory users service that holds every
//! `GetUser` 100 ms: the 512 admitted requests fill the limit, and everything else arrives
//! while it is full. Two kinds of clients ([`Driver`]), one after the other:
//!
//! - clients that honour `Retry-After` (wait before resending a refused request): the gateway
//!   has CPU to spare, so the admitted requests' latency is the upstream's 100 ms plus the
//!   gateway's own share, and a refusal's latency is what refusing costs (their tails are the
//!   waves of clients arriving together: all of them at the start, the refused ones again a
//!   second later);
//! - clients that resend at once whatever the answer (a retry storm, the worst case), in
//!   process and with h2load: the refused half keeps the gateway (and, on a small machine, the
//!   cores it shares with the clients) busy saying no while the admitted half is served.
//!
//! What it shows: admitted requests are served at the upstream's pace however many others are
//! refused (a queue would make them wait instead), refused ones get their 503 without waiting
//! for a slot, and the gateway's memory stays bounded. For the memory the gateway is the real
//! `shop-gateway` binary, a child process whose peak resident set (`VmHWM` in
//! `/proc/<pid>/status`) is its own; without the binary (a plain `cargo test`) it runs
//! in-process and its memory is not reported.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use proto::users::v1::CreateUserRequest;
use proto::users::v1::user_service_client::UserServiceClient;
use tokio::task::JoinSet;

use test_support::ChildProcess;

use crate::external::{self, Tool};
use crate::load::Sample;
use crate::report::millis;
use crate::stack::HttpServer;
use crate::upstream::{MemoryUsers, Upstream};

/// Longest one request may take before it counts as failed (far above the upstream delay).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the gateway binary may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// File descriptors the bench needs besides one per client connection (its own sockets to
/// the upstream and PostgreSQL, files, the runtime).
const SPARE_FILES: u64 = 256;

/// The scenario's shape.
#[derive(Debug, Clone)]
pub struct OverloadConfig {
    /// Keep-alive connections, each with one request in flight at all times.
    pub connections: usize,
    /// The gateway's `--max-in-flight`.
    pub max_in_flight: usize,
    /// How long the upstream holds every request: long enough that the admitted requests fill
    /// the limit, so that the rest is shed.
    pub upstream_delay: Duration,
    /// How long each driver sends.
    pub duration: Duration,
    /// The `shop-gateway` binary to run as a child process; `None`: the one beside this
    /// program (cargo puts both in `target/<profile>/`), else the gateway in-process.
    pub gateway_binary: Option<PathBuf>,
}

impl Default for OverloadConfig {
    fn default() -> Self {
        Self {
            connections: 1_024,
            max_in_flight: 512,
            upstream_delay: Duration::from_millis(100),
            duration: Duration::from_secs(5),
            gateway_binary: None,
        }
    }
}

impl OverloadConfig {
    /// The same shape, small and short (`--smoke`): it only shows that the path works.
    pub fn smoke() -> Self {
        Self {
            connections: 64,
            max_in_flight: 32,
            upstream_delay: Duration::from_millis(20),
            duration: Duration::from_millis(300),
            gateway_binary: None,
        }
    }
}

/// What sent the requests, and how its clients treat a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// One hyper HTTP/1.1 connection per client task, in this process; a refused client waits
    /// the `Retry-After` it was given (at most until the run ends).
    HonoursRetryAfter,
    /// The same clients resending at once.
    ResendsAtOnce,
    /// `h2load --h1`, from another process, which resends at once.
    H2load,
}

impl Driver {
    /// In the order they run: the calm one first, so its peak memory is its own.
    pub const ALL: [Driver; 3] = [
        Driver::HonoursRetryAfter,
        Driver::ResendsAtOnce,
        Driver::H2load,
    ];

    /// The name shown in the report.
    pub fn label(self) -> &'static str {
        match self {
            Driver::HonoursRetryAfter => "in-process, clients honour Retry-After",
            Driver::ResendsAtOnce => "in-process, clients resend at once",
            Driver::H2load => "h2load, clients resend at once",
        }
    }
}

/// One driver's run against the overloaded gateway.
#[derive(Debug, Clone)]
pub struct OverloadRow {
    /// What sent the requests.
    pub driver: Driver,
    /// The requests answered 2xx (admitted and served): their latencies, and the wall time
    /// of the run as `elapsed`.
    pub admitted: Sample,
    /// The requests refused with 503 and `Retry-After` (h2load sees no headers: its 503s).
    pub shed: Sample,
    /// Requests answered otherwise, or not at all.
    pub failed: usize,
    /// How many the gateway itself counted as shed meanwhile
    /// (`gateway_http_requests_shed_total`), a check on the client's count.
    pub counted_shed: Option<u64>,
    /// The gateway process's peak resident set so far (`VmHWM`), in KiB.
    pub peak_rss_kib: Option<u64>,
}

impl OverloadRow {
    /// Admitted requests per second over the run.
    pub fn admitted_per_second(&self) -> f64 {
        self.admitted.throughput()
    }

    /// The share of requests refused.
    pub fn shed_share(&self) -> f64 {
        let answered = self.admitted.latencies.len() + self.shed.latencies.len();
        self.shed.latencies.len() as f64 / answered.max(1) as f64
    }
}

/// The scenario's outcome.
#[derive(Debug, Clone)]
pub struct Overload {
    /// Its shape.
    pub config: OverloadConfig,
    /// The gateway measured: the binary or in-process.
    pub gateway: String,
    /// The gateway process's resident set once started, before any load, in KiB.
    pub idle_rss_kib: Option<u64>,
    /// One row per driver.
    pub rows: Vec<OverloadRow>,
    /// What was left out and why.
    pub notes: Vec<String>,
}

/// The gateway under test.
enum Gateway {
    /// The `shop-gateway` binary, a child of this process.
    Process {
        /// Boxed: a child process handle is far larger than the in-process variant.
        process: Box<ChildProcess>,
        addr: SocketAddr,
    },
    /// [`shop_gateway::app`] in this process (no binary to run).
    InProcess(HttpServer),
}

impl Gateway {
    /// Runs `binary` on a free port in front of the users service at `upstream`, admitting
    /// `max_in_flight` requests at once; returns once it printed where it listens.
    async fn spawn(
        binary: &Path,
        upstream: SocketAddr,
        max_in_flight: usize,
    ) -> anyhow::Result<Self> {
        let mut command = tokio::process::Command::new(binary);
        command
            .args(["--listen", "127.0.0.1:0"])
            .arg("--upstream")
            .arg(format!("users.v1.UserService=http://{upstream}"))
            .args(["--max-in-flight", &max_in_flight.to_string()])
            // Nothing from the caller's environment (`GATEWAY_*`, an OTLP endpoint) may change
            // what is measured; errors only, so that logging costs nothing.
            .env_clear()
            .env("RUST_LOG", "error");
        let mut process = ChildProcess::spawn(binary.display().to_string(), command)?;
        let addr = process.wait_for_listening_address(START_TIMEOUT).await?;
        Ok(Self::Process {
            process: Box::new(process),
            addr,
        })
    }

    /// The gateway in this process, as the rest of the bench runs it.
    async fn in_process(upstream: SocketAddr, max_in_flight: usize) -> anyhow::Result<Self> {
        let mut upstreams = gateway::Upstreams::new();
        upstreams.insert("users.v1.UserService", crate::connect(upstream).await?);
        let config = gateway::GatewayConfig {
            upstreams,
            max_in_flight,
            ..Default::default()
        };
        Ok(Self::InProcess(
            HttpServer::start(shop_gateway::app(config)?).await?,
        ))
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Gateway::Process { addr, .. } => *addr,
            Gateway::InProcess(server) => server.addr,
        }
    }

    /// A value in KiB from the gateway process's `/proc/<pid>/status`; `None` in process or
    /// off Linux.
    fn status_kib(&self, key: &str) -> Option<u64> {
        match self {
            Gateway::Process { process, .. } => process.status_kib(key).ok(),
            Gateway::InProcess(_) => None,
        }
    }

    /// What the report calls it (no path: the report is checked in).
    fn describe(&self) -> String {
        match self {
            Gateway::Process { .. } => "the `shop-gateway` binary (a child process)".to_owned(),
            Gateway::InProcess(_) => "`shop_gateway::app` in the bench's process".to_owned(),
        }
    }

    /// Ends the gateway: the child is killed (nothing of it is kept), the in-process server
    /// stopped.
    async fn stop(self) -> anyhow::Result<()> {
        match self {
            Gateway::Process { mut process, .. } => {
                process.kill().await?;
                // Its errors (the only level it logs at), shown as they were when its stderr
                // was inherited.
                eprint!("{}", process.output());
                Ok(())
            }
            Gateway::InProcess(server) => server.stop().await,
        }
    }
}

/// This process's soft limit of open files, from `/proc/self/limits`; `None` when unknown or
/// unlimited.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `shop-gateway` beside this program (`target/<profile>/`), or one level up when this is a
/// test binary in `target/<profile>/deps/`.
fn sibling_gateway() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let name = format!("shop-gateway{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .find(|candidate| candidate.is_file())
}

/// The gateway's own count of shed requests, read from its `/metrics`.
async fn counted_shed(gateway: SocketAddr) -> Option<u64> {
    let client = crate::load::http_client();
    let uri = format!("http://{gateway}/metrics").parse().ok()?;
    let response = client.get(uri).await.ok()?;
    let body = response.into_body().collect().await.ok()?.to_bytes();
    String::from_utf8_lossy(&body).lines().find_map(|line| {
        line.strip_prefix("gateway_http_requests_shed_total ")?
            .trim()
            .parse::<f64>()
            .ok()
            // A counter's value is a whole number printed as a float.
            .map(|value| value as u64)
    })
}

/// Runs the scenario: a slow in-memory users service, the gateway in front of it, then each
/// driver (the in-process client, then h2load when installed) for `config.duration`.
pub async fn run(config: &OverloadConfig, h2load: Option<&Tool>) -> anyhow::Result<Overload> {
    let binary = config.gateway_binary.clone().or_else(sibling_gateway);
    let mut overload = Overload {
        config: config.clone(),
        gateway: String::new(),
        idle_rss_kib: None,
        rows: Vec::new(),
        notes: Vec::new(),
    };
    // Both ends of every connection live in this process when the gateway does.
    let per_connection = if binary.is_some() { 1 } else { 2 };
    let needed = config.connections as u64 * per_connection + SPARE_FILES;
    if let Some(limit) = open_files_limit()
        && limit < needed
    {
        overload.notes.push(format!(
            "overload left out: {} connections need about {needed} open files and the limit is \
             {limit} (raise it, e.g. `ulimit -n 4096`)",
            config.connections
        ));
        return Ok(overload);
    }
    if binary.is_none() {
        overload.notes.push(
            "the gateway ran in-process (no `shop-gateway` binary beside the bench; \
             `cargo xtask bench` builds it), so its memory is not reported"
                .to_owned(),
        );
    }

    let upstream = Upstream::memory(MemoryUsers::with_get_delay(config.upstream_delay)).await?;
    let measured = async {
        let user = UserServiceClient::new(crate::connect(upstream.addr).await?)
            .create_user(CreateUserRequest {
                name: "Overload User".to_owned(),
                email: "overload@example.com".to_owned(),
            })
            .await
            .context("seeding the user")?
            .into_inner()
            .user
            .context("CreateUser answered without a user")?;
        let gateway = match &binary {
            Some(binary) => Gateway::spawn(binary, upstream.addr, config.max_in_flight).await?,
            None => Gateway::in_process(upstream.addr, config.max_in_flight).await?,
        };
        overload.gateway = gateway.describe();
        let path = format!("/api/users/{}", user.id);
        let drove = drive_all(&gateway, &path, config, h2load, &mut overload).await;
        let stopped = gateway.stop().await;
        drove?;
        stopped
    }
    .await;
    let stopped = upstream.stop().await;
    measured?;
    stopped?;
    if h2load.is_none() {
        overload.notes.push(
            "h2load left out: `h2load` is not installed (Debian/Ubuntu: `apt-get install \
             nghttp2-client`)"
                .to_owned(),
        );
    }
    Ok(overload)
}

/// Runs each driver in turn against `gateway`, recording its row.
async fn drive_all(
    gateway: &Gateway,
    path: &str,
    config: &OverloadConfig,
    h2load: Option<&Tool>,
    overload: &mut Overload,
) -> anyhow::Result<()> {
    let addr = gateway.addr();
    overload.idle_rss_kib = gateway.status_kib("VmRSS");
    for driver in Driver::ALL {
        let before = counted_shed(addr).await;
        let (admitted, shed, failed) = match (driver, h2load) {
            (Driver::H2load, None) => continue,
            (Driver::H2load, Some(tool)) => {
                external::h2load_overload(tool, addr, path, config.connections, config.duration)
                    .await?
            }
            (Driver::HonoursRetryAfter | Driver::ResendsAtOnce, _) => {
                let patient = driver == Driver::HonoursRetryAfter;
                drive(addr, path, config.connections, config.duration, patient).await?
            }
        };
        let after = counted_shed(addr).await;
        overload.rows.push(OverloadRow {
            driver,
            admitted,
            shed,
            failed,
            counted_shed: after
                .zip(before)
                .map(|(after, before)| after - before.min(after)),
            peak_rss_kib: gateway.status_kib("VmHWM"),
        });
    }
    Ok(())
}

/// Opens one HTTP/1.1 connection to `addr`.
async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to the gateway at {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    // Ends when the connection closes; its error is the next request's.
    tokio::spawn(connection);
    Ok(sender)
}

/// What one client task saw.
#[derive(Debug, Default)]
struct Tally {
    admitted: Vec<Duration>,
    shed: Vec<Duration>,
    failed: usize,
}

/// `connections` clients, one connection each (all opened before the clock starts), sending
/// `GET path` one after another until `duration` has passed; a `patient` client waits the
/// `Retry-After` of a refusal before its next request. Returns the admitted and shed samples
/// (the run's wall time as their `elapsed`) and the failures.
async fn drive(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
    patient: bool,
) -> anyhow::Result<(Sample, Sample, usize)> {
    // One after another: 1,024 connects at once would overflow the listen backlog and some
    // would wait a second for a SYN retry.
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(addr).await?);
    }
    let path: Arc<str> = Arc::from(path);
    let started = Instant::now();
    let deadline = started + duration;
    let mut clients = JoinSet::new();
    for mut sender in senders {
        let path = Arc::clone(&path);
        clients.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                if sender.ready().await.is_err() {
                    tally.failed += 1;
                    sender = connect(addr).await?;
                    continue;
                }
                let request = http::Request::get(&*path)
                    .header(header::HOST, addr.to_string())
                    .body(Empty::<Bytes>::new())?;
                let sent = Instant::now();
                let answered = tokio::time::timeout(REQUEST_TIMEOUT, async {
                    let response = sender.send_request(request).await?;
                    let status = response.status();
                    // Seconds (the gateway never sends an HTTP date).
                    let retry_after = response
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok());
                    // Read to the end, so the connection can carry the next request.
                    response.into_body().collect().await?;
                    Ok::<_, hyper::Error>((status, retry_after))
                })
                .await;
                let latency = sent.elapsed();
                match answered {
                    Ok(Ok((status, _))) if status.is_success() => tally.admitted.push(latency),
                    Ok(Ok((StatusCode::SERVICE_UNAVAILABLE, Some(seconds)))) => {
                        tally.shed.push(latency);
                        if patient {
                            let wake =
                                (Instant::now() + Duration::from_secs(seconds)).min(deadline);
                            tokio::time::sleep_until(wake.into()).await;
                        }
                    }
                    Ok(Ok(_)) => tally.failed += 1,
                    Ok(Err(_)) | Err(_) => {
                        tally.failed += 1;
                        sender = connect(addr).await?;
                    }
                }
            }
            Ok::<_, anyhow::Error>(tally)
        });
    }
    let mut admitted = Sample::default();
    let mut shed = Sample::default();
    let mut failed = 0;
    while let Some(tally) = clients.join_next().await {
        let tally = tally.context("an overload client panicked")??;
        admitted.latencies.extend(tally.admitted);
        shed.latencies.extend(tally.shed);
        failed += tally.failed;
    }
    let elapsed = started.elapsed();
    for sample in [&mut admitted, &mut shed] {
        sample.elapsed = elapsed;
        sample.rounds = vec![sample.throughput()];
    }
    Ok((admitted, shed, failed))
}

/// A configured duration as people write it: `100 ms`, `5 s`, `1.5 s`.
fn span(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", duration.as_secs_f64())
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "-".to_owned(),
        |kib| format!("{:.1} MiB", kib as f64 / 1024.0),
    )
}

impl Overload {
    /// The scenario as Markdown: what ran, then one row per driver.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let config = &self.config;
        let mut out = String::new();
        if !self.rows.is_empty() {
            let _ = writeln!(
                out,
                "{} keep-alive connections, one request in flight on each, against {} admitting \
                 {} requests in flight, in front of an in-memory users service holding every \
                 `GetUser` {}; {} per driver, in the order of the rows. Gateway resident set \
                 before the load: {}.\n",
                config.connections,
                self.gateway,
                config.max_in_flight,
                span(config.upstream_delay),
                span(config.duration),
                mib(self.idle_rss_kib),
            );
            out.push_str(
                "| driver | admitted req/s | admitted p50 | admitted p99 | shed (503) | shed share \
                 | 503 p50 | 503 p99 | failed | gateway counted shed | gateway peak RSS so far |\n\
                 |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            );
        }
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} | {} | {} | {:.0}% | {} | {} | {} | {} | {} |",
                row.driver.label(),
                row.admitted_per_second(),
                millis(row.admitted.quantile(0.50)),
                millis(row.admitted.quantile(0.99)),
                row.shed.latencies.len(),
                row.shed_share() * 100.0,
                millis(row.shed.quantile(0.50)),
                millis(row.shed.quantile(0.99)),
                row.failed,
                row.counted_shed
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                mib(row.peak_rss_kib),
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "\nNote: {note}.");
        }
        out
    }

    /// Fails unless the scenario did what it is for: requests were admitted and others shed,
    /// none failed. A run on a machine too slow to fill the limit would show nothing.
    pub fn check(&self) -> anyhow::Result<()> {
        for row in &self.rows {
            let driver = row.driver.label();
            ensure!(
                !row.admitted.latencies.is_empty(),
                "overload ({driver}): no request was admitted"
            );
            ensure!(
                row.failed == 0,
                "overload ({driver}): {} requests failed",
                row.failed
            );
            if row.shed.latencies.is_empty() {
                bail!(
                    "overload ({driver}): nothing was shed, so the limit of {} was never reached",
                    self.config.max_in_flight
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_limits() {
        if !Path::new("/proc/self/limits").exists() {
            return;
        }
        // "unlimited" reads as no limit.
        if let Some(limit) = open_files_limit() {
            assert!(limit > 0);
        }
    }

    #[test]
    fn the_table_says_what_ran() {
        let admitted = Sample {
            elapsed: Duration::from_secs(1),
            latencies: vec![Duration::from_millis(100); 50],
            rounds: Vec::new(),
        };
        let shed = Sample {
            elapsed: Duration::from_secs(1),
            latencies: vec![Duration::from_micros(300); 150],
            rounds: Vec::new(),
        };
        let overload = Overload {
            config: OverloadConfig::default(),
            gateway: "the `shop-gateway` binary (pid 1)".to_owned(),
            idle_rss_kib: Some(10 * 1024),
            rows: vec![OverloadRow {
                driver: Driver::ResendsAtOnce,
                admitted,
                shed,
                failed: 0,
                counted_shed: Some(150),
                peak_rss_kib: Some(12 * 1024),
            }],
            notes: Vec::new(),
        };
        let table = overload.table();
        assert!(
            table.contains(
                "| in-process, clients resend at once | 50 | 100.00 ms | 100.00 ms | 150 | 75% | 0.30 ms | \
                 0.30 ms | 0 | 150 | 12.0 MiB |"
            ),
            "{table}"
        );
        assert!(table.contains("before the load: 10.0 MiB"), "{table}");
        assert!(
            table.contains("holding every `GetUser` 100 ms; 5 s per driver"),
            "{table}"
        );
        overload.check().expect("admitted, shed, none failed");
    }
}
