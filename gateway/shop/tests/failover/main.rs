//! Losing an instance loses no request (issue 10, part 5): two real processes of a service, one
//! killed with SIGKILL under a steady load, and not one failed request.
//!
//! - through the gateway: two users-service processes registered in a fake Consul that checks
//!   every second, concurrent `GET /api/users/{id}` through the gateway's router;
//! - under purchases: two products-service processes in purchases' static address list,
//!   concurrent CreatePurchase calls.
//!
//! The instances are real processes: this test binary started again with `FAILOVER_CHILD` set
//! runs only [`child_instance`], which serves the named service until it is killed. (The
//! services' binaries are not built for another package's tests; re-running the test binary
//! gives a real process, a real SIGKILL and real sockets closed by the kernel.) Both instances
//! of a service share one database, as replicas do, so either can answer every request.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use discovery::consul::WatchOptions;
use discovery::{ChannelOptions, ConsulClient, ConsulDiscovery, Discovery, Registration};
use gateway::{GatewayConfig, Upstreams};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use proto::purchases::v1::purchase_service_client::PurchaseServiceClient;
use proto::purchases::v1::{CreatePurchaseRequest, PurchaseStatus};
use shop_common::DatabaseConfig;
use shop_common::names::{PRODUCTS_SERVICE, USERS_SERVICE};
use shop_testkit::{ShopOptions, UpstreamAddrs};
use test_support::{FakeConsul, TestDatabase};
use tokio::process::{Child, Command};

const USER_SERVICE: &str = "users.v1.UserService";
/// The child's environment: which service it runs, where, on which database, and (optional)
/// the Consul agent to register with.
const CHILD: &str = "FAILOVER_CHILD";
const CHILD_LISTEN: &str = "FAILOVER_LISTEN";
const CHILD_DATABASE: &str = "FAILOVER_DATABASE_URL";
const CHILD_CONSUL: &str = "FAILOVER_CONSUL";
/// How long the load runs, and when one instance is killed.
const LOAD: Duration = Duration::from_secs(3);
const KILL_AT: Duration = Duration::from_secs(1);

/// Not a test of its own: the body of a child process. Does nothing unless `FAILOVER_CHILD`
/// names a service.
#[test]
fn child_instance() -> anyhow::Result<()> {
    let Ok(service) = std::env::var(CHILD) else {
        return Ok(());
    };
    let listen: SocketAddr = std::env::var(CHILD_LISTEN)?.parse()?;
    let database = DatabaseConfig::new(std::env::var(CHILD_DATABASE)?);
    let consul = std::env::var(CHILD_CONSUL).ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let config = shop_common::ServiceConfig {
            listen_addr: listen,
            database,
        };
        let forever = std::future::pending::<()>();
        match service.as_str() {
            USERS_SERVICE => {
                let mut app = users_service::Application::build(config).await?;
                if let Some(consul) = consul {
                    let client = ConsulClient::new(&consul, None)?;
                    let port = app.local_addr().port();
                    app = app.register(Registration::new(
                        client,
                        USERS_SERVICE,
                        USER_SERVICE,
                        "127.0.0.1",
                        port,
                        "t",
                    ));
                }
                app.run_until(forever).await
            }
            PRODUCTS_SERVICE => {
                products_service::Application::build(config)
                    .await?
                    .run_until(forever)
                    .await
            }
            other => anyhow::bail!("unknown child service {other}"),
        }
    })
}

/// One instance: a child process serving `service` on its own port.
struct Instance {
    addr: SocketAddr,
    child: Child,
}

