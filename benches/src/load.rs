//! The load generator: a fixed number of requests at a fixed number in flight, from clients in
//! this process (hyper-util with HTTP/1.1 keep-alive for HTTP, a cloned tonic client for gRPC).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use proto::users::v1::user_service_client::UserServiceClient;
use proto::users::v1::{CreateUserRequest, GetUserRequest};
use tonic::transport::Channel;

/// Longest a single request may take before the run fails (keeps a broken run bounded).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

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
}

impl Operation {
    /// The HTTP binding, as shown in the report.
    pub fn label(self) -> &'static str {
        match self {
            Operation::GetUser => "GET /api/users/{id}",
            Operation::CreateUser => "POST /api/users",
        }
    }
}

/// Where the requests go.
#[derive(Debug, Clone)]
pub enum Target {
    /// The upstream itself, through the generated tonic client.
    Grpc(UserServiceClient<Channel>),
    /// An HTTP server (the gateway or the hand-written handler) at this address.
    Http(HttpClient, SocketAddr),
}

/// Makes every created email unique within the process (and, with the pid, per run).
static EMAILS: AtomicU64 = AtomicU64::new(0);

fn fresh_email() -> String {
    let n = EMAILS.fetch_add(1, Ordering::Relaxed);
    format!("bench-{}-{n}@example.com", std::process::id())
}

/// Sends one request of `operation`; `ids` are existing users (GetUser picks by `index`).
/// Returns the response body for HTTP targets (empty for gRPC) after checking success.
pub async fn one(
    target: &mut Target,
    operation: Operation,
    ids: &[i64],
    index: usize,
) -> anyhow::Result<Bytes> {
    let id = ids[index % ids.len()];
    match target {
        Target::Grpc(client) => {
            match operation {
                Operation::GetUser => {
                    client.get_user(GetUserRequest { id }).await?;
                }
                Operation::CreateUser => {
                    client
                        .create_user(CreateUserRequest {
                            name: "Bench User".to_owned(),
                            email: fresh_email(),
                        })
                        .await?;
                }
            }
            Ok(Bytes::new())
        }
        Target::Http(client, addr) => {
            let request = match operation {
                Operation::GetUser => http::Request::get(format!("http://{addr}/api/users/{id}"))
                    .body(Full::new(Bytes::new()))?,
                Operation::CreateUser => {
                    let body = format!(r#"{{"name":"Bench User","email":"{}"}}"#, fresh_email());
                    http::Request::post(format!("http://{addr}/api/users"))
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Full::new(Bytes::from(body)))?
                }
            };
            let response = client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            if !status.is_success() {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
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
    ids: Arc<Vec<i64>>,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let mut target = target.clone();
            let next = Arc::clone(&next);
            let ids = Arc::clone(&ids);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(requests / concurrency.max(1) + 1);
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= requests {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let sent = Instant::now();
                    tokio::time::timeout(REQUEST_TIMEOUT, one(&mut target, operation, &ids, index))
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
