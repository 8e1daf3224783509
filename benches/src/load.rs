//! The load generator: a fixed number of requests at a fixed number in flight, from clients in
//! this process (hyper-util with HTTP/1.1 keep-alive for HTTP, cloned tonic clients for gRPC),
//! and what each request of each measured binding sends and checks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use proto::purchases::v1::purchase_service_client::PurchaseServiceClient;
use proto::purchases::v1::{CreatePurchaseRequest, PurchaseStatus};
use proto::users::v1::user_service_client::UserServiceClient;
use proto::users::v1::{CreateUserRequest, GetUserRequest};
use tonic::transport::Channel;

use crate::upstream::UpstreamKind;

/// Longest a single request may take before the run fails (keeps a broken run bounded).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The header `POST /api/purchases` declares (`gateway.v1.header` in `purchases.proto`); the
/// gateway forwards it as the metadata [`purchases_service::IDEMPOTENCY_KEY_METADATA`].
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// What a completed purchase's JSON contains (`PurchaseStatus::Completed` in proto3 JSON): the
/// HTTP variants check it so that a purchase that failed cheaply (payment declined) cannot pass
/// for the full work.
const COMPLETED_JSON: &[u8] = b"\"PURCHASE_STATUS_COMPLETED\"";

/// The HTTP/1.1 client every HTTP variant is driven with (keep-alive, pooled connections).
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A keep-alive HTTP/1.1 client with `TCP_NODELAY`.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Which operation is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `GET /api/users/{id}` / `UserService.GetUser` on an existing user.
    GetUser,
    /// `POST /api/users` / `UserService.CreateUser` with a fresh email each time.
    CreateUser,
    /// `POST /api/purchases` / `PurchaseService.CreatePurchase` with a fresh `Idempotency-Key`
    /// each time: purchases calls users, products and payments, and writes the purchase, its
    /// charge, its outbox events and the key's answer.
    CreatePurchase,
}

impl Operation {
    /// Every operation, in report order.
    pub const ALL: [Operation; 3] = [
        Operation::GetUser,
        Operation::CreateUser,
        Operation::CreatePurchase,
    ];

    /// The HTTP binding, as shown in the report.
    pub fn label(self) -> &'static str {
        match self {
            Operation::GetUser => "GET /api/users/{id}",
            Operation::CreateUser => "POST /api/users",
            Operation::CreatePurchase => "POST /api/purchases",
        }
    }

    /// A short name for the chart's axis, where the full binding does not fit.
    pub fn short_label(self) -> &'static str {
        match self {
            Operation::GetUser => "GET user",
            Operation::CreateUser => "POST user",
            Operation::CreatePurchase => "POST purchase",
        }
    }

    /// Whether `upstream` answers it: a purchase needs the real shop (users, products,
    /// payments and purchases on PostgreSQL); the in-memory upstream is a users service only.
    pub fn runs_on(self, upstream: UpstreamKind) -> bool {
        match self {
            Operation::GetUser | Operation::CreateUser => true,
            Operation::CreatePurchase => upstream == UpstreamKind::Postgres,
        }
    }
}

/// The generated tonic clients of the services a stack runs, each on its own channel.
#[derive(Debug, Clone)]
pub struct GrpcClients {
    /// `users.v1.UserService`.
    pub users: UserServiceClient<Channel>,
    /// `purchases.v1.PurchaseService`, when the stack runs the shop's purchases.
    pub purchases: Option<PurchaseServiceClient<Channel>>,
}

/// Where the requests go.
#[derive(Debug, Clone)]
pub enum Target {
    /// The services themselves, through the generated tonic clients.
    Grpc(GrpcClients),
    /// An HTTP server (the gateway or the hand-written handler) at this address.
    Http(HttpClient, SocketAddr),
}

/// What the requests refer to: rows that exist before the measurements.
#[derive(Debug, Clone, Default)]
pub struct Seeds {
    /// Users' ids: GETs read them in turn, purchases are made by them in turn.
    pub users: Vec<i64>,
    /// The product every purchase buys (priced well under payments' decline limit; products
    /// have no stock, so it never runs out), when the stack runs the shop's purchases.
    pub product: Option<i64>,
}

impl Seeds {
    /// The user the `index`th request uses.
    fn user(&self, index: usize) -> anyhow::Result<i64> {
        ensure!(!self.users.is_empty(), "no users were seeded");
        Ok(self.users[index % self.users.len()])
    }

    /// The product purchases buy.
    fn product(&self) -> anyhow::Result<i64> {
        self.product
            .context("no product was seeded: purchases need the PostgreSQL upstream")
    }
}

/// Makes every created email and idempotency key unique within the process (and, with the
/// pid, per run).
static FRESH: AtomicU64 = AtomicU64::new(0);

fn fresh_email() -> String {
    let n = FRESH.fetch_add(1, Ordering::Relaxed);
    format!("bench-{}-{n}@example.com", std::process::id())
}

/// A key no earlier request used, so that every purchase runs (a repeated key would answer
/// the stored answer without the work). Printable ASCII, as the header's pattern requires.
fn fresh_idempotency_key() -> String {
    let n = FRESH.fetch_add(1, Ordering::Relaxed);
    format!("bench-{}-{n}", std::process::id())
}

