use test_support::{ReflectionVersion, list_services};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_service_and_health_reports_serving() {
    let app = spawn_app().await;
    let v1 = list_services(app.channel.clone(), ReflectionVersion::V1)
        .await
        .expect("v1");
    assert_eq!(
        v1,
        vec![
            "grpc.health.v1.Health".to_owned(),
            "grpc.reflection.v1.ServerReflection".to_owned(),
            "payments.v1.PaymentService".to_owned(),
        ]
    );
    let v1alpha = list_services(app.channel.clone(), ReflectionVersion::V1Alpha)
        .await
        .expect("v1alpha");
    assert!(
        v1alpha.contains(&"payments.v1.PaymentService".to_owned()),
        "{v1alpha:?}"
    );
    let status = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: "payments.v1.PaymentService".into(),
        })
        .await
        .expect("check")
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
}

#[tokio::test(flavor = "multi_thread")]
async fn impossible_rules_are_refused_before_binding() {
    let rules = payments_service::Rules {
        failure_rate: 2.0,
        ..payments_service::Rules::default()
    };
    let err = payments_service::PaymentsService::new(rules).expect_err("rate above 1");
    assert!(err.to_string().contains("failure rate"), "{err}");
}
