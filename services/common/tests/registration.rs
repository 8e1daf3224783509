//! A service registers in Consul (a fake agent, test-support's `FakeConsul`) while its gRPC
//! server runs, with the documented body and token, and deregisters when it stops.

use std::time::Duration;

use discovery::{ConsulClient, Registration};
use shop_common::GrpcServer;
use test_support::FakeConsul;
use tokio::sync::oneshot;
use tonic::service::Routes;

const TIMEOUT: Duration = Duration::from_secs(10);

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
