//! Metrics (README.md, "Metrics"): a real Prometheus (Debian's `prometheus` package) scrapes the
//! gateway and the users service of a live stack, and its HTTP API shows the counters the
//! requests moved, labelled by route template and gRPC method; and `/metrics` stays small
//! under requests to 10,000 distinct paths.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::helpers::spawn_stack;

/// The Prometheus server binary: `$PROMETHEUS`, else `prometheus` on the PATH, else Debian's
/// `/usr/bin/prometheus`. Missing is a failure, not a skip (`.ci/run` installs it).
fn prometheus_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PROMETHEUS") {
        return path.into();
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("prometheus"))
            .find(|candidate| candidate.is_file())
    });
    let binary = on_path.unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus"));
    assert!(
        binary.is_file(),
        "no Prometheus server binary (install Debian's `prometheus` package, as .ci/run does)"
    );
    binary
}

/// A Prometheus server on a free port, scraping `targets` (job name, address) every 200 ms;
/// killed when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    fn start(targets: &[(&str, SocketAddr)]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "shop-prometheus-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("prometheus directory");
        let mut config = String::from(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n",
        );
        for (job, addr) in targets {
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n"
            ));
        }
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).expect("prometheus config");
        let addr = free_port();
        let child = Command::new(prometheus_binary())
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log file"))
            .spawn()
            .expect("start prometheus");
        Self { child, addr, dir }
    }

    /// The answer to an instant PromQL query (`/api/v1/query`): `(labels, value)` per series.
    async fn query(&self, promql: &str) -> Option<Vec<(Value, f64)>> {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = http::Request::post(format!("http://{}/api/v1/query", self.addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(format!(
                "query={}",
                form_encode(promql)
            ))))
            .expect("valid request");
        let response = client.request(request).await.ok()?;
        let body = response.into_body().collect().await.ok()?.to_bytes();
        let json: Value = serde_json::from_slice(&body).ok()?;
        let series = json["data"]["result"].as_array()?;
        Some(
            series
                .iter()
                .map(|s| {
                    let value = s["value"][1].as_str().and_then(|v| v.parse().ok());
                    (s["metric"].clone(), value.unwrap_or(f64::NAN))
                })
                .collect(),
        )
    }

    /// Polls `promql` until its answer, reduced to `(label value of `by`, value)` pairs sorted,
    /// equals `expected`; panics with the last answer after 20 s.
    async fn wait_for(&self, promql: &str, by: &str, expected: &[(&str, f64)]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = None;
        loop {
            if let Some(answer) = self.query(promql).await {
                let mut got: Vec<(String, f64)> = answer
                    .iter()
                    .map(|(labels, v)| (labels[by].as_str().unwrap_or("").to_owned(), *v))
                    .collect();
                got.sort_by(|a, b| a.0.cmp(&b.0));
                let want: Vec<(String, f64)> = expected
                    .iter()
                    .map(|(l, v)| ((*l).to_owned(), *v))
                    .collect();
                if got == want {
                    eprintln!("prometheus answered `{promql}`: {got:?}");
                    return;
                }
                last = Some(got);
            }
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
                panic!(
                    "`{promql}` never answered {expected:?}; last answer {last:?}\nprometheus log:\n{log}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nobody listens on now.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("address")
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_route_templates_and_grpc_methods() {
    let stack = spawn_stack().await;
    let users_metrics = stack
        .users
        .metrics_addr
        .expect("the testkit serves metrics");
    let prometheus = Prometheus::start(&[("gateway", stack.addr), ("users", users_metrics)]);

    let user = stack.create_user("Ada", "ada@example.com").await;
    let id = user["id"].as_str().expect("id");
    for _ in 0..3 {
        assert_eq!(stack.get(&format!("/api/users/{id}")).await.status, 200);
    }
    assert_eq!(stack.get("/api/users/424242").await.status, 404);
    assert_eq!(stack.get("/no/such/route").await.status, 404);

    // The gateway, by route template (not the paths above) and status class.
    prometheus
        .wait_for(
            r#"sum by (code) (gateway_http_requests_total{job="gateway", template="/api/users/{id}", method="GET"})"#,
            "code",
            &[("2xx", 3.0), ("4xx", 1.0)],
        )
        .await;
    prometheus
        .wait_for(
            r#"sum by (template) (gateway_http_requests_total{job="gateway", template=~"unmatched|/api/users"})"#,
            "template",
            &[("/api/users", 1.0), ("unmatched", 1.0)],
        )
        .await;
    // The gateway's upstream calls, by gRPC method and code.
    prometheus
        .wait_for(
            r#"sum by (grpc_code) (gateway_upstream_requests_total{job="gateway", grpc_service="users.v1.UserService", grpc_method="GetUser"})"#,
            "grpc_code",
            &[("NOT_FOUND", 1.0), ("OK", 3.0)],
        )
        .await;
    // The users service, by gRPC method and code, and its pool.
    prometheus
        .wait_for(
            r#"sum by (grpc_code) (grpc_server_handled_total{job="users", grpc_method="GetUser"})"#,
            "grpc_code",
            &[("NOT_FOUND", 1.0), ("OK", 3.0)],
        )
        .await;
    prometheus
        .wait_for(
            r#"grpc_server_handling_seconds_count{job="users", grpc_method="CreateUser"}"#,
            "grpc_method",
            &[("CreateUser", 1.0)],
        )
        .await;
    prometheus
        .wait_for(
            r#"db_pool_max_connections{job="users"}"#,
            "job",
            &[("users", 10.0)],
        )
        .await;
}

/// `GET http://addr/metrics`: the body, and its sample lines (no comments).
async fn scrape(addr: SocketAddr) -> (String, usize) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client
        .get(format!("http://{addr}/metrics").parse().expect("uri"))
        .await
        .expect("metrics answer");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).expect("UTF-8");
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    (text, samples)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_stay_bounded_under_ten_thousand_distinct_ids() {
    let stack = spawn_stack().await;
    // 10,000 distinct paths: ids no user has (a database lookup each) and paths no route
    // matches, some with made-up methods.
    let answered = futures::stream::iter(0..10_000u32)
        .map(|n| {
            let stack = &stack;
            async move {
                match n % 4 {
                    0 | 1 => stack.get(&format!("/api/users/{}", 1_000_000 + n)).await,
                    2 => stack.get(&format!("/unknown/{n}")).await,
                    _ => stack.send(&format!("M{n}"), &format!("/x/{n}"), None).await,
                }
            }
        })
        .buffer_unordered(32)
        .filter(|r| futures::future::ready(r.status == 404 || r.status == 405))
        .count()
        .await;
    assert!(answered > 9_000, "{answered} answered 404/405");

    let (gateway, gateway_samples) = scrape(stack.addr).await;
    let (users, users_samples) = scrape(stack.users.metrics_addr.expect("metrics")).await;
    for text in [&gateway, &users] {
        for id in ["1000004", "/unknown/", "M3", "/x/"] {
            assert!(!text.contains(id), "`{id}` became a label:\n{text}");
        }
    }
    assert!(
        gateway_samples < 300,
        "{gateway_samples} samples:\n{gateway}"
    );
    assert!(users_samples < 300, "{users_samples} samples:\n{users}");
    assert!(
        gateway.contains(r#"template="/api/users/{id}""#),
        "{gateway}"
    );
    assert!(
        gateway.contains(r#"method="OTHER",template="unmatched""#),
        "{gateway}"
    );
    // Half of the 10,000 were user lookups: 5,000 NOT_FOUND, one series.
    assert!(
        users.contains(
            r#"grpc_server_handled_total{grpc_service="users.v1.UserService",grpc_method="GetUser",grpc_code="NOT_FOUND"} 5000"#
        ),
        "{users}"
    );
}
