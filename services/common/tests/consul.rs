//! Registration and discovery against a fake Consul agent (test-support's `FakeConsul`), with
//! real gRPC servers behind it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use shop_common::consul::{ConsulState, WatchOptions, WatchStatus};
use shop_common::{ChannelOptions, ConsulClient, ConsulDiscovery, GrpcServer, Registration};
use test_support::FakeConsul;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

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
async fn registers_when_serving_with_the_documented_body_and_token_then_deregisters() {
    shop_common::telemetry::init_test_tracing();
    let consul = FakeConsul::builder()
        .require_token("s3cret")
        .start()
        .expect("fake Consul");
    let client = ConsulClient::new(&consul.url(), Some("s3cret".into())).expect("client");
    let server = GrpcServer::bind("127.0.0.1:0".parse().expect("literal"), "test.v1.Thing")
        .await
        .expect("bind");
    let port = server.local_addr().port();
    let registration = Registration::new(
        client,
        "users-service",
        "test.v1.Thing",
        "127.0.0.1",
        port,
        "1.2.3",
    );
    let id = format!("users-service-127.0.0.1-{port}");
    assert_eq!(registration.id(), id);
    let (stop, stopped) = oneshot::channel::<()>();
    // The server adds health (which the check calls) and reflection to any routes.
    let served = tokio::spawn(server.register(registration).serve(
        Routes::default(),
        async { Ok(()) },
        async {
            let _ = stopped.await;
        },
    ));

    // The fake runs the gRPC check itself: the instance turns passing.
    consul
        .wait_until("instance passing", TIMEOUT, |i| {
            i.get(&id).is_some_and(|i| i.status == "passing")
        })
        .await
        .expect("registered and passing");
    let body = consul.instances()[&id].registration.clone();
    assert_eq!(body["ID"], id.as_str());
    assert_eq!(body["Name"], "users-service");
    assert_eq!(body["Address"], "127.0.0.1");
    assert_eq!(body["Port"], port);
    assert_eq!(body["Tags"], serde_json::json!(["v1.2.3", "grpc"]));
    assert_eq!(body["Meta"], serde_json::json!({"version": "1.2.3"}));
    let check = &body["Check"];
    assert_eq!(check["GRPC"], format!("127.0.0.1:{port}/test.v1.Thing"));
    assert_eq!(check["GRPCUseTLS"], false);
    assert_eq!(check["Interval"], "10s");
    assert_eq!(check["Timeout"], "2s");
    assert_eq!(check["DeregisterCriticalServiceAfter"], "30s");

    stop.send(()).expect("server running");
    served.await.expect("join").expect("clean stop");
    assert!(consul.instances().is_empty(), "{:?}", consul.instances());
    let requests = consul.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "PUT" && r.path == format!("/v1/agent/service/deregister/{id}")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.token.as_deref() == Some("s3cret")),
        "every request carries X-Consul-Token: {requests:?}"
    );
}

#[tokio::test]
async fn registers_again_after_the_agent_restarts() {
    shop_common::telemetry::init_test_tracing();
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
    shop_common::telemetry::init_test_tracing();
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
