//! `cargo xtask bench`: how fast the gateway is, as ratios against baselines measured in the
//! same run on the same machine.
//!
//! # What is measured
//!
//! Everything runs in one process on loopback (127.0.0.1, free ports):
//!
//! - an upstream `users.v1.UserService`: [`UpstreamKind::Memory`] (answers from a map, so the
//!   numbers are about the HTTP layer) and/or [`UpstreamKind::Postgres`] (the real users
//!   service on a fresh PostgreSQL database, what a deployment sees);
//! - three ways of calling it, the **variants**:
//!   - `direct gRPC`: the generated tonic client on a shared channel (the floor: no HTTP, no
//!     JSON);
//!   - `hand-written axum`: an axum handler per binding calling the same tonic client and
//!     writing the JSON with serde ([`baseline`]), what one would write without a gateway;
//!   - `gateway`: [`gateway::app`] over the generated route table
//!     (`gateway::generated::ROUTES`), i.e. the product.
//!
//! For each upstream and each binding (`GET /api/users/{id}`, `POST /api/users`), every variant
//! first gets a warm-up, then a fixed number of requests at a fixed number in flight, split in
//! rounds that alternate the variants (so a noisy neighbour hits all of them alike). HTTP load
//! comes from a hyper-util client with keep-alive; gRPC load from cloned tonic clients.
//!
//! # Reading the report
//!
//! Absolute req/s and latencies depend on the machine and on whatever else runs on it; only the
//! **ratios** are meant to be compared across runs. `vs axum` is the variant's throughput
//! divided by the hand-written handler's: 1.00 means "as fast as a hand-written axum handler"
//! (the project's goal), 0.50 means half as many requests per second. `vs gRPC` is the same
//! against calling the upstream directly; HTTP/1.1 parsing and JSON make it below 1 for both
//! HTTP variants, so look at how close the gateway is to the hand-written handler there too.
//! With the PostgreSQL upstream the database dominates and every ratio moves towards 1.

pub mod baseline;
pub mod document;
pub mod external;
pub mod load;
pub mod upstream;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use proto::users::v1::CreateUserRequest;
use proto::users::v1::user_service_client::UserServiceClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

pub use load::{Operation, Sample, Target};
pub use upstream::{Upstream, UpstreamKind};

/// How many users exist before the GETs (they cycle through them).
const SEEDED_USERS: usize = 100;

/// How much load to generate.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Measured requests per variant, binding and concurrency (in-memory upstream).
    pub requests: usize,
    /// Measured requests per variant, binding and concurrency with the PostgreSQL upstream.
    pub postgres_requests: usize,
    /// Unmeasured requests per variant, binding and concurrency first.
    pub warmup: usize,
    /// The numbers of requests in flight at once to measure at, each in turn: 1 shows the
    /// latency of one request alone, more shows throughput under load.
    pub concurrencies: Vec<usize>,
    /// Rounds the measured requests are split in, alternating the variants.
    pub rounds: usize,
    /// Which upstreams to measure with, in order.
    pub upstreams: Vec<UpstreamKind>,
    /// Which variants to measure (all by default; one alone is handy under a profiler).
    /// Variants whose tool is not installed are left out with a note in the report.
    pub variants: Vec<Variant>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            requests: 20_000,
            postgres_requests: 5_000,
            warmup: 2_000,
            concurrencies: vec![1, 32],
            rounds: 4,
            upstreams: vec![UpstreamKind::Memory, UpstreamKind::Postgres],
            variants: Variant::ALL.to_vec(),
        }
    }
}

impl BenchConfig {
    /// A run of everything so short that it only shows that every path works (`--smoke`, for
    /// CI): its numbers mean nothing.
    pub fn smoke() -> Self {
        Self {
            requests: 200,
            postgres_requests: 100,
            warmup: 20,
            rounds: 2,
            ..Self::default()
        }
    }
}

