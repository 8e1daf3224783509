//! A FAKE Consul agent for tests: an in-process HTTP server implementing exactly the endpoints
//! our discovery code calls, with Consul's documented JSON, `X-Consul-Index` and blocking-query
//! semantics. It is not Consul: one node, one global index, no catalog, no ACL system beyond an
//! optional required token.
//!
//! - `PUT /v1/agent/service/register` (body: `ID`, `Name`, `Address`, `Port`, `Tags`, `Meta`,
//!   `Check{GRPC, Interval, Timeout, DeregisterCriticalServiceAfter}`); a new instance starts
//!   `critical`, as in Consul, until its check passes.
//! - `PUT /v1/agent/service/deregister/<id>`, `GET /v1/agent/service/<id>` (404 when unknown).
//! - `GET /v1/health/service/<name>?passing&index=N&wait=D`: blocks while the index is `<= N`,
//!   up to `wait`; answers `[{"Node":{..},"Service":{..},"Checks":[..]}]` with `X-Consul-Index`.
//!
//! Health: by default the fake runs each registered gRPC check itself
//! (`grpc.health.v1.Health/Check` against `Check.GRPC`) every [`FakeConsulBuilder::check_interval`];
//! with [`FakeConsulBuilder::manual_health`] tests flip instances with [`FakeConsul::set_health`].
//!
//! It runs on its own runtime thread, so [`FakeConsul::stop`] really closes every socket (as a
//! crashed agent would), and [`FakeConsulBuilder::addr`] restarts one on the same port with no
//! state (as a restarted dev agent).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};
use tokio::sync::watch;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The `X-Consul-Token` header, if sent.
    pub token: Option<String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

/// A registered instance as the fake holds it.
#[derive(Debug, Clone)]
pub struct FakeInstance {
    /// The registration body exactly as received.
    pub registration: Value,
    /// `passing` or `critical`.
    pub status: String,
}

#[derive(Debug, Default)]
struct Agent {
    services: BTreeMap<String, FakeInstance>,
    requests: Vec<RecordedRequest>,
}

#[derive(Debug)]
struct Shared {
    agent: Mutex<Agent>,
    index: watch::Sender<u64>,
    required_token: Option<String>,
    manual_health: bool,
}

impl Shared {
    fn agent(&self) -> MutexGuard<'_, Agent> {
        self.agent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bump(&self) {
        self.index.send_modify(|i| *i += 1);
    }
}

/// Options for a [`FakeConsul`].
#[derive(Debug, Clone)]
pub struct FakeConsulBuilder {
    addr: SocketAddr,
    check_interval: Duration,
    manual_health: bool,
    required_token: Option<String>,
}

