//! The gateway on Consul discovery: real users-service instances (real PostgreSQL, one database
//! each, so the rows tell which instance served a request) registering themselves in a FAKE
//! Consul agent (test-support's `FakeConsul`, which runs their gRPC health checks), and the
//! gateway (`shop_gateway::app`, the generated routes) following the passing set. The second
//! test runs the whole shop on Consul: purchases finds users, products and payments there too.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use discovery::consul::{ConsulState, WatchOptions, WatchStatus};
use discovery::{ChannelOptions, ConsulClient, ConsulDiscovery, Discovery, Registration};
use gateway::{GatewayConfig, Upstreams};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use shop_common::{DatabaseConfig, ShopService};
use test_support::{FakeConsul, TestDatabase};
use tokio::sync::oneshot;

const USERS: &str = "users-service";
const USER_SERVICE: &str = "users.v1.UserService";
const TOKEN: &str = "gateway-test-token";
const TIMEOUT: Duration = Duration::from_secs(30);

/// A users-service instance on its own runtime thread, so that [`Instance::kill`] can end it
/// the way a crash does: every socket closes at once, nothing deregisters.
struct Instance {
    addr: SocketAddr,
    id: String,
    db: TestDatabase,
    stop: Option<oneshot::Sender<()>>,
    kill: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Instance {
    async fn start(consul: &FakeConsul) -> Self {
        let db = TestDatabase::create().await.expect("database");
        let url = db.url().to_owned();
        let consul_url = consul.url();
        let (ready_tx, ready_rx) = oneshot::channel::<SocketAddr>();
        let (stop, stopped) = oneshot::channel::<()>();
        let (kill, killed) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let outcome = runtime.block_on(async move {
                let app = users_service::Application::build(users_service::Config {
                    listen_addr: "127.0.0.1:0".parse()?,
                    database: DatabaseConfig::new(url),
                })
                .await?;
                let addr = app.local_addr();
                let client = ConsulClient::new(&consul_url, Some(TOKEN.to_owned()))?;
                let registration =
                    Registration::new(client, USERS, USER_SERVICE, "127.0.0.1", addr.port(), "t");
                let _ = ready_tx.send(addr);
                let app = app.register(registration);
                tokio::select! {
                    served = app.run_until(async { let _ = stopped.await; }) => served,
                    _ = killed => Ok(()),
                }
            });
            // Dropping the runtime here drops every connection and background task.
            drop(runtime);
            outcome
        });
        let addr = ready_rx.await.expect("instance started");
        let id = format!("{USERS}-127.0.0.1-{}", addr.port());
        Self {
            addr,
            id,
            db,
            stop: Some(stop),
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    /// Graceful shutdown (SIGTERM's path): deregisters, drains, returns.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join().await;
    }

