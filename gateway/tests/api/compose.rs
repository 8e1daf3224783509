//! Composite routes (`gateway.v1.compose`): the conformance fixture's `FanOutService.FanOut`
//! (`build-support/tests/fixtures/echo/v1/fan_out.proto`) from the generator's golden table,
//! calling the echo server three times.

use std::time::{Duration, Instant};

use gateway::Upstreams;
use prost_reflect::DynamicMessage;

use crate::helpers::{golden_pool, golden_request, spawn_golden, spawn_table};

const FAN_OUT: &str = "/v1/fan-out/a?nested.name=n";

#[tokio::test]
async fn parts_run_concurrently_and_the_response_waits_for_all() {
    let app = spawn_golden().await;
    // Warm the connection up so that connecting is not part of the measured request.
    assert_eq!(app.get(FAN_OUT).await.status, 200);

    let started = Instant::now();
    let response = app
        .send(
            "GET",
            FAN_OUT,
            &[("grpc-metadata-echo-sleep-ms", "200")],
            None,
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(response.status, 200, "{:?}", response.body);
    // Three calls of 200 ms each: all three were being served at the same moment, and the
    // answer came after the slowest one, well before two of them could have run in turn.
    assert_eq!(app.max_in_flight(), 3);
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(380), "{elapsed:?}");

    let json = response.json();
    assert_eq!(json["first"]["id"], "a", "{json}");
    assert_eq!(json["first"]["nested"]["name"], "n", "{json}");
    assert_eq!(json["second"]["id"], "a", "{json}");
    assert_eq!(json["second"]["name"], "n", "{json}");
    assert_eq!(json["name"], "n", "{json}");
}

#[tokio::test]
async fn each_call_gets_only_its_mapped_fields() {
    let app = spawn_golden().await;
    let response = app.get("/v1/fan-out/a?nested.name=n&nested.size=3").await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let desc = golden_pool()
        .get_message_by_name("echo.v1.EchoRequest")
        .expect("fixture type");
    let mut seen: Vec<String> = app
        .upstream_requests()
        .into_iter()
        .map(|bytes| {
            DynamicMessage::decode(desc.clone(), bytes)
                .expect("an EchoRequest")
                .to_text_format()
        })
        .collect();
    seen.sort();
    let mut expected: Vec<String> = [
        r#"id: "a" nested { name: "n" size: 3 }"#,
        r#"id: "a" name: "n""#,
        r#"nested { name: "n" }"#,
    ]
    .iter()
    .map(|text| golden_request(text).to_text_format())
    .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn headers_request_id_and_deadline_reach_every_call() {
    let app = spawn_golden().await;
    let response = app
        .send(
            "GET",
            FAN_OUT,
            &[
                ("x-request-id", "req-7"),
                ("authorization", "Bearer t"),
                ("grpc-metadata-tenant", "acme"),
            ],
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    for key in ["x-request-id", "authorization", "tenant"] {
        let name = format!("grpc-metadata-seen-{key}");
        assert_eq!(
            response.headers.get_all(&name).iter().count(),
            3,
            "every call saw {key}"
        );
    }
    let timeouts = response
        .headers
        .get_all("grpc-metadata-seen-grpc-timeout")
        .iter()
        .count();
    assert_eq!(timeouts, 3, "every call carries the deadline");
    assert_eq!(response.header("x-request-id"), Some("req-7"));
}

#[tokio::test]
async fn optional_part_not_found_leaves_its_field_unset() {
    let app = spawn_golden().await;
    let response = app
        .send(
            "GET",
            FAN_OUT,
            &[
                ("grpc-metadata-echo-status", "5"),
                ("grpc-metadata-echo-status-for", "Internal"),
            ],
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let json = response.json();
    assert_eq!(json["first"]["id"], "a", "{json}");
    assert!(json.get("second").is_none(), "omitted: {json}");
    assert_eq!(json["name"], "n", "{json}");
}

#[tokio::test]
async fn optional_part_failing_otherwise_fails_the_request() {
    let app = spawn_golden().await;
    let message = app
        .send(
            "GET",
            FAN_OUT,
            &[
                ("grpc-metadata-echo-status", "9"),
                ("grpc-metadata-echo-message", "not now"),
                ("grpc-metadata-echo-status-for", "Internal"),
            ],
            None,
        )
        .await
        .assert_status(400, 9);
    assert_eq!(message, "second: not now");
}

#[tokio::test]
async fn required_part_failing_fails_the_request_naming_it() {
    let app = spawn_golden().await;
    let message = app
        .send(
            "GET",
            FAN_OUT,
            &[
                ("grpc-metadata-echo-status", "5"),
                ("grpc-metadata-echo-message", "no such echo"),
                ("grpc-metadata-echo-status-for", "Get"),
            ],
            None,
        )
        .await
        .assert_status(404, 5);
    // `first` and `name` both call Get: the first part in declaration order is reported.
    assert_eq!(message, "first: no such echo");

    let message = app
        .send(
            "GET",
            FAN_OUT,
            &[
                ("grpc-metadata-echo-status", "13"),
                ("grpc-metadata-echo-message", "secret internals"),
            ],
            None,
        )
        .await
        .assert_status(500, 13);
    assert_eq!(message, "first: internal error");
}

#[tokio::test]
async fn one_deadline_for_all_parts() {
    let app = spawn_golden().await;
    let started = Instant::now();
    let message = app
        .send(
            "GET",
            FAN_OUT,
            &[
                ("grpc-timeout", "100m"),
                ("grpc-metadata-echo-sleep-ms", "1000"),
            ],
            None,
        )
        .await
        .assert_status(504, 4);
    assert!(message.starts_with("first: deadline exceeded"), "{message}");
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn part_without_an_upstream_is_503() {
    let app = spawn_table(crate::helpers::golden_routes(), golden_pool(), |config| {
        config.upstreams = Upstreams::new();
    })
    .await;
    let message = app.get(FAN_OUT).await.assert_status(503, 14);
    assert_eq!(
        message,
        "first: upstream echo.v1.EchoService is unavailable"
    );
}
