//! Discovery against a fake Consul agent (test-support's `FakeConsul`), with real gRPC servers
//! behind it: the balanced channel follows the passing set, and registration survives an agent
//! restart.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use discovery::consul::{ConsulState, WatchOptions, WatchStatus};
use discovery::{ChannelOptions, ConsulClient, ConsulDiscovery, Registration};
use test_support::FakeConsul;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// Logs at `warn` (or `RUST_LOG`) through the test harness's capture.
fn init_test_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

const TIMEOUT: Duration = Duration::from_secs(10);

fn fast_watch() -> WatchOptions {
    WatchOptions {
        wait: Duration::from_secs(2),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    }
}

/// A gRPC server answering only the health service, SERVING for `name`: calls through a
/// balanced channel asking for `name` succeed only on this server, which tells them apart.
async fn health_server(name: &str) -> (SocketAddr, oneshot::Sender<()>) {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(name, tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _keep = reporter;
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            })
            .await
    });
    (addr, stop)
}

async fn wait_for_status(
    discovery: &ConsulDiscovery,
    service: &str,
    what: &str,
    condition: impl Fn(&WatchStatus) -> bool,
) {
    let mut status = discovery.watch_status(service);
    let reached = tokio::time::timeout(TIMEOUT, status.wait_for(|s| condition(s)))
        .await
        .map(|r| r.is_ok());
    assert!(
        matches!(reached, Ok(true)),
        "{what}: not reached; status {:?}",
        *discovery.watch_status(service).borrow()
    );
}

/// Which instance answered: the one that knows the name asked for.
async fn who_answers(channel: tonic::transport::Channel, names: &[&str]) -> Option<String> {
    for name in names {
        let answer = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: (*name).to_owned(),
            })
            .await;
        if answer.is_ok() {
            return Some((*name).to_owned());
        }
    }
    None
}

#[tokio::test]
async fn registers_again_after_the_agent_restarts() {
    init_test_tracing();
    let consul = FakeConsul::builder()
        .manual_health()
        .start()
        .expect("fake Consul");
    let addr = consul.addr();
    let client = ConsulClient::new(&consul.url(), None).expect("client");
    let handle = Registration::new(client, "products-service", "p.v1.P", "10.1.2.3", 7, "0.1.0")
        .verify_every(Duration::from_millis(100))
        .start();
    let id = "products-service-10.1.2.3-7";
    consul
        .wait_until("registered", TIMEOUT, |i| i.contains_key(id))
        .await
        .expect("registered");

    consul.stop();
    // A dev agent restarted on the same address knows nothing.
    let restarted = FakeConsul::builder()
        .manual_health()
        .addr(addr)
        .start()
        .expect("restart on the same port");
    restarted
        .wait_until("registered again", TIMEOUT, |i| i.contains_key(id))
        .await
        .expect("registered again");
    assert!(
        restarted
            .requests()
            .iter()
            .any(|r| r.path == format!("/v1/agent/service/{id}")),
        "noticed through GET /v1/agent/service/<id>"
    );
    handle.deregister().await;
    assert!(restarted.instances().is_empty());
}

#[tokio::test]
async fn the_channel_follows_the_passing_set_and_survives_a_consul_outage() {
    init_test_tracing();
    let consul = FakeConsul::builder()
        .manual_health()
        .start()
        .expect("fake Consul");
    let client = ConsulClient::new(&consul.url(), None).expect("client");
    let (a_addr, _a) = health_server("a").await;
    let (b_addr, _b) = health_server("b").await;
    let register = |addr: SocketAddr| {
        let client = client.clone();
        async move {
            Registration::new(client, "users-service", "x", "127.0.0.1", addr.port(), "0").start()
        }
    };
    let _ra = register(a_addr).await;
    let _rb = register(b_addr).await;
    consul
        .wait_until("two instances", TIMEOUT, |i| i.len() == 2)
        .await
        .expect("registered");

    let discovery = ConsulDiscovery::new(client.clone(), ChannelOptions::default(), fast_watch());
    let channel = discovery.channel("users-service");
    let both: BTreeSet<String> = [a_addr, b_addr].iter().map(ToString::to_string).collect();
    wait_for_status(&discovery, "users-service", "both endpoints", |s| {
        s.endpoints == both
    })
    .await;
    let mut seen = BTreeSet::new();
    for _ in 0..50 {
        seen.extend(who_answers(channel.clone(), &["a", "b"]).await);
    }
    assert_eq!(seen, BTreeSet::from(["a".to_owned(), "b".to_owned()]));

    // b turns critical: it leaves the set, and every call lands on a.
    assert!(consul.set_health(
        &format!("users-service-127.0.0.1-{}", b_addr.port()),
        "critical"
    ));
    wait_for_status(&discovery, "users-service", "b removed", |s| {
        s.endpoints.len() == 1
    })
    .await;
    for _ in 0..20 {
        assert_eq!(
            who_answers(channel.clone(), &["a", "b"]).await.as_deref(),
            Some("a")
        );
    }

    // Consul goes away: the status says so, the last known endpoint keeps serving.
    consul.stop();
    wait_for_status(&discovery, "users-service", "unreachable", |s| {
        matches!(s.consul, ConsulState::Unreachable { .. })
    })
    .await;
    let status = discovery.status();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].endpoints.len(), 1);
    for _ in 0..10 {
        assert_eq!(
            who_answers(channel.clone(), &["a", "b"]).await.as_deref(),
            Some("a")
        );
    }
}