/// One way of serving (or, for pgbench, of answering) the same binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// pgbench running the service's own query on its database: the database's limit
    /// (PostgreSQL upstream, `GET` only).
    Pgbench,
    /// The generated tonic client, straight to the upstream.
    DirectGrpc,
    /// The hand-written axum handler ([`baseline`]).
    HandWritten,
    /// The gateway over the generated routes.
    Gateway,
    /// The hand-written handler driven by h2load (`GET` only).
    H2loadHandWritten,
    /// The gateway driven by h2load (`GET` only).
    H2loadGateway,
}

impl Variant {
    /// Every variant, in report order.
    pub const ALL: [Variant; 6] = [
        Variant::Pgbench,
        Variant::DirectGrpc,
        Variant::HandWritten,
        Variant::Gateway,
        Variant::H2loadHandWritten,
        Variant::H2loadGateway,
    ];

    /// The name used on the command line (`--only`).
    pub fn name(self) -> &'static str {
        match self {
            Variant::Pgbench => "pgbench",
            Variant::DirectGrpc => "grpc",
            Variant::HandWritten => "axum",
            Variant::Gateway => "gateway",
            Variant::H2loadHandWritten => "h2load-axum",
            Variant::H2loadGateway => "h2load-gateway",
        }
    }

    /// The name shown in the report.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Pgbench => "pgbench (service's SQL)",
            Variant::DirectGrpc => "direct gRPC",
            Variant::HandWritten => "hand-written axum",
            Variant::Gateway => "gateway",
            Variant::H2loadHandWritten => "hand-written axum (h2load)",
            Variant::H2loadGateway => "gateway (h2load)",
        }
    }

    /// Whether the variant measures `operation` on `upstream`: pgbench has a database only
    /// with PostgreSQL, and it and h2load only send the read (a create needs a fresh email
    /// each time, which neither tool's fixed requests give).
    pub fn applies(self, upstream: UpstreamKind, operation: Operation) -> bool {
        match self {
            Variant::Pgbench => {
                upstream == UpstreamKind::Postgres && operation == Operation::GetUser
            }
            Variant::H2loadHandWritten | Variant::H2loadGateway => operation == Operation::GetUser,
            Variant::DirectGrpc | Variant::HandWritten | Variant::Gateway => true,
        }
    }

    /// The external tool the variant runs, if any.
    fn tool(self) -> Option<&'static str> {
        match self {
            Variant::Pgbench => Some("pgbench"),
            Variant::H2loadHandWritten | Variant::H2loadGateway => Some("h2load"),
            Variant::DirectGrpc | Variant::HandWritten | Variant::Gateway => None,
        }
    }

    /// The baseline of the `vs axum` ratio: the hand-written handler driven the same way.
    fn hand_written_peer(self) -> Variant {
        match self {
            Variant::H2loadHandWritten | Variant::H2loadGateway => Variant::H2loadHandWritten,
            _ => Variant::HandWritten,
        }
    }
}

/// How to install each external tool, for the note when one is missing.
fn install_hint(tool: &str) -> &'static str {
    match tool {
        "pgbench" => "Debian/Ubuntu: `apt-get install postgresql-client` (or `postgresql-contrib`)",
        _ => "Debian/Ubuntu: `apt-get install nghttp2-client`",
    }
}

/// The external tools found on `PATH`.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// `pgbench`, if installed.
    pub pgbench: Option<external::Tool>,
    /// `h2load`, if installed.
    pub h2load: Option<external::Tool>,
}

impl Tools {
    /// Looks for both tools.
    pub fn find() -> Self {
        Self {
            pgbench: external::find("pgbench"),
            h2load: external::find("h2load"),
        }
    }

    fn get(&self, name: &str) -> Option<&external::Tool> {
        match name {
            "pgbench" => self.pgbench.as_ref(),
            _ => self.h2load.as_ref(),
        }
    }
}

