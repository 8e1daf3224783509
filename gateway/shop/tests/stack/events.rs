//! Live purchase status through the gateway: `GET /api/purchases/{id}:watch` as Server-Sent
//! Events fed by the purchase events on a real NATS JetStream server, resumed with
//! `Last-Event-ID`, as NDJSON without the `Accept` header; and a client that disconnects ends the
//! watch in the purchases service.

use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::helpers::{Stack, spawn_stack_with_events};

/// One SSE event as the client received it.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: serde_json::Value,
}

/// Reads Server-Sent Events off a streaming body (comments, i.e. heartbeats, skipped).
struct SseReader {
    body: Incoming,
    buffer: String,
}

impl SseReader {
    fn new(response: http::Response<Incoming>) -> Self {
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{:?}",
            response.headers()
        );
        Self {
            body: response.into_body(),
            buffer: String::new(),
        }
    }

    /// The next event, or `None` when the stream ended; panics after 10 s without one.
    async fn next(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(Duration::from_secs(10), self.next_event())
            .await
            .expect("an event (or the end) within 10 s")
    }

    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: None,
                    data: serde_json::Value::Null,
                };
                let mut data = None;
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id: ") {
                        event.id = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("event: ") {
                        event.event = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data = Some(value.to_owned());
                    }
                }
                if let Some(data) = data {
                    event.data = serde_json::from_str(&data).expect("data is one JSON value");
                    return Some(event);
                }
            }
            let frame = self.body.frame().await?.expect("the stream reads");
            if let Ok(bytes) = frame.into_data() {
                self.buffer
                    .push_str(std::str::from_utf8(&bytes).expect("SSE is UTF-8"));
            }
        }
    }
}

/// The status of the purchase in an event's data.
fn status(event: &SseEvent) -> &str {
    event.data["event"]["purchase"]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no purchase status in {event:?}"))
}

async fn buy(stack: &Stack) -> String {
    let user = stack.create_user("John Doe", "john@example.com").await;
    let product = stack.create_product("Laptop", 1299.99).await;
    let body = format!(
        r#"{{"user_id": {}, "product_id": {}}}"#,
        user["id"], product["id"]
    );
    let bought = stack.post("/api/purchases", &body).await;
    assert_eq!(bought.status, 200, "{:?}", bought.body);
    bought.json()["purchase"]["id"]
        .as_str()
        .expect("an int64 id")
        .to_owned()
}

async fn watchers(stack: &Stack) -> Option<f64> {
    let addr = stack.purchases.metrics_addr.expect("purchases metrics");
    let text = scrape(addr).await;
    text.lines().find_map(|line| {
        let value = line.strip_prefix("purchase_watchers ")?;
        value.trim().parse().ok()
    })
}

/// `GET /metrics` over a plain TCP connection.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("read");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_streams_as_server_sent_events_and_resumes_from_last_event_id() {
    let stack = spawn_stack_with_events().await;
    let id = buy(&stack).await;
    let path = format!("/api/purchases/{id}:watch");
    let sse = [("accept", "text/event-stream")];

    let mut events = SseReader::new(stack.open_stream(&path, &sse).await);
    let created = events.next().await.expect("created");
    let completed = events.next().await.expect("completed");
    assert_eq!(
        (created.id.as_deref(), status(&created)),
        (Some("1"), "PURCHASE_STATUS_PENDING")
    );
    assert_eq!(created.data["event"]["type"], "PURCHASE_EVENT_TYPE_CREATED");
    assert_eq!(created.data["sequence"], "1");
    assert_eq!(
        (completed.id.as_deref(), status(&completed)),
        (Some("2"), "PURCHASE_STATUS_COMPLETED")
    );
    // The refund arrives live on the open stream, which then ends (REFUNDED is final).
    let refund = stack
        .post(&format!("/api/purchases/{id}:refund"), "{}")
        .await;
    assert_eq!(refund.status, 200, "{:?}", refund.body);
    let refunded = events.next().await.expect("refunded");
    assert_eq!(
        (refunded.id.as_deref(), status(&refunded)),
        (Some("3"), "PURCHASE_STATUS_REFUNDED")
    );
    assert_eq!(events.next().await, None, "the stream ends after REFUNDED");

    // A reconnecting client sends the last id it saw and gets only what followed.
    let mut resumed = SseReader::new(
        stack
            .open_stream(&path, &[sse[0], ("last-event-id", "1")])
            .await,
    );
    let mut ids = Vec::new();
    while let Some(event) = resumed.next().await {
        ids.push(event.id.expect("an id"));
    }
    assert_eq!(ids, ["2", "3"]);
    let bad = stack
        .send_with(
            "GET",
            &path,
            &[sse[0], ("last-event-id", "yesterday")],
            None,
        )
        .await;
    let message = bad.assert_error(400, 3);
    assert!(message.contains("Last-Event-ID"), "{message}");

    // Without the Accept header: NDJSON, one message per line, as before.
    let ndjson = stack.get(&path).await;
    assert_eq!(ndjson.status, 200);
    let lines: Vec<serde_json::Value> = std::str::from_utf8(&ndjson.body)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let sequences: Vec<_> = lines.iter().map(|line| line["sequence"].clone()).collect();
    assert_eq!(sequences, ["1", "2", "3"]);

    let missing = stack
        .send_with("GET", "/api/purchases/999999:watch", &sse, None)
        .await;
    assert_eq!(
        missing.status, 200,
        "EventSource reads errors only from a 200 stream"
    );
    assert!(
        std::str::from_utf8(&missing.body)
            .expect("utf-8")
            .contains("event: error"),
        "{:?}",
        missing.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_ends_the_watch_in_the_service() {
    let stack = spawn_stack_with_events().await;
    let id = buy(&stack).await;
    // COMPLETED is not final: the stream stays open after the two events.
    let mut events = SseReader::new(
        stack
            .open_stream(
                &format!("/api/purchases/{id}:watch"),
                &[("accept", "text/event-stream")],
            )
            .await,
    );
    events.next().await.expect("created");
    events.next().await.expect("completed");
    assert_eq!(
        watchers(&stack).await,
        Some(1.0),
        "the service serves one watch"
    );

    drop(events);
    let start = Instant::now();
    while watchers(&stack).await != Some(0.0) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the disconnect never reached the purchases service"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
