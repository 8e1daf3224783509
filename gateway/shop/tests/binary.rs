//! The `shop-gateway` binary: prints where it listens, serves, stops cleanly on SIGTERM, and refuses
//! bad configuration with a one-line reason.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_shop-gateway");

#[tokio::test]
async fn prints_its_address_serves_and_stops_on_sigterm() {
    let mut child = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0"])
        .args(["--upstream", "users.v1.UserService=http://127.0.0.1:1"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    let addr: std::net::SocketAddr = url["http://".len()..].parse().expect("an address");

    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let request = http::Request::get("/api/users/1")
        .header("host", "gateway")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    // The upstream address is closed: the generated route answers 503.
    assert_eq!(response.status(), 503);
    drop(sender);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joined")
        .expect("waited");
    assert!(exit.success(), "{exit:?}");
    drop(stdout);
}

#[test]
fn bad_configuration_exits_non_zero_with_a_reason() {
    let output = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0", "--timeout", "soon"])
        .output()
        .expect("binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--timeout"), "{stderr}");

    let output = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0", "--upstream", "no-equals-sign"])
        .output()
        .expect("binary runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("service=uri"));
}

#[tokio::test]
async fn the_generated_shop_table_resolves_against_its_descriptors() {
    let router = shop_gateway::app(gateway::GatewayConfig::default());
    assert!(router.is_ok(), "every generated route resolves");
    assert_eq!(
        shop_gateway::routes::ROUTES.len(),
        12,
        "the shop's twelve bindings"
    );
    let refund = shop_gateway::routes::ROUTES
        .iter()
        .find(|route| route.operation_id == "PurchaseService_RefundPurchase")
        .expect("the refund binding");
    assert_eq!(
        (&*refund.http_method, &*refund.template),
        ("POST", "/api/purchases/{id}:refund")
    );
}

#[test]
fn a_reserved_forward_header_exits_non_zero_naming_it() {
    let output = Command::new(BINARY)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--forward-header",
            "grpc-timeout",
        ])
        .output()
        .expect("binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("grpc-timeout"), "{stderr}");
}

#[test]
fn idempotency_key_is_declared_on_the_purchase_and_refund_routes_only() {
    for route in shop_gateway::routes::ROUTES {
        let declared: Vec<&str> = route.headers.iter().map(|h| &*h.name).collect();
        let expected: &[&str] = match &*route.operation_id {
            "PurchaseService_CreatePurchase" | "PurchaseService_RefundPurchase" => {
                &["idempotency-key"]
            }
            _ => &[],
        };
        assert_eq!(declared, expected, "{}", route.operation_id);
    }
    // And documented: generated clients and Swagger UI offer it.
    let document: serde_json::Value =
        serde_json::from_str(shop_gateway::OPENAPI_JSON).expect("valid JSON");
    for (path, what) in [
        ("/api/purchases", "purchase"),
        ("/api/purchases/{id}:refund", "refund"),
    ] {
        let parameters = document["paths"][path]["post"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has parameters"));
        let header = parameters
            .iter()
            .find(|p| p["in"] == "header")
            .unwrap_or_else(|| panic!("{path} declares a header"));
        assert_eq!(header["name"], "Idempotency-Key");
        assert_eq!(header["required"], false);
        let description = header["description"].as_str().expect("described");
        assert!(
            description.contains(&format!("retried {what} run once"))
                && description.contains("24 hours"),
            "{description}"
        );
    }
}
