//! `cargo xtask bench`: how fast the gateway is, as ratios against baselines measured in the
//! same run on the same machine, and how it behaves past its limit.
//!
//! # What is measured
//!
//! Everything but the external tools runs in one process on loopback (127.0.0.1, free ports):
//!
//! - the upstream: [`UpstreamKind::Memory`] (a `users.v1.UserService` answering from a map, so
//!   the numbers are about the HTTP layer) and/or [`UpstreamKind::Postgres`] (the real users
//!   service on a fresh PostgreSQL database, what a deployment sees, with the purchase's
//!   fan-out beside it: the real products, payments and purchases services, each on a fresh
//!   database of its own, [`purchases`]);
//! - the bindings ([`Operation`]): `GET /api/users/{id}` and `POST /api/users` (one statement
//!   each), and on PostgreSQL `POST /api/purchases` (purchases calls users, products and
//!   payments and writes the purchase, the charge, the outbox and the idempotency key: the
//!   shop's heaviest write);
//! - the ways of calling them, the **variants** ([`Variant`]):
//!   - `pgbench`: the users service's own SQL (its SELECT, its INSERT ... RETURNING) straight
//!     against its database, the limit every other variant lives under;
//!   - `direct gRPC`: the generated tonic client on a shared channel (the floor: no HTTP, no
//!     JSON);
//!   - `hand-written axum`: an axum handler per binding calling the same tonic client and
//!     writing the JSON with serde ([`baseline`]), what one would write without a gateway;
//!   - `gateway`: [`shop_gateway::app`] over the generated route table, i.e. the product;
//!   - the two HTTP servers again, driven by h2load from another process.
//!
//! For each upstream and binding, every variant first gets a warm-up, then a fixed number of
//! requests at a fixed number in flight, split in rounds that alternate the variants (so a noisy
//! neighbour hits all of them alike). HTTP load comes from a hyper-util client with keep-alive;
//! gRPC load from cloned tonic clients.
//!
//! Then the **overload** scenario ([`overload`]): 1,024 keep-alive connections against the
//! `shop-gateway` binary limited to 512 requests in flight, in front of an upstream slow enough
//! that the limit fills: what gets through, how fast the rest is refused, and the gateway's
//! memory.
//!
//! # Reading the report
//!
//! Absolute req/s and latencies depend on the machine and on whatever else runs on it; only the
//! **ratios** are meant to be compared across runs. `vs axum` is the variant's throughput
//! divided by the hand-written handler's: 1.00 means "as fast as a hand-written axum handler"
//! (the project's goal), 0.50 means half as many requests per second. `vs gRPC` is the same
//! against calling the upstream directly; HTTP/1.1 parsing and JSON make it below 1 for both
//! HTTP variants, so look at how close the gateway is to the hand-written handler there too.
//! `vs DB` is against pgbench running the service's own statement. With the PostgreSQL
//! upstream the database dominates and every ratio moves towards 1. [`chart`] draws the same
//! numbers.

pub mod baseline;
pub mod chart;
pub mod document;
pub mod external;
pub mod load;
pub mod overload;
pub mod purchases;
pub mod report;
pub mod stack;
pub mod upstream;

use std::net::SocketAddr;

use anyhow::Context;
use tonic::transport::{Channel, Endpoint};

pub use load::{Operation, Sample, Seeds, Target};
pub use overload::{Overload, OverloadConfig};
pub use report::{Report, Row};
pub use stack::Stack;
pub use upstream::{Upstream, UpstreamKind};

