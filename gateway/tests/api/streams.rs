//! Streamed requests and raw bodies, on the generator's conformance fixture through real sockets:
//! client streams (newline-delimited JSON and JSON arrays, each message upstream as it arrives),
//! bidirectional streams over HTTP/2 and HTTP/1.1 (answers before the request body ends), and
//! `google.api.HttpBody` in and out.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost_reflect::DynamicMessage;

use crate::helpers::{TestApp, assert_message, golden_pool, golden_request, spawn_golden};

/// A request body the test writes to while the request is in flight.
type ChannelBody = StreamBody<mpsc::Receiver<Result<Frame<Bytes>, Infallible>>>;

/// A body fed through the returned sender; dropping the sender ends it.
fn channel_body() -> (mpsc::Sender<Result<Frame<Bytes>, Infallible>>, ChannelBody) {
    let (sender, receiver) = mpsc::channel(16);
    (sender, StreamBody::new(receiver))
}

async fn write(sender: &mut mpsc::Sender<Result<Frame<Bytes>, Infallible>>, text: &str) {
    sender
        .send(Ok(Frame::data(Bytes::from(text.to_owned()))))
        .await
        .expect("the request body is still being read");
}

/// Which protocol a raw connection speaks.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Http1,
    Http2,
}

/// Sends one request with a streamed body over a fresh connection; the response head once it
/// arrives (its body still streaming).
async fn start(
    app: &TestApp,
    protocol: Protocol,
    path: &str,
    content_type: &str,
    body: ChannelBody,
) -> tokio::task::JoinHandle<http::Response<Incoming>> {
    let stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("gateway listens");
    let io = TokioIo::new(stream);
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{}{path}", app.addr))
        .header("content-type", content_type)
        .body(body)
        .expect("valid request");
    match protocol {
        Protocol::Http1 => {
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("HTTP/1.1 handshake");
            tokio::spawn(connection);
            tokio::spawn(async move { sender.send_request(request).await.expect("answered") })
        }
        Protocol::Http2 => {
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .expect("HTTP/2 prior-knowledge handshake");
            tokio::spawn(connection);
            tokio::spawn(async move { sender.send_request(request).await.expect("answered") })
        }
    }
}

/// Waits (up to 5 s) until the echo server has received `n` messages.
async fn wait_for_upstream(app: &TestApp, n: usize) {
    for _ in 0..500 {
        if app.upstream_calls() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the upstream received {} messages, expected {n}",
        app.upstream_calls()
    );
}

/// Every message the echo server received, as `echo.v1.EchoRequest`s in the text format.
fn upstream_texts(app: &TestApp) -> Vec<String> {
    app.upstream_requests()
        .into_iter()
        .map(|bytes| {
            let desc = golden_pool()
                .get_message_by_name("echo.v1.EchoRequest")
                .expect("fixture type");
            DynamicMessage::decode(desc, bytes)
                .expect("a valid EchoRequest")
                .to_text_format()
        })
        .collect()
}

fn texts(messages: &[&str]) -> Vec<String> {
    messages
        .iter()
        .map(|text| golden_request(text).to_text_format())
        .collect()
}

/// Reads body frames until one line (ending in `\n`) is complete; returns it without the `\n`.
async fn read_line(body: &mut Incoming, buffer: &mut Vec<u8>) -> String {
    loop {
        if let Some(at) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=at).collect();
            return String::from_utf8(line[..at].to_vec()).expect("UTF-8");
        }
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("a response line within 5 s")
            .expect("the response has not ended")
            .expect("the response body reads");
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
    }
}