impl Instance {
    /// Starts `service` on `database` (registering in `consul` when given) and waits until it
    /// reports SERVING.
    async fn start(service: &str, database: &str, consul: Option<String>) -> Self {
        let port = test_support::free_port().expect("free port");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let mut command =
            Command::new(std::env::current_exe().expect("the test binary's own path"));
        command
            .args([
                "child_instance",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, service)
            .env(CHILD_LISTEN, addr.to_string())
            .env(CHILD_DATABASE, database)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(consul) = consul {
            command.env(CHILD_CONSUL, consul);
        }
        let child = command.spawn().expect("start the child instance");
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("http://{addr}")).expect("uri");
        let deadline = Instant::now() + Duration::from_secs(60);
        let channel = loop {
            match endpoint.connect().await {
                Ok(channel) => break channel,
                Err(err) => assert!(Instant::now() < deadline, "never listened: {err}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        test_support::wait_until_serving(channel, "", Duration::from_secs(60))
            .await
            .expect("the instance becomes SERVING");
        Self { addr, child }
    }

    /// SIGKILL: the process is gone at once, its sockets closed by the kernel.
    async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reaped");
    }
}

/// What a load run counted.
#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    failed: AtomicU64,
    after_kill: AtomicU64,
}

/// Runs `workers` loops of `request` for [`LOAD`], killing `victim` at [`KILL_AT`]; returns
/// the counts and when the kill happened (since the load started).
async fn load_and_kill<F, Fut>(
    workers: usize,
    victim: &mut Instance,
    request: F,
) -> (Arc<Counts>, Duration)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let counts = Arc::new(Counts::default());
    let killed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (counts, killed, request) = (counts.clone(), killed.clone(), request.clone());
        tasks.spawn(async move {
            let mut n = worker as u64;
            while started.elapsed() < LOAD {
                counts.sent.fetch_add(1, Ordering::Relaxed);
                if killed.load(Ordering::Relaxed) {
                    counts.after_kill.fetch_add(1, Ordering::Relaxed);
                }
                if let Err(err) = request(n).await {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed at {:?}: {err}", started.elapsed());
                }
                n += workers as u64;
            }
        });
    }
    tokio::time::sleep(KILL_AT).await;
    let kill_time = started.elapsed();
    victim.kill().await;
    killed.store(true, Ordering::Relaxed);
    while let Some(joined) = tasks.join_next().await {
        joined.expect("load worker");
    }
    (counts, kill_time)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_users_instances_killed_under_load_through_the_gateway_loses_no_request() {
    shop_common::telemetry::init_test_tracing();
    let consul = FakeConsul::builder()
        .check_interval(Duration::from_secs(1))
        .start()
        .expect("fake Consul");
    let db = TestDatabase::create().await.expect("users database");
    let mut a = Instance::start(USERS_SERVICE, db.url(), Some(consul.url())).await;
    let b = Instance::start(USERS_SERVICE, db.url(), Some(consul.url())).await;
    let seed = tonic::transport::Endpoint::from_shared(format!("http://{}", b.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let user = shop_testkit::create_user(&seed, "John Doe", "john@example.com").await;

    let discovery = ConsulDiscovery::new(
        ConsulClient::new(&consul.url(), None).expect("client"),
        ChannelOptions::default(),
        WatchOptions::default(),
    );
    let mut upstreams = Upstreams::new();
    upstreams
        .discover(
            USER_SERVICE,
            USERS_SERVICE,
            &Discovery::Consul(discovery.clone()),
        )
        .expect("consul upstream");
    let router = shop_gateway::app(GatewayConfig {
        upstreams,
        ..GatewayConfig::default()
    })
    .expect("routes");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let gateway = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let wanted: BTreeSet<String> = [a.addr, b.addr].iter().map(ToString::to_string).collect();
    let mut status = discovery.watch_status(USERS_SERVICE);
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.endpoints == wanted),
    )
    .await
    .expect("both instances passing in time")
    .expect("watch running");

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri = format!("http://{gateway}/api/users/{}", user.id);
    let (counts, kill_time) = load_and_kill(8, &mut a, move |_| {
        let (client, uri) = (client.clone(), uri.clone());
        async move {
            let request = http::Request::get(&uri)
                .body(Full::new(Bytes::new()))
                .map_err(|e| e.to_string())?;
            let response = client.request(request).await.map_err(|e| e.to_string())?;
            let code = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if code == http::StatusCode::OK {
                Ok(())
            } else {
                Err(format!("{code} {body:?}"))
            }
        }
    })
    .await;
    let consul_saw = discovery
        .watch_status(USERS_SERVICE)
        .borrow()
        .endpoints
        .len();
    eprintln!(
        "users through the gateway: {} requests, {} failed, {} sent after the SIGKILL at {:?} \
         (Consul checks every 1 s; instances Consul lists at the end: {consul_saw})",
        counts.sent.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        counts.after_kill.load(Ordering::Relaxed),
        kill_time,
    );
    assert!(
        counts.after_kill.load(Ordering::Relaxed) > 0,
        "no load after the kill"
    );
    assert_eq!(counts.failed.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_products_instances_killed_under_purchases_loses_no_purchase() {
    shop_common::telemetry::init_test_tracing();
    let db = TestDatabase::create().await.expect("products database");
    let mut a = Instance::start(PRODUCTS_SERVICE, db.url(), None).await;
    let b = Instance::start(PRODUCTS_SERVICE, db.url(), None).await;
    let seed = tonic::transport::Endpoint::from_shared(format!("http://{}", b.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let product = shop_testkit::create_product(&seed, "Laptop", 12.5).await;
    let users = shop_testkit::spawn_users().await;
    let user = shop_testkit::create_user(&users.channel, "John Doe", "john@example.com").await;
    let options = ShopOptions::default();
    let payments = shop_testkit::spawn_payments(options.payments.clone()).await;

    let purchases_db = TestDatabase::create().await.expect("purchases database");
    let mut config = shop_testkit::purchases_config(
        "127.0.0.1:0".parse().expect("address"),
        DatabaseConfig::new(purchases_db.url()),
        UpstreamAddrs {
            users: users.addr,
            products: a.addr,
            payments: payments.addr,
        },
        &options,
    );
    config.upstreams.products = vec![format!("http://{}", a.addr), format!("http://{}", b.addr)];
    let app = purchases_service::Application::build(config)
        .await
        .expect("purchases")
        .into_inner();
    let addr = app.local_addr();
    let purchases = shop_testkit::RunningService::start(purchases_db, addr, |stop| {
        app.run_until(async {
            let _ = stop.await;
        })
    })
    .await;

    let client = PurchaseServiceClient::new(purchases.channel.clone());
    let (counts, kill_time) = load_and_kill(4, &mut a, move |_| {
        let mut client = client.clone();
        async move {
            let answer = client
                .create_purchase(CreatePurchaseRequest {
                    user_id: user.id,
                    product_id: product.id,
                })
                .await
                .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?
                .into_inner();
            let purchase = answer.purchase.ok_or("no purchase in the answer")?;
            if purchase.status() == PurchaseStatus::Completed {
                Ok(())
            } else {
                Err(format!("{:?}", purchase))
            }
        }
    })
    .await;
    eprintln!(
        "purchases over two products instances: {} purchases, {} failed, {} sent after the \
         SIGKILL at {:?}",
        counts.sent.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        counts.after_kill.load(Ordering::Relaxed),
        kill_time,
    );
    assert!(
        counts.after_kill.load(Ordering::Relaxed) > 0,
        "no load after the kill"
    );
    assert_eq!(counts.failed.load(Ordering::Relaxed), 0);
}