/// A lazily-free, eagerly-connected channel to `addr` (one HTTP/2 connection).
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await
        .with_context(|| format!("connecting to the upstream at {addr}"))
}

/// An axum server on 127.0.0.1:0, served the way the gateway binary serves.
struct HttpServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    async fn start(router: axum::Router) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self { addr, stop, task })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        // Idle keep-alive connections of the load client hold graceful shutdown open until the
        // client is dropped; the caller drops it first.
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .context("HTTP server did not stop within 10 s")?
            .context("HTTP server task panicked")?
            .context("HTTP server failed")
    }
}

/// The upstream, the hand-written handler and the gateway in front of it, and a client for each
/// variant. Each variant has its own channel (one HTTP/2 connection) to the upstream.
pub struct Stack {
    upstream: Upstream,
    hand_written: HttpServer,
    gateway: HttpServer,
    direct: UserServiceClient<Channel>,
    http: load::HttpClient,
    /// Users that exist (ids), for the GETs.
    pub ids: Arc<Vec<i64>>,
}

impl Stack {
    /// Starts everything on `kind` and seeds users.
    pub async fn start(kind: UpstreamKind) -> anyhow::Result<Self> {
        let upstream = Upstream::start(kind).await?;
        let direct = UserServiceClient::new(connect(upstream.addr).await?);
        let hand_written =
            HttpServer::start(baseline::router(connect(upstream.addr).await?)).await?;

        let mut upstreams = gateway::Upstreams::new();
        upstreams.insert("users.v1.UserService", connect(upstream.addr).await?);
        let config = gateway::GatewayConfig {
            upstreams,
            ..Default::default()
        };
        let gateway = HttpServer::start(shop_gateway::app(config)?).await?;

        let mut ids = Vec::with_capacity(SEEDED_USERS);
        let mut seeder = direct.clone();
        for n in 0..SEEDED_USERS {
            let user = seeder
                .create_user(CreateUserRequest {
                    name: format!("Seed User {n}"),
                    email: format!("seed-{}-{n}@example.com", std::process::id()),
                })
                .await
                .context("seeding users")?
                .into_inner()
                .user
                .context("CreateUser answered without a user")?;
            ids.push(user.id);
        }
        Ok(Self {
            upstream,
            hand_written,
            gateway,
            direct,
            http: load::http_client(),
            ids: Arc::new(ids),
        })
    }

    /// The in-process client for `variant`; `None` for the variants an external tool drives.
    pub fn target(&self, variant: Variant) -> Option<Target> {
        match variant {
            Variant::DirectGrpc => Some(Target::Grpc(self.direct.clone())),
            Variant::HandWritten => Some(Target::Http(self.http.clone(), self.hand_written.addr)),
            Variant::Gateway => Some(Target::Http(self.http.clone(), self.gateway.addr)),
            Variant::Pgbench | Variant::H2loadHandWritten | Variant::H2loadGateway => None,
        }
    }

    /// Sends `requests` of `operation` through `variant`, `concurrency` at a time.
    pub async fn batch(
        &self,
        variant: Variant,
        operation: Operation,
        requests: usize,
        concurrency: usize,
        tools: &Tools,
    ) -> anyhow::Result<Sample> {
        if let Some(target) = self.target(variant) {
            return load::run_batch(
                &target,
                operation,
                Arc::clone(&self.ids),
                requests,
                concurrency,
            )
            .await;
        }
        let tool = variant
            .tool()
            .and_then(|name| tools.get(name))
            .with_context(|| format!("{} is not installed", variant.label()))?;
        match variant {
            Variant::Pgbench => {
                let url = self
                    .upstream
                    .database_url()
                    .context("pgbench needs the PostgreSQL upstream")?;
                external::pgbench(tool, url, &self.ids, requests, concurrency).await
            }
            Variant::H2loadHandWritten => {
                external::h2load(
                    tool,
                    self.hand_written.addr,
                    &self.ids,
                    requests,
                    concurrency,
                )
                .await
            }
            _ => external::h2load(tool, self.gateway.addr, &self.ids, requests, concurrency).await,
        }
    }