impl FakeConsulBuilder {
    /// Listen on `addr` (e.g. the address of a stopped fake, to restart it).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// How often the fake runs the registered gRPC checks (default 200 ms; Consul's is the
    /// registration's `Interval`).
    pub fn check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval;
        self
    }

    /// Run no checks: instances start `passing` and tests flip them with
    /// [`FakeConsul::set_health`].
    pub fn manual_health(mut self) -> Self {
        self.manual_health = true;
        self
    }

    /// Answer 403 ("ACL not found", as Consul does) to requests without this `X-Consul-Token`.
    pub fn require_token(mut self, token: impl Into<String>) -> Self {
        self.required_token = Some(token.into());
        self
    }

    /// Starts the fake on its own runtime thread.
    pub fn start(self) -> anyhow::Result<FakeConsul> {
        let listener = std::net::TcpListener::bind(self.addr)
            .with_context(|| format!("fake Consul: cannot listen on {}", self.addr))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (index, _) = watch::channel(1);
        let shared = Arc::new(Shared {
            agent: Mutex::default(),
            index,
            required_token: self.required_token,
            manual_health: self.manual_health,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("fake Consul runtime")?;
        let app = router(shared.clone());
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        if !self.manual_health {
            runtime.spawn(run_checks(shared.clone(), self.check_interval));
        }
        Ok(FakeConsul {
            addr,
            shared,
            runtime: Some(runtime),
        })
    }
}

/// A running fake Consul agent; dropping it stops it.
#[derive(Debug)]
pub struct FakeConsul {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeConsul {
    /// Options: port 0, gRPC checks every 200 ms, no token required.
    pub fn builder() -> FakeConsulBuilder {
        FakeConsulBuilder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            check_interval: Duration::from_millis(200),
            manual_health: false,
            required_token: None,
        }
    }

    /// A fake with the default options.
    pub fn start() -> anyhow::Result<Self> {
        Self::builder().start()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `CONSUL_HTTP_ADDR`: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.agent().requests.clone()
    }

    /// The registered instances, by ID.
    pub fn instances(&self) -> BTreeMap<String, FakeInstance> {
        self.shared.agent().services.clone()
    }

    /// IDs of the passing instances of `name`.
    pub fn passing(&self, name: &str) -> Vec<String> {
        self.shared
            .agent()
            .services
            .iter()
            .filter(|(_, i)| i.registration["Name"] == name && i.status == "passing")
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The current `X-Consul-Index`.
    pub fn index(&self) -> u64 {
        *self.shared.index.borrow()
    }

    /// Sets an instance's check status (`passing`, `critical`); false when the ID is unknown.
    pub fn set_health(&self, id: &str, status: &str) -> bool {
        let changed = {
            let mut agent = self.shared.agent();
            match agent.services.get_mut(id) {
                Some(instance) if instance.status != status => {
                    instance.status = status.to_owned();
                    true
                }
                Some(_) => false,
                None => return false,
            }
        };
        if changed {
            self.shared.bump();
        }
        true
    }

    /// Waits until `condition` holds for the fake's instances, polling every 20 ms.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&BTreeMap<String, FakeInstance>) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(&self.shared.agent().services) {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "fake Consul: {what} not true after {timeout:?}; instances: {:?}",
                    self.instances()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the agent: the listener and every open connection close at once, in-flight
    /// blocking queries included.
    pub fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Dropped on a plain thread, which may block: returns once every task (listener
            // and connections) is gone, so the port can be bound again at once.
            let _ = std::thread::spawn(move || drop(runtime)).join();
        }
    }
}

impl Drop for FakeConsul {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/agent/service/register", put(register))
        .route("/v1/agent/service/deregister/{id}", put(deregister))
        .route("/v1/agent/service/{id}", get(agent_service))
        .route("/v1/health/service/{name}", get(health_service))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "fake Consul: endpoint not implemented",
            )
        })
        .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

/// Records the request, then enforces the token.
async fn record(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let token = parts
        .headers
        .get("X-Consul-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared.agent().requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        token: token.clone(),
        body: serde_json::from_slice(&bytes).ok(),
    });
    if let Some(required) = &shared.required_token
        && token.as_deref() != Some(required.as_str())
    {
        return (StatusCode::FORBIDDEN, "ACL not found").into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, bytes.into()))
        .await
}

async fn register(State(shared): State<Arc<Shared>>, method: Method, body: Bytes) -> Response {
    debug_assert_eq!(method, Method::PUT);
    let registration: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Request decode failed: {err}"),
            )
                .into_response();
        }
    };
    let (Some(name), Some(_port)) = (registration["Name"].as_str(), registration["Port"].as_u64())
    else {
        return (StatusCode::BAD_REQUEST, "Missing service name or port").into_response();
    };
    let id = registration["ID"].as_str().unwrap_or(name).to_owned();
    let status = if shared.manual_health {
        "passing"
    } else {
        "critical"
    };
    shared.agent().services.insert(
        id,
        FakeInstance {
            registration,
            status: status.to_owned(),
        },
    );
    shared.bump();
    StatusCode::OK.into_response()
}

async fn deregister(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let removed = shared.agent().services.remove(&id).is_some();
    if removed {
        shared.bump();
        StatusCode::OK.into_response()
    } else {
        (StatusCode::NOT_FOUND, format!("Unknown service ID {id:?}")).into_response()
    }
}

