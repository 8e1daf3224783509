//! `spawn_stack`: the users, products, payments and purchases services in-process, each on its
//! own fresh database (`shop_testkit::spawn_shop`), and the gateway serving the generated route
//! table in front of them, all on `127.0.0.1:0`; requests go through a real HTTP client.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gateway::{GatewayConfig, UpstreamSpec, Upstreams};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use shop_testkit::{RunningService, Shop, ShopOptions};
use test_support::NatsServer;
use tokio::sync::oneshot;

async fn until(stopped: oneshot::Receiver<()>) {
    let _ = stopped.await;
}

/// A response read to the end.
#[derive(Debug)]
pub struct TestResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body bytes.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts a `google.rpc.Status` error body with this HTTP status and gRPC code; returns the
    /// message.
    #[track_caller]
    pub fn assert_error(&self, http: u16, code: i64) -> String {
        assert_eq!(self.status, http, "body: {:?}", self.body);
        let json = self.json();
        assert_eq!(json["code"], code, "{json}");
        json["message"]
            .as_str()
            .expect("message is a string")
            .to_owned()
    }
}

/// The four services and the gateway in front of them.
pub struct Stack {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    pub users: RunningService,
    pub products: RunningService,
    pub purchases: RunningService,
    pub payments: RunningService,
    /// The NATS server of a stack with events ([`spawn_stack_with_events`]), kept running.
    _nats: Option<NatsServer>,
    client: Client<HttpConnector, Full<Bytes>>,
    _gateway: oneshot::Sender<()>,
}

/// Starts users, products, payments and purchases (each on a fresh database) and the gateway
/// serving the shop's generated routes (`shop_gateway::app`) with upstreams pointing at them.
pub async fn spawn_stack() -> Stack {
    spawn_stack_with(|_| {}).await
}

/// Like [`spawn_stack`], adjusting the gateway's configuration first.
pub async fn spawn_stack_with(configure: impl FnOnce(&mut GatewayConfig)) -> Stack {
    spawn_stack_of(None, configure).await
}

/// Like [`spawn_stack`], with purchase events on a NATS JetStream server of the stack's own:
/// purchases publishes them, products counts sales, `WatchPurchase` streams them.
pub async fn spawn_stack_with_events() -> Stack {
    let nats = NatsServer::start().expect("nats-server");
    spawn_stack_of(Some(nats), |_| {}).await
}

async fn spawn_stack_of(
    nats: Option<NatsServer>,
    configure: impl FnOnce(&mut GatewayConfig),
) -> Stack {
    let Shop {
        users,
        products,
        payments,
        purchases,
    } = shop_testkit::spawn_shop_with(ShopOptions {
        deadline: Duration::from_secs(5),
        events: nats
            .as_ref()
            .map(|nats| shop_common::events::EventsConfig::new(nats.url())),
        ..ShopOptions::default()
    })
    .await;

    let specs = [
        ("users.v1.UserService", users.addr),
        ("products.v1.ProductService", products.addr),
        ("purchases.v1.PurchaseService", purchases.addr),
    ]
    .map(|(service, addr)| UpstreamSpec {
        service: service.into(),
        uri: format!("http://{addr}"),
    });
    let mut config = GatewayConfig {
        upstreams: Upstreams::from_static(&specs).expect("valid upstreams"),
        ..GatewayConfig::default()
    };
    configure(&mut config);
    let router = shop_gateway::app(config).expect("routes resolve");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway address");
    // As the binary serves: TCP_NODELAY, so small responses do not wait for delayed ACKs.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(until(stopped))
            .await
    });

    Stack {
        addr,
        users,
        products,
        purchases,
        payments,
        _nats: nats,
        client: Client::builder(TokioExecutor::new()).build_http(),
        _gateway: stop,
    }
}

impl Stack {
    /// Sends a request (a JSON body when given) and reads the whole response.
    pub async fn send(&self, method: &str, path: &str, body: Option<&str>) -> TestResponse {
        self.send_bytes(method, path, body.map(|b| Bytes::from(b.to_owned())))
            .await
    }

    /// Sends raw body bytes as JSON.
    pub async fn send_bytes(&self, method: &str, path: &str, body: Option<Bytes>) -> TestResponse {
        self.send_with(method, path, &[], body).await
    }

    /// `POST path` with a JSON body and extra request `headers`.
    pub async fn post_with(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        self.send_with("POST", path, headers, Some(Bytes::from(body.to_owned())))
            .await
    }

    /// Sends a request with extra `headers` (and raw body bytes as JSON, when given).
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> TestResponse {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .expect("valid request");
        let response = self
            .client
            .request(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: the gateway does not answer: {e:?}"));
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body readable")
            .to_bytes();
        TestResponse { status, body }
    }

    /// `GET path` with `headers`, answered as soon as the response head arrives: the body is left
    /// to the caller to read as it streams (and dropping it disconnects).
    pub async fn open_stream(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> http::Response<hyper::body::Incoming> {
        let mut request = http::Request::builder()
            .method("GET")
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::default()).expect("valid request");
        self.client
            .request(request)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: the gateway does not answer: {e:?}"))
    }

    /// Sends one JSON request over a fresh connection and reads the answer even if writing the
    /// body failed: the gateway answers a body over its limit from the declared length at once
    /// (then drains the rest for a bounded time before closing), so a client may still be
    /// writing when the answer comes.
    pub async fn send_in_one_write(&self, method: &str, path: &str, body: &str) -> TestResponse {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect to the gateway");
        // The gateway may answer and close before all of a large body is written: the answer
        // is what counts, so a failed write is not an error here.
        let _ = stream.write_all(request.as_bytes()).await;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("response read");
        let text = String::from_utf8(raw).expect("a UTF-8 response");
        let (head, rest) = text.split_once("\r\n\r\n").expect("a complete response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(rest.len());
        TestResponse {
            status,
            body: Bytes::from(rest[..length].to_owned()),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send("GET", path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &str) -> TestResponse {
        self.send("POST", path, Some(body)).await
    }

    /// `POST /api/users`, expecting 200; returns the user's JSON.
    pub async fn create_user(&self, name: &str, email: &str) -> serde_json::Value {
        let body = serde_json::json!({ "name": name, "email": email }).to_string();
        let response = self.post("/api/users", &body).await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        response.json()
    }

    /// `POST /api/products`, expecting 200; returns the product's JSON.
    pub async fn create_product(&self, name: &str, price: f64) -> serde_json::Value {
        let body = serde_json::json!({ "name": name, "price": price }).to_string();
        let response = self.post("/api/products", &body).await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        response.json()
    }
}