    /// Checks that the gateway and the hand-written handler answer `operation` with the same
    /// JSON (ids aside for creations), so that the comparison is of equal work.
    pub async fn check_equivalent(&self, operation: Operation) -> anyhow::Result<()> {
        let mut bodies = Vec::new();
        for variant in [Variant::HandWritten, Variant::Gateway] {
            let mut target = self.target(variant).context("an in-process variant")?;
            let body = load::one(&mut target, operation, &self.ids, 0).await?;
            let mut json: serde_json::Value = serde_json::from_slice(&body)
                .with_context(|| format!("{} answered non-JSON", variant.label()))?;
            if operation == Operation::CreateUser {
                // Fresh ids and emails each time: compare the shape and the name.
                let object = json
                    .as_object_mut()
                    .with_context(|| format!("{} answered a non-object", variant.label()))?;
                for key in ["id", "email"] {
                    let value = object
                        .get_mut(key)
                        .with_context(|| format!("{} answered without `{key}`", variant.label()))?;
                    ensure!(value.is_string(), "`{key}` is not a string: {value}");
                    *value = serde_json::Value::Null;
                }
            }
            bodies.push(json);
        }
        ensure!(
            bodies[0] == bodies[1],
            "hand-written and gateway answers differ for {}: {} vs {}",
            operation.label(),
            bodies[0],
            bodies[1]
        );
        Ok(())
    }

    /// Stops the servers (the load client first, so keep-alive connections close) and the
    /// upstream.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Self {
            upstream,
            hand_written,
            gateway,
            direct,
            http,
            ids: _,
        } = self;
        drop(http);
        drop(direct);
        hand_written.stop().await?;
        gateway.stop().await?;
        upstream.stop().await
    }
}

/// The measurements of one variant on one binding, upstream and concurrency.
#[derive(Debug, Clone)]
pub struct Row {
    /// The upstream.
    pub upstream: UpstreamKind,
    /// The binding.
    pub operation: Operation,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The variant.
    pub variant: Variant,
    /// Its measurements, all rounds merged.
    pub sample: Sample,
}

/// Everything measured in one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One row per upstream, binding, concurrency and variant, in that order.
    pub rows: Vec<Row>,
    /// What was left out and why (a tool not installed), for the report.
    pub notes: Vec<String>,
    /// The external tools used, with their versions.
    pub tools: Tools,
}

/// Progress lines go to stderr; the report is returned.
fn progress(message: &str) {
    eprintln!("bench: {message}");
}

/// Measures every variant on every binding for every configured upstream and concurrency.
pub async fn run(config: &BenchConfig) -> anyhow::Result<Report> {
    let tools = Tools::find();
    let mut report = Report {
        tools: tools.clone(),
        ..Report::default()
    };
    let mut variants = Vec::new();
    for &variant in &config.variants {
        match variant.tool() {
            Some(tool) if tools.get(tool).is_none() => {
                let note = format!(
                    "{} left out: `{tool}` is not installed ({})",
                    variant.label(),
                    install_hint(tool)
                );
                progress(&note);
                report.notes.push(note);
            }
            _ => variants.push(variant),
        }
    }
    for &kind in &config.upstreams {
        progress(&format!("starting the {} upstream", kind.name()));
        let stack = Stack::start(kind).await?;
        let requests = match kind {
            UpstreamKind::Memory => config.requests,
            UpstreamKind::Postgres => config.postgres_requests,
        };
        let measured = measure(&stack, kind, requests, &variants, &tools, config).await;
        let stopped = stack.stop().await;
        report.rows.extend(measured?);
        stopped?;
    }
    Ok(report)
}