#[tokio::test]
async fn ndjson_client_stream_sends_each_line_upstream_as_it_arrives() {
    let app = spawn_golden().await;
    let (mut body, request) = channel_body();
    let answer = start(
        &app,
        Protocol::Http1,
        "/v1/echo/7:collect",
        "application/x-ndjson",
        request,
    )
    .await;
    write(&mut body, "{\"name\": \"a\"}\n").await;
    // The first line is upstream before the second is even written.
    wait_for_upstream(&app, 1).await;
    write(&mut body, "\n{\"name\": \"b\", \"count\": \"2\"}").await;
    write(&mut body, "\n").await;
    wait_for_upstream(&app, 2).await;
    drop(body);
    let response = answer.await.expect("request task");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("text"),
        "application/json"
    );
    let json: serde_json::Value = serde_json::from_slice(
        &response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    )
    .expect("JSON");
    // The echo answers with the last message; the path variable went into every message.
    assert_eq!(json["id"], "7");
    assert_eq!(json["name"], "b");
    assert_eq!(json["count"], "2");
    assert_eq!(
        upstream_texts(&app),
        texts(&[r#"id: "7" name: "a""#, r#"id: "7" name: "b" count: 2"#])
    );
}

#[tokio::test]
async fn json_array_client_stream_sends_each_element_in_order() {
    let app = spawn_golden().await;
    let response = app
        .post(
            "/v1/echo/8:collect",
            r#"[{"name": "a"}, {"name": "b, ]"}, {"tags": ["x", "y"]}]"#,
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.json()["tags"], serde_json::json!(["x", "y"]));
    assert_eq!(
        upstream_texts(&app),
        texts(&[
            r#"id: "8" name: "a""#,
            r#"id: "8" name: "b, ]""#,
            r#"id: "8" tags: "x" tags: "y""#,
        ])
    );
}

#[tokio::test]
async fn a_malformed_line_is_a_400_naming_it_and_nothing_more_goes_upstream() {
    let app = spawn_golden().await;
    let (mut body, request) = channel_body();
    let answer = start(
        &app,
        Protocol::Http1,
        "/v1/echo/7:collect",
        "application/x-ndjson",
        request,
    )
    .await;
    write(&mut body, "{\"name\": \"a\"}\n").await;
    wait_for_upstream(&app, 1).await;
    write(&mut body, "{\"nope\": 1}\n{\"name\": \"c\"}\n").await;
    let response = answer.await.expect("request task");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(status, 400, "{json}");
    assert_eq!(
        json,
        serde_json::json!({
            "code": 3,
            "message": "line 2: invalid JSON body: unrecognized field name 'nope' at line 1 column 7",
            "details": [],
        })
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(upstream_texts(&app), texts(&[r#"id: "7" name: "a""#]));
}

#[tokio::test]
async fn an_unclosed_json_array_is_a_400() {
    let app = spawn_golden().await;
    let response = app.post("/v1/echo/8:collect", r#"[{"name": "a"}"#).await;
    let message = response.assert_status(400, 3);
    assert_eq!(
        message,
        "invalid request stream: the JSON array is not closed"
    );
}

/// A bidirectional stream: each answer line arrives before the next request line is written.
async fn bidi(protocol: Protocol) {
    let app = spawn_golden().await;
    let (mut body, request) = channel_body();
    let answer = start(
        &app,
        protocol,
        "/v1/echo:chat",
        "application/x-ndjson",
        request,
    )
    .await;
    write(&mut body, "{\"id\": \"1\"}\n").await;
    let response = answer.await.expect("request task");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("text"),
        "application/x-ndjson"
    );
    let mut response = response.into_body();
    let mut buffer = Vec::new();
    let first: serde_json::Value =
        serde_json::from_str(&read_line(&mut response, &mut buffer).await).expect("JSON");
    assert_eq!(first["id"], "1");
    write(&mut body, "{\"id\": \"2\"}\n").await;
    let second: serde_json::Value =
        serde_json::from_str(&read_line(&mut response, &mut buffer).await).expect("JSON");
    assert_eq!(second["id"], "2");
    drop(body);
    let rest = response.collect().await.expect("body ends").to_bytes();
    assert_eq!(&buffer[..], b"");
    assert_eq!(rest, Bytes::new());
    assert_eq!(upstream_texts(&app), texts(&[r#"id: "1""#, r#"id: "2""#]));
}

#[tokio::test]
async fn bidi_stream_answers_before_the_request_ends_over_http2() {
    bidi(Protocol::Http2).await;
}

#[tokio::test]
async fn bidi_stream_answers_before_the_request_ends_over_http1_chunked() {
    bidi(Protocol::Http1).await;
}

#[tokio::test]
async fn http_body_request_and_response_are_raw_bytes_with_their_content_type() {
    let app = spawn_golden().await;
    let response = app
        .send(
            "POST",
            "/v1/raw",
            &[("content-type", "text/csv")],
            None::<&str>,
        )
        .await;
    // No body at all: an empty HttpBody with the content type.
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/csv"));
    assert_eq!(response.body, Bytes::new());

    let response = app
        .send_raw("POST", "/v1/raw", "text/csv", b"a,b\n1,2\n")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/csv"));
    assert_eq!(response.body, Bytes::from_static(b"a,b\n1,2\n"));
    let desc = golden_pool()
        .get_message_by_name("google.api.HttpBody")
        .expect("HttpBody is in the fixture's descriptors");
    let upstream = DynamicMessage::decode(desc.clone(), app.upstream_requests()[1].clone())
        .expect("an HttpBody");
    let expected =
        DynamicMessage::parse_text_format(desc, r#"content_type: "text/csv" data: "a,b\n1,2\n""#)
            .expect("valid text format");
    assert_message(&upstream, &expected);
}

#[tokio::test]
async fn an_http_body_field_takes_the_raw_body_and_is_the_raw_answer() {
    let app = spawn_golden().await;
    let png = b"\x89PNG\r\n\x1a\n\x00\xff";
    let response = app
        .send_raw("PUT", "/v1/uploads/9?label=cat", "image/png", png)
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("image/png"));
    assert_eq!(response.body, Bytes::from_static(png));
    let desc = golden_pool()
        .get_message_by_name("echo.v1.Upload")
        .expect("fixture type");
    let upstream = DynamicMessage::decode(desc.clone(), app.upstream_requests()[0].clone())
        .expect("an Upload");
    let expected = DynamicMessage::parse_text_format(
        desc,
        r#"id: "9" label: "cat" file { content_type: "image/png" data: "\211PNG\r\n\032\n\000\377" }"#,
    )
    .expect("valid text format");
    assert_message(&upstream, &expected);
}

#[tokio::test]
async fn a_server_stream_of_http_bodies_writes_each_message_data_in_turn() {
    let app = spawn_golden().await;
    let response = app
        .send_raw("POST", "/v1/raw:stream", "text/plain; charset=utf-8", b"ab")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // The echo streams the request back three times.
    assert_eq!(response.body, Bytes::from_static(b"ababab"));
}