async fn agent_service(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let agent = shared.agent();
    match agent.services.get(&id) {
        Some(instance) => Json(agent_service_json(&id, &instance.registration)).into_response(),
        None => (StatusCode::NOT_FOUND, format!("unknown service ID: {id}")).into_response(),
    }
}

fn agent_service_json(id: &str, registration: &Value) -> Value {
    json!({
        "ID": id,
        "Service": registration["Name"],
        "Tags": registration.get("Tags").cloned().unwrap_or(json!([])),
        "Meta": registration.get("Meta").cloned().unwrap_or(json!({})),
        "Address": registration.get("Address").cloned().unwrap_or(json!("")),
        "Port": registration["Port"],
        "Datacenter": "dc1",
    })
}

async fn health_service(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    uri: Uri,
    _headers: HeaderMap,
) -> Response {
    let passing_only = query.contains_key("passing")
        || uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "passing"));
    let min_index: u64 = query.get("index").and_then(|i| i.parse().ok()).unwrap_or(0);
    let wait = query
        .get("wait")
        .and_then(|w| parse_go_duration(w))
        .unwrap_or(Duration::from_secs(300));
    if min_index > 0 {
        let mut index = shared.index.subscribe();
        let _ = tokio::time::timeout(wait, index.wait_for(|i| *i > min_index)).await;
    }
    let index = *shared.index.borrow();
    let agent = shared.agent();
    let entries: Vec<Value> = agent
        .services
        .iter()
        .filter(|(_, i)| i.registration["Name"] == name.as_str())
        .filter(|(_, i)| !passing_only || i.status == "passing")
        .map(|(id, instance)| {
            let registration = &instance.registration;
            json!({
                "Node": {"ID": "fake-node-id", "Node": "fake-node", "Address": "127.0.0.1", "Datacenter": "dc1"},
                "Service": agent_service_json(id, registration),
                "Checks": [{
                    "Node": "fake-node",
                    "CheckID": format!("service:{id}"),
                    "Name": format!("Service '{}' check", registration["Name"].as_str().unwrap_or_default()),
                    "Status": instance.status,
                    "ServiceID": id,
                    "ServiceName": registration["Name"],
                    "Type": "grpc",
                }],
            })
        })
        .collect();
    (
        [("X-Consul-Index", index.to_string())],
        Json(Value::Array(entries)),
    )
        .into_response()
}

/// Go's `time.ParseDuration` for the forms Consul clients send: `30s`, `500ms`, `5m`.
fn parse_go_duration(value: &str) -> Option<Duration> {
    let split = value.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = value.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

/// Runs every registered gRPC check each `interval`, as the agent does.
async fn run_checks(shared: Arc<Shared>, interval: Duration) {
    loop {
        let targets: Vec<(String, String, Duration)> = shared
            .agent()
            .services
            .iter()
            .filter_map(|(id, i)| {
                let check = &i.registration["Check"];
                let target = check["GRPC"].as_str()?.to_owned();
                let timeout = check["Timeout"]
                    .as_str()
                    .and_then(parse_go_duration)
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(1));
                Some((id.clone(), target, timeout))
            })
            .collect();
        let checks = targets.into_iter().map(|(id, target, timeout)| async move {
            let passing = tokio::time::timeout(timeout, grpc_check(&target))
                .await
                .unwrap_or(false);
            (id, if passing { "passing" } else { "critical" })
        });
        let results = futures_join(checks).await;
        let mut changed = false;
        {
            let mut agent = shared.agent();
            for (id, status) in results {
                if let Some(instance) = agent.services.get_mut(&id)
                    && instance.status != status
                {
                    instance.status = status.to_owned();
                    changed = true;
                }
            }
        }
        if changed {
            shared.bump();
        }
        tokio::time::sleep(interval).await;
    }
}

async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(result) = handle.await {
            out.push(result);
        }
    }
    out
}

/// `host:port/service` -> whether `grpc.health.v1.Health/Check` answers SERVING.
async fn grpc_check(target: &str) -> bool {
    let (authority, service) = target.split_once('/').unwrap_or((target, ""));
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{authority}"))
    else {
        return false;
    };
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .is_ok_and(|r| r.into_inner().status() == ServingStatus::Serving)
}