/// Sends one request of `operation` (the `index`th of its batch, which picks the user).
/// Returns the response body for HTTP targets (empty for gRPC) after checking success.
pub async fn one(
    target: &mut Target,
    operation: Operation,
    seeds: &Seeds,
    index: usize,
) -> anyhow::Result<Bytes> {
    let user_id = seeds.user(index)?;
    match target {
        Target::Grpc(clients) => {
            match operation {
                Operation::GetUser => {
                    clients
                        .users
                        .get_user(GetUserRequest { id: user_id })
                        .await?;
                }
                Operation::CreateUser => {
                    clients
                        .users
                        .create_user(CreateUserRequest {
                            name: "Bench User".to_owned(),
                            email: fresh_email(),
                        })
                        .await?;
                }
                Operation::CreatePurchase => {
                    let client = clients
                        .purchases
                        .as_mut()
                        .context("this stack runs no purchases service")?;
                    let mut request = tonic::Request::new(CreatePurchaseRequest {
                        user_id,
                        product_id: seeds.product()?,
                    });
                    request.metadata_mut().insert(
                        purchases_service::IDEMPOTENCY_KEY_METADATA,
                        fresh_idempotency_key()
                            .parse()
                            .context("an idempotency key is ASCII")?,
                    );
                    let purchase = client
                        .create_purchase(request)
                        .await?
                        .into_inner()
                        .purchase
                        .context("CreatePurchase answered without a purchase")?;
                    ensure!(
                        purchase.status() == PurchaseStatus::Completed,
                        "purchase {} is {:?}: {}",
                        purchase.id,
                        purchase.status(),
                        purchase.failure_reason
                    );
                }
            }
            Ok(Bytes::new())
        }
        Target::Http(client, addr) => {
            let request = match operation {
                Operation::GetUser => {
                    http::Request::get(format!("http://{addr}/api/users/{user_id}"))
                        .body(Full::new(Bytes::new()))?
                }
                Operation::CreateUser => {
                    let body = format!(r#"{{"name":"Bench User","email":"{}"}}"#, fresh_email());
                    http::Request::post(format!("http://{addr}/api/users"))
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Full::new(Bytes::from(body)))?
                }
                Operation::CreatePurchase => {
                    let body = format!(
                        r#"{{"user_id":"{user_id}","product_id":"{}"}}"#,
                        seeds.product()?
                    );
                    http::Request::post(format!("http://{addr}/api/purchases"))
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .header(IDEMPOTENCY_KEY_HEADER, fresh_idempotency_key())
                        .body(Full::new(Bytes::from(body)))?
                }
            };
            let response = client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            if !status.is_success() {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
            }
            if operation == Operation::CreatePurchase {
                ensure!(
                    body.windows(COMPLETED_JSON.len())
                        .any(|window| window == COMPLETED_JSON),
                    "the purchase did not complete: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            Ok(body)
        }
    }
}

/// One measured batch: its wall time and every request's latency.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    /// Wall time from the first request sent to the last answer received.
    pub elapsed: Duration,
    /// Latency of each request.
    pub latencies: Vec<Duration>,
    /// The throughput of each batch merged in (requests per second), for the median.
    pub rounds: Vec<f64>,
}

impl Sample {
    /// Adds another batch of the same variant.
    pub fn merge(&mut self, other: Sample) {
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.rounds.extend(other.rounds);
    }

    /// The median of the batches' throughputs: what the report shows, since one round slowed
    /// by a neighbour moves it less than the overall mean. The overall throughput when no
    /// batch recorded its own.
    pub fn median_throughput(&self) -> f64 {
        let mut rounds = self.rounds.clone();
        if rounds.is_empty() {
            return self.throughput();
        }
        rounds.sort_unstable_by(f64::total_cmp);
        let middle = rounds.len() / 2;
        if rounds.len() % 2 == 1 {
            rounds[middle]
        } else {
            (rounds[middle - 1] + rounds[middle]) / 2.0
        }
    }

    /// Requests per second over the measured batches.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The `q` quantile (0..=1) of the latencies; zero when nothing was measured.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }
}

/// Sends `requests` requests of `operation` to `target`, `concurrency` at a time, and measures
/// them. Any failed or timed-out request fails the batch.
pub async fn run_batch(
    target: &Target,
    operation: Operation,
    seeds: Arc<Seeds>,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let mut target = target.clone();
            let next = Arc::clone(&next);
            let seeds = Arc::clone(&seeds);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(requests / concurrency.max(1) + 1);
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= requests {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let sent = Instant::now();
                    tokio::time::timeout(
                        REQUEST_TIMEOUT,
                        one(&mut target, operation, &seeds, index),
                    )
                    .await
                    .context("request timed out")?
                    .with_context(|| format!("{} request {index}", operation.label()))?;
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut sample = Sample::default();
    for worker in workers {
        sample
            .latencies
            .extend(worker.await.context("load worker panicked")??);
    }
    sample.elapsed = started.elapsed();
    sample.rounds = vec![sample.throughput()];
    Ok(sample)
}
