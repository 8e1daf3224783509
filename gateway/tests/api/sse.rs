//! Server-Sent Events on the generator's conformance fixture through real sockets: negotiation
//! by `Accept`, framing and ids (ordinals, or `gateway.v1.event_stream`'s `id_field`),
//! `Last-Event-ID` into the `resume_field`, heartbeats, the closing error event, and a client
//! that goes away cancelling the upstream call.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::helpers::{TestResponse, golden_request, spawn_golden, spawn_golden_with};

const SSE: (&str, &str) = ("accept", "text/event-stream");

/// The body as text.
fn text(response: &TestResponse) -> String {
    String::from_utf8(response.body.to_vec()).expect("UTF-8 body")
}

/// Asserts the headers of an event-stream answer.
#[track_caller]
fn assert_event_stream(response: &TestResponse) {
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    assert_eq!(response.header("x-accel-buffering"), Some("no"));
}

/// The events of an event-stream body (heartbeat comments left out), each as its lines.
fn events(body: &str) -> Vec<Vec<&str>> {
    assert!(
        body.ends_with("\n\n"),
        "the stream ends after a whole event: {body:?}"
    );
    body.split_terminator("\n\n")
        .filter(|event| !event.starts_with(':'))
        .map(|event| event.lines().collect())
        .collect()
}

#[tokio::test]
async fn events_carry_the_ndjson_values_numbered_from_one() {
    let app = spawn_golden().await;
    let ndjson = app.get("/v1/echo/s:stream?count=2&tags=a").await;
    assert_eq!(ndjson.status, 200);
    let lines: Vec<String> = text(&ndjson).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");

    let response = app
        .send("GET", "/v1/echo/s:stream?count=2&tags=a", &[SSE], None)
        .await;
    assert_event_stream(&response);
    let expected: String = lines
        .iter()
        .enumerate()
        .map(|(i, line)| format!("id: {}\ndata: {line}\n\n", i + 1))
        .collect();
    assert_eq!(text(&response), expected);
    let json: serde_json::Value =
        serde_json::from_str(&lines[0]).expect("each data line is one JSON value");
    assert_eq!(json["id"], "s");
    assert_eq!(json["count"], "2");
    assert_eq!(json["tags"], serde_json::json!(["a"]));
}

#[tokio::test]
async fn ndjson_is_unchanged_unless_accept_prefers_events() {
    let app = spawn_golden().await;
    for accept in [
        None,
        Some("*/*"),
        Some("application/json"),
        Some("text/event-stream;q=0, */*"),
        Some("application/x-ndjson, text/event-stream"),
    ] {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        let response = app
            .send("GET", "/v1/echo/s:stream?count=2", &headers, None)
            .await;
        assert_eq!(response.status, 200, "{accept:?}");
        assert_eq!(
            response.header("content-type"),
            Some("application/x-ndjson"),
            "{accept:?}"
        );
        assert_eq!(response.header("cache-control"), None, "{accept:?}");
        let body = text(&response);
        assert_eq!(body.lines().count(), 3, "{accept:?}: {body}");
        for line in body.lines() {
            let json: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            assert_eq!(json["count"], "2");
        }
    }
    for accept in [
        "text/*",
        "text/event-stream;q=0.9, application/x-ndjson;q=0.5",
    ] {
        let response = app
            .send("GET", "/v1/echo/s:stream", &[("accept", accept)], None)
            .await;
        assert_event_stream(&response);
    }
}

#[tokio::test]
async fn event_ids_come_from_the_id_field() {
    let app = spawn_golden().await;
    let response = app.send("GET", "/v1/echo/w:watch", &[SSE], None).await;
    assert_event_stream(&response);
    // The upstream's response metadata, as for any answer.
    assert_eq!(response.header("grpc-metadata-echo-served"), Some("yes"));
    let body = text(&response);
    let events = events(&body);
    assert_eq!(events.len(), 3, "{body}");
    for (event, n) in events.iter().zip(1..) {
        assert_eq!(event[0], format!("id: {n}"), "{body}");
        let json: serde_json::Value =
            serde_json::from_str(event[1].strip_prefix("data: ").expect("a data line"))
                .expect("JSON data");
        assert_eq!(json["count"], n.to_string(), "{body}");
        assert_eq!(json["id"], "w");
    }
}

