use test_support::{ReflectionVersion, list_services};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::spawn_stack;

#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_service_and_health_reports_serving() {
    let stack = spawn_stack().await;
    let channel = stack.purchases.channel.clone();
    let v1 = list_services(channel.clone(), ReflectionVersion::V1)
        .await
        .expect("v1");
    assert_eq!(
        v1,
        vec![
            "grpc.health.v1.Health".to_owned(),
            "grpc.reflection.v1.ServerReflection".to_owned(),
            "purchases.v1.PurchaseService".to_owned(),
        ]
    );
    let v1alpha = list_services(channel.clone(), ReflectionVersion::V1Alpha)
        .await
        .expect("v1alpha");
    assert!(
        v1alpha.contains(&"purchases.v1.PurchaseService".to_owned()),
        "{v1alpha:?}"
    );

    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "purchases.v1.PurchaseService".into(),
        })
        .await
        .expect("check")
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
}