async fn measure(
    stack: &Stack,
    kind: UpstreamKind,
    requests: usize,
    variants: &[Variant],
    tools: &Tools,
    config: &BenchConfig,
) -> anyhow::Result<Vec<Row>> {
    let rounds = config.rounds.max(1);
    let mut rows = Vec::new();
    for operation in [Operation::GetUser, Operation::CreateUser] {
        stack.check_equivalent(operation).await?;
        let variants: Vec<Variant> = variants
            .iter()
            .copied()
            .filter(|v| v.applies(kind, operation))
            .collect();
        for &concurrency in &config.concurrencies {
            for &variant in &variants {
                stack
                    .batch(variant, operation, config.warmup, concurrency, tools)
                    .await
                    .with_context(|| format!("warming up {}", variant.label()))?;
            }
            let mut samples: Vec<Sample> = vec![Sample::default(); variants.len()];
            for round in 0..rounds {
                progress(&format!(
                    "{} {} at {concurrency} in flight: round {}/{rounds}",
                    kind.name(),
                    operation.label(),
                    round + 1
                ));
                // Split evenly; the first rounds take the remainder.
                let batch = requests / rounds + usize::from(round < requests % rounds);
                // Rotate the order so no variant always runs first.
                for offset in 0..variants.len() {
                    let slot = (round + offset) % variants.len();
                    let variant = variants[slot];
                    let sample = stack
                        .batch(variant, operation, batch, concurrency, tools)
                        .await
                        .with_context(|| format!("measuring {}", variant.label()))?;
                    samples[slot].merge(sample);
                }
            }
            for (&variant, sample) in variants.iter().zip(samples) {
                rows.push(Row {
                    upstream: kind,
                    operation,
                    concurrency,
                    variant,
                    sample,
                });
            }
        }
    }
    Ok(rows)
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

impl Report {
    /// The median throughput of `variant` on the same upstream, binding and concurrency as
    /// `row`.
    fn throughput_of(&self, row: &Row, variant: Variant) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| {
                r.upstream == row.upstream
                    && r.operation == row.operation
                    && r.concurrency == row.concurrency
                    && r.variant == variant
            })
            .map(|r| r.sample.median_throughput())
    }

    /// `variant`'s median throughput over `baseline`'s, for one upstream, binding and
    /// concurrency.
    pub fn ratio(
        &self,
        upstream: UpstreamKind,
        operation: Operation,
        concurrency: usize,
        variant: Variant,
        baseline: Variant,
    ) -> Option<f64> {
        let row = self.rows.iter().find(|r| {
            r.upstream == upstream
                && r.operation == operation
                && r.concurrency == concurrency
                && r.variant == variant
        })?;
        Some(row.sample.median_throughput() / self.throughput_of(row, baseline)?)
    }

    /// The report as a Markdown table: median req/s over the rounds, p50, p99 (all rounds),
    /// and throughput ratios against the database (pgbench), direct gRPC and the hand-written
    /// handler (driven the same way: in-process or h2load).
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| upstream | binding | in flight | variant | requests | req/s | p50 | p99 | vs DB | vs gRPC | vs axum |\n\
             |---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for row in &self.rows {
            let ratio = |baseline: Variant| {
                if baseline == row.variant {
                    return "-".to_owned();
                }
                self.throughput_of(row, baseline)
                    .map_or("-".to_owned(), |base| {
                        format!("{:.2}", row.sample.median_throughput() / base)
                    })
            };
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
                row.upstream.name(),
                row.operation.label(),
                row.concurrency,
                row.variant.label(),
                row.sample.latencies.len(),
                row.sample.median_throughput(),
                millis(row.sample.quantile(0.50)),
                millis(row.sample.quantile(0.99)),
                ratio(Variant::Pgbench),
                ratio(Variant::DirectGrpc),
                ratio(row.variant.hand_written_peer()),
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "\nNote: {note}.");
        }
        out
    }
}