#[tokio::test]
async fn last_event_id_sets_the_resume_field() {
    let app = spawn_golden().await;
    // The header wins over the query: it is applied last.
    let response = app
        .send(
            "GET",
            "/v1/echo/w:watch?count=5",
            &[SSE, ("last-event-id", "41")],
            None,
        )
        .await;
    assert_event_stream(&response);
    crate::helpers::assert_message(
        &app.last_upstream_request(),
        &golden_request(r#"id: "w" count: 41"#),
    );
    let body = text(&response);
    let ids: Vec<&str> = events(&body).iter().map(|event| event[0]).collect();
    assert_eq!(ids, ["id: 42", "id: 43", "id: 44"]);

    // NDJSON requests resume the same way.
    let response = app
        .send("GET", "/v1/echo/w:watch", &[("last-event-id", "7")], None)
        .await;
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    crate::helpers::assert_message(
        &app.last_upstream_request(),
        &golden_request(r#"id: "w" count: 7"#),
    );
}

#[tokio::test]
async fn a_bad_last_event_id_is_a_400_naming_the_header() {
    let app = spawn_golden().await;
    // An empty value too: it names no event, and the documented schema does not admit it.
    for value in ["abc", "1.5", "99999999999999999999", "", "  "] {
        let response = app
            .send(
                "GET",
                "/v1/echo/w:watch",
                &[SSE, ("last-event-id", value)],
                None,
            )
            .await;
        let message = response.assert_status(400, 3);
        assert!(
            message.contains("invalid value for header `Last-Event-ID`"),
            "{value}: {message}"
        );
    }
    assert_eq!(app.upstream_calls(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn last_event_id_is_ignored_without_a_resume_field() {
    let app = spawn_golden().await;
    let response = app
        .send(
            "GET",
            "/v1/echo/s:stream",
            &[SSE, ("last-event-id", "not a number")],
            None,
        )
        .await;
    assert_event_stream(&response);
    crate::helpers::assert_message(&app.last_upstream_request(), &golden_request(r#"id: "s""#));
}

#[tokio::test]
async fn heartbeats_fill_the_idle_time() {
    let app = spawn_golden_with(|config| config.sse_heartbeat = Duration::from_millis(50)).await;
    let response = app
        .send(
            "GET",
            "/v1/echo/w:watch",
            &[
                SSE,
                ("grpc-metadata-echo-stream-count", "2"),
                ("grpc-metadata-echo-stream-interval-ms", "400"),
            ],
            None,
        )
        .await;
    assert_event_stream(&response);
    let body = text(&response);
    let chunks: Vec<&str> = body.split_terminator("\n\n").collect();
    let first = chunks
        .iter()
        .position(|c| c.starts_with("id: 1\n"))
        .expect("event 1");
    let second = chunks
        .iter()
        .position(|c| c.starts_with("id: 2\n"))
        .expect("event 2");
    // 400 ms of silence before each event, heartbeats every 50 ms.
    for (from, to) in [(0, first), (first + 1, second)] {
        let heartbeats = chunks[from..to]
            .iter()
            .filter(|c| **c == ": keep-alive")
            .count();
        assert!(heartbeats >= 2, "{heartbeats} heartbeats in {body:?}");
        assert_eq!(
            heartbeats,
            to - from,
            "only heartbeats between events: {body:?}"
        );
    }
    assert_eq!(events(&body).len(), 2);

    // The default interval (15 s) sends none in a short stream.
    let app = spawn_golden().await;
    let response = app
        .send(
            "GET",
            "/v1/echo/w:watch",
            &[SSE, ("grpc-metadata-echo-stream-interval-ms", "100")],
            None,
        )
        .await;
    assert!(
        !text(&response).contains("keep-alive"),
        "{:?}",
        response.body
    );
}

#[tokio::test]
async fn streams_live_by_the_stream_deadline_not_the_request_deadline() {
    // Three events 150 ms apart outlast a 200 ms request deadline.
    let stream = [
        SSE,
        ("grpc-metadata-echo-stream-count", "3"),
        ("grpc-metadata-echo-stream-interval-ms", "150"),
    ];
    let app = spawn_golden_with(|config| {
        config.timeout = Duration::from_millis(200);
        config.stream_timeout = Duration::from_secs(10);
    })
    .await;
    let response = app.send("GET", "/v1/echo/w:watch", &stream, None).await;
    let body = text(&response);
    assert_eq!(events(&body).len(), 3, "{body:?}");
    assert!(!body.contains("event: error"), "{body:?}");

    // The upstream is told the stream deadline (10 s), not the request's (200 ms).
    let told = response
        .header("grpc-metadata-seen-grpc-timeout")
        .expect("the upstream saw a grpc-timeout");
    let (digits, unit) = told.split_at(told.len() - 1);
    let nanos_per_unit: u128 = match unit {
        "H" => 3_600_000_000_000,
        "M" => 60_000_000_000,
        "S" => 1_000_000_000,
        "m" => 1_000_000,
        "u" => 1_000,
        "n" => 1,
        other => panic!("unit {other:?} in {told}"),
    };
    let told =
        Duration::from_nanos((digits.parse::<u128>().expect("digits") * nanos_per_unit) as u64);
    assert!(told > Duration::from_secs(5), "grpc-timeout {told:?}");
}

#[tokio::test]
async fn a_failure_before_the_first_message_is_an_error_event() {
    let app = spawn_golden().await;
    let failing = [
        ("grpc-metadata-echo-status", "5"),
        ("grpc-metadata-echo-message", "no such stream"),
        ("x-request-id", "sse-1"),
    ];
    let mut headers = failing.to_vec();
    headers.push(SSE);
    let response = app.send("GET", "/v1/echo/s:stream", &headers, None).await;
    // 200, so that an EventSource reads the event; the status is in it.
    assert_event_stream(&response);
    assert_eq!(
        text(&response),
        "event: error\ndata: {\"code\":5,\"message\":\"no such stream\",\"details\":[]}\n\n"
    );
    assert_eq!(
        response.header("grpc-metadata-seen-x-request-id"),
        Some("sse-1")
    );
    // NDJSON keeps answering the HTTP status.
    let response = app.send("GET", "/v1/echo/s:stream", &failing, None).await;
    assert_eq!(response.assert_status(404, 5), "no such stream");
}

#[tokio::test]
async fn a_failure_mid_stream_is_the_last_event() {
    let app = spawn_golden().await;
    let response = app
        .send(
            "GET",
            "/v1/echo/w:watch",
            &[
                SSE,
                ("grpc-metadata-echo-stream-count", "5"),
                ("grpc-metadata-echo-stream-fail-after", "2"),
            ],
            None,
        )
        .await;
    assert_event_stream(&response);
    let body = text(&response);
    let events = events(&body);
    assert_eq!(events.len(), 3, "{body}");
    assert_eq!(events[0][0], "id: 1");
    assert_eq!(events[1][0], "id: 2");
    assert_eq!(
        events[2],
        [
            "event: error",
            "data: {\"code\":10,\"message\":\"stream broke after 2\",\"details\":[]}"
        ]
    );
}

/// Which protocol a raw connection speaks.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Http1,
    Http2,
}

#[tokio::test]
async fn a_client_going_away_cancels_the_upstream_call() {
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let app = spawn_golden().await;
        let stream = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("gateway listens");
        let io = TokioIo::new(stream);
        let request = http::Request::builder()
            .uri(format!("http://{}/v1/echo/w:watch", app.addr))
            .header("accept", "text/event-stream")
            // Forever, one message every 20 ms.
            .header("grpc-metadata-echo-stream-count", "0")
            .header("grpc-metadata-echo-stream-interval-ms", "20")
            .body(Empty::<Bytes>::new())
            .expect("valid request");
        let (response, connection) = match protocol {
            Protocol::Http1 => {
                let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
                    .await
                    .expect("HTTP/1.1 handshake");
                let connection = tokio::spawn(async move {
                    let _ = connection.await;
                });
                (sender.send_request(request).await, connection)
            }
            Protocol::Http2 => {
                let (mut sender, connection) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .expect("HTTP/2 handshake");
                let connection = tokio::spawn(async move {
                    let _ = connection.await;
                });
                (sender.send_request(request).await, connection)
            }
        };
        let mut body = response.expect("answered").into_body();
        let mut seen = Vec::new();
        while !seen.windows(2).any(|w| w == b"\n\n") {
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .expect("an event within 5 s")
                .expect("the stream goes on")
                .expect("the body reads");
            if let Ok(data) = frame.into_data() {
                seen.extend_from_slice(&data);
            }
        }
        assert!(seen.starts_with(b"id: 1\n"), "{protocol:?}: {seen:?}");
        assert_eq!(app.cancelled_streams(), 0, "{protocol:?}: still listening");

        // Going away: the body, then the connection.
        drop(body);
        connection.abort();
        let mut waited = Duration::ZERO;
        while app.cancelled_streams() == 0 {
            assert!(
                waited < Duration::from_secs(5),
                "{protocol:?}: the upstream still streams 5 s after the client left"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += Duration::from_millis(10);
        }
    }
}
