//! The connection limits of `gateway::serve` over real sockets: a client that never sends its
//! request's head loses its connection after the header read timeout (a request being answered
//! does not), and connections beyond the limit wait until one closes.
//!
//! The waits below bound how long a test may hang before it fails; none asserts a speed.

use std::net::SocketAddr;
use std::time::Duration;

use gateway::serve::ServeOptions;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Longest a test waits for something that must happen.
const PATIENCE: Duration = Duration::from_secs(20);

async fn spawn_with(options: ServeOptions) -> TestApp {
    spawn_serving(ROUTES, pool(), |_| {}, options).await
}

/// Reads until the peer closes; `Err` when it is still open after `wait`.
async fn read_to_close(stream: &mut TcpStream, wait: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let outcome = tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    match outcome {
        Ok(()) => Ok(seen),
        Err(_) => Err(seen),
    }
}

/// Sends `GET path` on `stream` (keep-alive) and reads one whole response; returns its status.
async fn keep_alive_get(stream: &mut TcpStream, path: &str, headers: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: gateway\r\n{headers}\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..n]);
        if let Some(length) = complete_response_length(&seen) {
            assert_eq!(seen.len(), length, "one response only");
            break;
        }
    }
    let text = String::from_utf8_lossy(&seen);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"))
}

/// The length of the first response in `bytes` once it is complete (`Content-Length` framed).
fn complete_response_length(bytes: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(bytes).ok()?;
    let head_end = text.find("\r\n\r\n")? + 4;
    let length = text[..head_end]
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    (bytes.len() >= head_end + length).then_some(head_end + length)
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_sends_its_request_loses_the_connection_but_a_slow_answer_does_not() {
    let app = spawn_with(ServeOptions {
        header_read_timeout: Duration::from_millis(400),
        ..ServeOptions::default()
    })
    .await;

    // Nothing sent at all.
    let mut silent = connect(app.addr).await;
    read_to_close(&mut silent, PATIENCE)
        .await
        .expect("a silent connection is closed");

    // Half a request head, then nothing.
    let mut partial = connect(app.addr).await;
    partial
        .write_all(b"GET /v1/echo HTTP/1.1\r\nHost: gateway\r\n")
        .await
        .expect("send");
    read_to_close(&mut partial, PATIENCE)
        .await
        .expect("a half-sent head is closed");

    // A request whose upstream call takes longer than the header timeout is answered: the
    // timeout covers reading the head, not the answer.
    let mut slow = connect(app.addr).await;
    let status = keep_alive_get(
        &mut slow,
        "/v1/echo",
        "grpc-metadata-echo-sleep-ms: 1200\r\n",
    )
    .await;
    assert_eq!(status, 200);
    // ...and the idle keep-alive connection afterwards is closed like a silent one.
    read_to_close(&mut slow, PATIENCE)
        .await
        .expect("an idle keep-alive connection is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let app = spawn_with(ServeOptions {
        max_connections: Some(2),
        ..ServeOptions::default()
    })
    .await;
    let mut first = connect(app.addr).await;
    let mut second = connect(app.addr).await;
    assert_eq!(keep_alive_get(&mut first, "/v1/echo", "").await, 200);
    assert_eq!(keep_alive_get(&mut second, "/v1/echo", "").await, 200);

    // The third connects (the kernel's backlog takes it) but is not served while both are
    // open: its request stays unanswered.
    let mut third = connect(app.addr).await;
    third
        .write_all(b"GET /v1/echo HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .expect("send");
    let mut byte = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(
        waited.is_err(),
        "the third connection was served beyond the limit"
    );

    // One closes: the third is accepted and answered.
    drop(first);
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while complete_response_length(&answer).is_none() {
        let n = tokio::time::timeout(PATIENCE, third.read(&mut buffer))
            .await
            .expect("the third connection is served once one closes")
            .expect("read");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buffer[..n]);
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The second is still served on its kept-alive connection.
    assert_eq!(keep_alive_get(&mut second, "/v1/echo", "").await, 200);
}