    /// A crash: the process is gone, its registration stays (critical) in Consul.
    async fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        self.join().await;
    }

    async fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .expect("join")
                .expect("instance thread")
                .expect("instance ran cleanly");
        }
    }

    async fn rows(&self) -> i64 {
        self.db.count_rows("users").await.expect("count")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

struct Gateway {
    addr: SocketAddr,
    discovery: ConsulDiscovery,
    client: Client<HttpConnector, Full<Bytes>>,
    _stop: oneshot::Sender<()>,
}

impl Gateway {
    async fn start(consul: &FakeConsul) -> Self {
        let client = ConsulClient::new(&consul.url(), Some(TOKEN.to_owned())).expect("client");
        let discovery = ConsulDiscovery::new(
            client,
            ChannelOptions::default(),
            WatchOptions {
                wait: Duration::from_secs(5),
                min_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(500),
            },
        );
        let mut upstreams = Upstreams::new();
        upstreams
            .discover(USER_SERVICE, USERS, &Discovery::Consul(discovery.clone()))
            .expect("consul upstream");
        let config = GatewayConfig {
            upstreams,
            ..GatewayConfig::default()
        };
        let router = shop_gateway::app(config).expect("routes");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Self {
            addr,
            discovery,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _stop: stop,
        }
    }

    async fn request(&self, method: &str, path: &str, body: Option<String>) -> (u16, Bytes) {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        let response = self.client.request(request).await.expect("gateway answers");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, body)
    }

    /// Creates `n` users through the gateway; returns how many did not answer 200.
    async fn create_users(&self, n: u32) -> u32 {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let mut failed = 0;
        for _ in 0..n {
            let i = NEXT.fetch_add(1, Ordering::Relaxed);
            let body =
                serde_json::json!({"name": format!("u{i}"), "email": format!("u{i}@example.com")});
            let (status, answer) = self
                .request("POST", "/api/users", Some(body.to_string()))
                .await;
            if status != 200 {
                eprintln!("POST /api/users: {status} {answer:?}");
                failed += 1;
            }
        }
        failed
    }

    async fn wait_for(&self, what: &str, condition: impl Fn(&WatchStatus) -> bool) {
        let mut status = self.discovery.watch_status(USERS);
        let reached = tokio::time::timeout(TIMEOUT, status.wait_for(|s| condition(s)))
            .await
            .map(|r| r.is_ok());
        assert!(
            matches!(reached, Ok(true)),
            "{what}: not reached; status {:?}",
            *self.discovery.watch_status(USERS).borrow()
        );
    }

    async fn wait_for_endpoints(&self, instances: &[&Instance]) {
        let wanted: BTreeSet<String> = instances.iter().map(|i| i.addr.to_string()).collect();
        self.wait_for("endpoints", |s| s.endpoints == wanted).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_follows_consul_as_instances_come_die_and_leave() {
    shop_common::telemetry::init_test_tracing();
    let consul = FakeConsul::builder()
        .check_interval(Duration::from_millis(100))
        .require_token(TOKEN)
        .start()
        .expect("fake Consul");
    let mut a = Instance::start(&consul).await;
    let mut b = Instance::start(&consul).await;
    let gateway = Gateway::start(&consul).await;

    // Registration: what a real users-service sends, field by field, with the token.
    consul
        .wait_until("both passing", TIMEOUT, |i| {
            i.values().filter(|i| i.status == "passing").count() == 2
        })
        .await
        .expect("both instances registered and passing");
    let body = consul.instances()[&a.id].registration.clone();
    assert_eq!(body["ID"], a.id.as_str());
    assert_eq!(body["Name"], USERS);
    assert_eq!(body["Address"], "127.0.0.1");
    assert_eq!(body["Port"], a.addr.port());
    assert_eq!(body["Tags"], serde_json::json!(["vt", "grpc"]));
    assert_eq!(body["Meta"], serde_json::json!({"version": "t"}));
    assert_eq!(
        body["Check"]["GRPC"],
        format!("127.0.0.1:{}/{USER_SERVICE}", a.addr.port())
    );
    assert_eq!(body["Check"]["Interval"], "10s");
    assert_eq!(body["Check"]["Timeout"], "2s");
    assert_eq!(body["Check"]["DeregisterCriticalServiceAfter"], "30s");

    // Two instances: requests reach both.
    gateway.wait_for_endpoints(&[&a, &b]).await;
    assert_eq!(gateway.create_users(40).await, 0);
    let (rows_a, rows_b) = (a.rows().await, b.rows().await);
    eprintln!("2 instances, 40 requests: a={rows_a} b={rows_b}");
    assert!(rows_a > 0 && rows_b > 0, "a={rows_a} b={rows_b}");
    assert_eq!(rows_a + rows_b, 40);

    // A third instance joins: it gets traffic, the gateway is not restarted.
    let mut c = Instance::start(&consul).await;
    gateway.wait_for_endpoints(&[&a, &b, &c]).await;
    assert_eq!(gateway.create_users(60).await, 0);
    let rows_c = c.rows().await;
    eprintln!("3 instances, 60 more requests: c={rows_c}");
    assert!(rows_c > 0);

    // b crashes: measure how long until the gateway stops sending it traffic.
    let b_rows_before = b.rows().await;
    let died = Instant::now();
    b.kill().await;
    let mut failed_while_detecting = 0;
    let mut sent_while_detecting = 0;
    let b_endpoint = b.addr.to_string();
    while gateway
        .discovery
        .watch_status(USERS)
        .borrow()
        .endpoints
        .contains(&b_endpoint)
    {
        assert!(died.elapsed() < TIMEOUT, "b never left the passing set");
        failed_while_detecting += gateway.create_users(1).await;
        sent_while_detecting += 1;
    }
    let removed_after = died.elapsed();
    eprintln!(
        "FAILOVER: b left the gateway's endpoint set {removed_after:?} after it died \
         (fake Consul check interval 100ms); {failed_while_detecting} of {sent_while_detecting} \
         requests failed in that window"
    );
    assert_eq!(
        gateway.create_users(50).await,
        0,
        "no failures once b is out"
    );
    assert_eq!(b.rows().await, b_rows_before);
    assert!(
        consul.instances()[&b.id].status == "critical",
        "a crash leaves it critical"
    );

    // a shuts down gracefully under load: it deregisters itself, keeps serving while the
    // gateway's watch drops it, then drains; no request fails.
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let (_, (failed, sent)) = tokio::join!(
        async {
            a.stop().await;
            stopped.store(true, Ordering::Relaxed);
        },
        async {
            let (mut failed, mut sent) = (0, 0);
            while !stopped.load(Ordering::Relaxed) {
                failed += gateway.create_users(1).await;
                sent += 1;
            }
            (failed, sent)
        }
    );
    eprintln!("graceful stop of a under load: {failed} of {sent} requests failed");
    assert_eq!(failed, 0, "no request fails while a leaves gracefully");
    assert!(!consul.instances().contains_key(&a.id), "a deregistered");
    assert!(
        consul.requests().iter().any(
            |r| r.method == "PUT" && r.path == format!("/v1/agent/service/deregister/{}", a.id)
        )
    );
    gateway.wait_for_endpoints(&[&c]).await;
    assert_eq!(gateway.create_users(20).await, 0);

    // Consul goes away: the gateway keeps serving on the last known endpoints and says so.
    let requests = consul.requests();
    assert!(
        requests.iter().all(|r| r.token.as_deref() == Some(TOKEN)),
        "every Consul request carries X-Consul-Token"
    );
    consul.stop();
    gateway
        .wait_for("Consul unreachable", |s| {
            matches!(s.consul, ConsulState::Unreachable { .. })
        })
        .await;
    let c_before = c.rows().await;
    assert_eq!(gateway.create_users(20).await, 0);
    assert_eq!(c.rows().await, c_before + 20);
    let (status, body) = gateway.request("GET", "/readyz", None).await;
    let readyz: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(status, 200, "{readyz}");
    assert_eq!(
        readyz["discovery"][USERS]["consul"], "unreachable",
        "{readyz}"
    );
    assert_eq!(
        readyz["discovery"][USERS]["endpoints"],
        serde_json::json!([c.addr.to_string()]),
        "{readyz}"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_healthy_instance_fails_fast_with_503() {
    shop_common::telemetry::init_test_tracing();
    let consul = FakeConsul::builder()
        .check_interval(Duration::from_millis(100))
        .require_token(TOKEN)
        .start()
        .expect("fake Consul");
    let mut only = Instance::start(&consul).await;
    let gateway = Gateway::start(&consul).await;
    gateway.wait_for_endpoints(&[&only]).await;
    assert_eq!(gateway.create_users(1).await, 0);

    only.stop().await;
    gateway
        .wait_for("no passing instance", |s| s.endpoints.is_empty())
        .await;
    let asked = Instant::now();
    let (status, body) = gateway.request("GET", "/api/users/1", None).await;
    let elapsed = asked.elapsed();
    let error: serde_json::Value = serde_json::from_slice(&body).expect("Status JSON");
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["code"], 14, "{error}");
    assert_eq!(
        error["message"],
        format!("no healthy instance of upstream {USER_SERVICE}"),
        "{error}"
    );
    // Not held until the 10 s request deadline (which would be a 504): answered at once. The
    // bound is generous on purpose; the status code above is the real assertion.
    assert!(
        elapsed < GatewayConfig::default().timeout / 2,
        "took {elapsed:?}"
    );
}

/// Starts a service future in the test runtime; the returned sender stops it gracefully.
fn spawn_service<F>(
    run: impl FnOnce(oneshot::Receiver<()>) -> F,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
)
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel();
    (stop, tokio::spawn(run(stopped)))
}

/// Service `S` with its default settings on a fresh database, registered in Consul under its
/// binary's name and gRPC service, served until the returned sender fires. The database lives
/// as long as the returned value.
async fn start_registered<S: ShopService + Default>(
    client: &ConsulClient,
) -> (
    TestDatabase,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let db = TestDatabase::create().await.expect("db");
    let app = shop_common::Application::<S>::build(shop_common::ServiceConfig {
        listen_addr: "127.0.0.1:0".parse().expect("literal"),
        database: DatabaseConfig::new(db.url()),
    })
    .await
    .unwrap_or_else(|err| panic!("{}: {err:#}", S::BINARY.name));
    let port = app.local_addr().port();
    let app = app.register(Registration::new(
        client.clone(),
        S::BINARY.name,
        S::BINARY.grpc_service,
        "127.0.0.1",
        port,
        "t",
    ));
    let (stop, served) = spawn_service(|stopped| {
        app.run_until(async move {
            let _ = stopped.await;
        })
    });
    (db, stop, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_shop_runs_on_consul_purchases_included() {
    shop_common::telemetry::init_test_tracing();
    let consul = FakeConsul::builder()
        .check_interval(Duration::from_millis(100))
        .start()
        .expect("fake Consul");
    let client = ConsulClient::new(&consul.url(), None).expect("client");
    let registration = |name: &str, grpc: &str, addr: SocketAddr| {
        Registration::new(client.clone(), name, grpc, "127.0.0.1", addr.port(), "t")
    };
    let until = |stopped: oneshot::Receiver<()>| async move {
        let _ = stopped.await;
    };

    let (_users_db, stop_users, users) =
        start_registered::<users_service::UsersService>(&client).await;
    let (_products_db, stop_products, products) =
        start_registered::<products_service::ProductsService>(&client).await;
    let (_payments_db, stop_payments, payments) =
        start_registered::<payments_service::PaymentsService>(&client).await;

    // Purchases finds users, products and payments through Consul, not through addresses.
    let purchases_db = TestDatabase::create().await.expect("db");
    let discovery = Discovery::Consul(ConsulDiscovery::new(
        client.clone(),
        ChannelOptions::default(),
        WatchOptions::default(),
    ));
    let purchases = purchases_service::Application::build_with_discovery(
        purchases_service::Config {
            listen_addr: "127.0.0.1:0".parse().expect("literal"),
            database: DatabaseConfig::new(purchases_db.url()),
            upstreams: purchases_service::UpstreamsConfig {
                users: Vec::new(),
                products: Vec::new(),
                payments: Vec::new(),
                deadline: Duration::from_secs(5),
            },
            resilience: Default::default(),
            lifecycle: Default::default(),
            events: None,
        },
        &discovery,
    )
    .await
    .expect("purchases");
    let purchases_addr = purchases.local_addr();
    let purchases = purchases.register(registration(
        "purchases-service",
        "purchases.v1.PurchaseService",
        purchases_addr,
    ));
    let (stop_purchases, purchases) = spawn_service(|s| purchases.run_until(until(s)));

    consul
        .wait_until("four passing", TIMEOUT, |i| {
            i.values().filter(|i| i.status == "passing").count() == 4
        })
        .await
        .expect("all registered and passing");

    // The gateway as its binary configures it: `service=consul://name` specs.
    let specs: Vec<gateway::UpstreamSpec> = [
        "users.v1.UserService=consul://users-service",
        "products.v1.ProductService=consul://products-service",
        "purchases.v1.PurchaseService=consul://purchases-service",
    ]
    .iter()
    .map(|s| s.parse().expect("valid spec"))
    .collect();
    let gateway_discovery = Discovery::Consul(ConsulDiscovery::new(
        client.clone(),
        ChannelOptions::default(),
        WatchOptions::default(),
    ));
    let config = GatewayConfig {
        upstreams: Upstreams::resolve(&specs, Some(&gateway_discovery)).expect("resolved"),
        ..GatewayConfig::default()
    };
    let router = shop_gateway::app(config).expect("routes");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let http: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let send = |method: &'static str, path: &'static str, body: serde_json::Value| {
        let http = http.clone();
        async move {
            let request = http::Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(if body.is_null() {
                    String::new()
                } else {
                    body.to_string()
                })))
                .expect("request");
            let response = http.request(request).await.expect("gateway answers");
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            (status, json)
        }
    };

    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (status, readyz) = send("GET", "/readyz", serde_json::Value::Null).await;
        if status == 200 {
            assert_eq!(
                readyz["discovery"][USERS]["consul"], "reachable",
                "{readyz}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {readyz}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, user) = send(
        "POST",
        "/api/users",
        serde_json::json!({"name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    let (status, product) = send(
        "POST",
        "/api/products",
        serde_json::json!({"name": "Pen", "price": 2.5}),
    )
    .await;
    assert_eq!(status, 200, "{product}");
    let (status, purchase) = send(
        "POST",
        "/api/purchases",
        serde_json::json!({"user_id": user["id"], "product_id": product["id"]}),
    )
    .await;
    assert_eq!(status, 200, "{purchase}");
    assert_eq!(purchase["user"]["name"], "Ada", "{purchase}");
    assert_eq!(purchase["product"]["name"], "Pen", "{purchase}");
    assert_eq!(
        purchase["purchase"]["status"], "PURCHASE_STATUS_COMPLETED",
        "charged through the payments instance found in Consul: {purchase}"
    );

    // Graceful shutdown deregisters each service.
    for (stop, served) in [
        (stop_purchases, purchases),
        (stop_payments, payments),
        (stop_products, products),
        (stop_users, users),
    ] {
        let _ = stop.send(());
        served.await.expect("join").expect("clean stop");
    }
    assert!(consul.instances().is_empty(), "{:?}", consul.instances());
}
