use std::time::Duration;

use test_support::{ReflectionVersion, list_services};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_service_in_v1_and_v1alpha() {
    let app = spawn_app().await;
    let v1 = list_services(app.channel.clone(), ReflectionVersion::V1)
        .await
        .expect("v1");
    assert_eq!(
        v1,
        vec![
            "grpc.health.v1.Health".to_owned(),
            "grpc.reflection.v1.ServerReflection".to_owned(),
            "products.v1.ProductService".to_owned(),
        ]
    );
    let v1alpha = list_services(app.channel.clone(), ReflectionVersion::V1Alpha)
        .await
        .expect("v1alpha");
    assert!(
        v1alpha.contains(&"products.v1.ProductService".to_owned()),
        "{v1alpha:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_serving() {
    let app = spawn_app().await;
    let status = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: "products.v1.ProductService".into(),
        })
        .await
        .expect("check")
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("stops promptly")
        .expect("clean stop");
}
