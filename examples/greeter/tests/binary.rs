//! The `greeter-example` binary end to end: it binds port 0 for both servers, prints the URLs,
//! answers through the gateway, and stops cleanly on SIGTERM.

#![cfg(unix)]

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Reads stdout lines until the one starting with `prefix`; returns the URL in it.
async fn url_after<R>(lines: &mut tokio::io::Lines<BufReader<R>>, prefix: &str) -> String
where
    R: tokio::io::AsyncRead + Unpin,
{
    loop {
        let line = lines
            .next_line()
            .await
            .expect("stdout is readable")
            .unwrap_or_else(|| panic!("stdout closed before `{prefix}`"));
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest
                .split_whitespace()
                .next()
                .expect("a URL follows")
                .to_owned();
        }
    }
}

#[tokio::test]
async fn binary_prints_its_urls_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_greeter-example"))
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let grpc = tokio::time::timeout(
        Duration::from_secs(30),
        url_after(&mut lines, "gRPC server listening on "),
    )
    .await
    .expect("the gRPC URL is printed");
    let gateway = url_after(&mut lines, "gateway listening on ").await;
    assert!(grpc.starts_with("http://127.0.0.1:"), "{grpc}");
    assert!(gateway.starts_with("http://127.0.0.1:"), "{gateway}");

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("{gateway}/v1/greeter/Ada?times=2")
        .parse()
        .expect("a valid URI");
    let response = client.get(uri).await.expect("the gateway answers");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body is readable")
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(
        json,
        serde_json::json!({"message": "Hello, Ada! Hello, Ada!"})
    );
    drop(client);

    let pid = child.id().expect("still running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the binary stops within 10 s of SIGTERM")
        .expect("the exit status is readable");
    assert!(status.success(), "{status}");
}
