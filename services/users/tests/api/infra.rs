use std::time::Duration;

use test_support::{ReflectionVersion, list_services};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_service_in_v1_and_v1alpha() {
    let app = spawn_app().await;
    let expected = vec![
        "grpc.health.v1.Health".to_owned(),
        "grpc.reflection.v1.ServerReflection".to_owned(),
        "users.v1.UserService".to_owned(),
    ];
    let v1 = list_services(app.channel.clone(), ReflectionVersion::V1)
        .await
        .expect("v1");
    assert_eq!(v1, expected);
    let v1alpha = list_services(app.channel.clone(), ReflectionVersion::V1Alpha)
        .await
        .expect("v1alpha");
    assert!(
        v1alpha.contains(&"users.v1.UserService".to_owned()),
        "{v1alpha:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_serving_for_the_server_and_the_service() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", "users.v1.UserService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("check")
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_not_serving_while_the_database_is_unreachable() {
    // A port nothing listens on: start-up keeps retrying and health stays NOT_SERVING.
    let port = test_support::free_port().expect("port");
    let app = users_service::Application::build(users_service::Config {
        listen_addr: "127.0.0.1:0".parse().expect("literal"),
        database: shop_common::DatabaseConfig::new(format!(
            "postgres://postgres@127.0.0.1:{port}/none"
        )),
    })
    .await
    .expect("build");
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("check")
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::NotServing);
    // RPCs meanwhile are UNAVAILABLE, not INTERNAL.
    let err = proto::users::v1::user_service_client::UserServiceClient::new(channel)
        .get_user(proto::users::v1::GetUserRequest { id: 1 })
        .await
        .expect_err("not ready");
    assert_eq!(err.code(), Code::Unavailable);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops promptly")
        .expect("join")
        .expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn stops_gracefully_on_shutdown() {
    let app = spawn_app().await;
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("stops promptly")
        .expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn gives_up_when_the_database_stays_unreachable_past_the_startup_timeout() {
    let port = test_support::free_port().expect("port");
    let mut database =
        shop_common::DatabaseConfig::new(format!("postgres://postgres@127.0.0.1:{port}/none"));
    database.startup_timeout = Duration::from_millis(300);
    let app = users_service::Application::build(users_service::Config {
        listen_addr: "127.0.0.1:0".parse().expect("literal"),
        database,
    })
    .await
    .expect("build");
    let never = std::future::pending::<()>();
    let err = tokio::time::timeout(Duration::from_secs(15), app.run_until(never))
        .await
        .expect("gives up in time")
        .expect_err("start-up fails");
    assert!(format!("{err:#}").contains("unreachable"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_database_url_fails_at_build() {
    let err = users_service::Application::build(users_service::Config {
        listen_addr: "127.0.0.1:0".parse().expect("literal"),
        database: shop_common::DatabaseConfig::new("mysql://nope"),
    })
    .await
    .expect_err("bad url");
    assert!(err.to_string().contains("postgres://"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_left_open_cannot_keep_a_stopping_server_alive() {
    let app = spawn_app().await;
    // A client that watches health and never lets go: its stream outlives the shutdown signal.
    let mut watch = HealthClient::new(app.channel.clone())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("status").expect("a status");
    assert_eq!(first.status(), ServingStatus::Serving);
    let started = std::time::Instant::now();
    tokio::time::timeout(
        shop_common::server::DRAIN_TIMEOUT + Duration::from_secs(10),
        app.stop(),
    )
    .await
    .expect("the drain is bounded")
    .expect("a clean stop");
    assert!(
        started.elapsed() <= shop_common::server::DRAIN_TIMEOUT + Duration::from_secs(5),
        "stopped after {:?}",
        started.elapsed()
    );
    drop(watch);
}