/// How much load to generate.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Measured requests per variant, binding and concurrency (in-memory upstream).
    pub requests: usize,
    /// Measured requests per variant, binding and concurrency with the PostgreSQL upstream.
    pub postgres_requests: usize,
    /// Measured requests of `POST /api/purchases` per variant and concurrency: fewer, since
    /// each is several services' and several transactions' work.
    pub purchase_requests: usize,
    /// Unmeasured requests per variant, binding and concurrency first (at most a quarter of
    /// the measured ones, so that the slow bindings are not mostly warm-up).
    pub warmup: usize,
    /// The numbers of requests in flight at once to measure at, each in turn: 1 shows the
    /// latency of one request alone, more shows throughput under load.
    pub concurrencies: Vec<usize>,
    /// Rounds the measured requests are split in, alternating the variants.
    pub rounds: usize,
    /// Which upstreams to measure with, in order.
    pub upstreams: Vec<UpstreamKind>,
    /// Which variants to measure (all by default; one alone is handy under a profiler; none
    /// for the overload scenario alone). Variants whose tool is not installed are left out
    /// with a note in the report.
    pub variants: Vec<Variant>,
    /// The overload scenario, `None` to leave it out.
    pub overload: Option<OverloadConfig>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            requests: 20_000,
            postgres_requests: 5_000,
            purchase_requests: 2_000,
            warmup: 2_000,
            concurrencies: vec![1, 32],
            rounds: 4,
            upstreams: vec![UpstreamKind::Memory, UpstreamKind::Postgres],
            variants: Variant::ALL.to_vec(),
            overload: Some(OverloadConfig::default()),
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
            purchase_requests: 20,
            warmup: 20,
            rounds: 2,
            overload: Some(OverloadConfig::smoke()),
            ..Self::default()
        }
    }

    /// Measured requests of `operation` on `upstream`, per variant and concurrency.
    pub fn requests_of(&self, upstream: UpstreamKind, operation: Operation) -> usize {
        match (upstream, operation) {
            (_, Operation::CreatePurchase) => self.purchase_requests,
            (UpstreamKind::Memory, _) => self.requests,
            (UpstreamKind::Postgres, _) => self.postgres_requests,
        }
    }
}

/// One way of serving (or, for pgbench, of answering) the same binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// pgbench running the service's own statement on its database: the database's limit
    /// (PostgreSQL upstream, the users bindings only).
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
    /// with PostgreSQL and a script for the users service's two statements only (a purchase
    /// is several services' transactions, not one statement); h2load only sends the read (a
    /// creation needs a fresh email or idempotency key each time, which its fixed requests do
    /// not give).
    pub fn applies(self, upstream: UpstreamKind, operation: Operation) -> bool {
        if !operation.runs_on(upstream) {
            return false;
        }
        match self {
            Variant::Pgbench => {
                upstream == UpstreamKind::Postgres && operation != Operation::CreatePurchase
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

/// Progress lines go to stderr, with the time since the first one (which phase takes how
/// long); the report is returned.
fn progress(message: &str) {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let elapsed = START.get_or_init(std::time::Instant::now).elapsed();
    eprintln!("bench [{:>6.1}s]: {message}", elapsed.as_secs_f64());
}

/// Measures every variant on every binding for every configured upstream and concurrency,
/// then the overload scenario.
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
    if !variants.is_empty() {
        for &kind in &config.upstreams {
            progress(&format!("starting the {} upstream", kind.name()));
            let stack = Stack::start(kind).await?;
            let measured = measure(&stack, kind, &variants, &tools, config).await;
            progress(&format!("stopping the {} upstream", kind.name()));
            let stopped = stack.stop().await;
            report.rows.extend(measured?);
            stopped?;
        }
    }
    if let Some(overload) = &config.overload {
        progress(&format!(
            "overload: {} connections against a limit of {} in flight",
            overload.connections, overload.max_in_flight
        ));
        report.overload = Some(
            overload::run(overload, tools.h2load.as_ref())
                .await
                .context("the overload scenario")?,
        );
    }
    Ok(report)
}

async fn measure(
    stack: &Stack,
    kind: UpstreamKind,
    variants: &[Variant],
    tools: &Tools,
    config: &BenchConfig,
) -> anyhow::Result<Vec<Row>> {
    let rounds = config.rounds.max(1);
    let mut rows = Vec::new();
    for operation in Operation::ALL {
        let variants: Vec<Variant> = variants
            .iter()
            .copied()
            .filter(|v| v.applies(kind, operation))
            .collect();
        if variants.is_empty() {
            continue;
        }
        stack.check_equivalent(operation).await?;
        let requests = config.requests_of(kind, operation);
        let warmup = config.warmup.min(requests / 4).max(1);
        for &concurrency in &config.concurrencies {
            for &variant in &variants {
                stack
                    .batch(variant, operation, warmup, concurrency, tools)
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
                        .with_context(|| {
                            format!("measuring {} on {}", variant.label(), operation.label())
                        })?;
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
