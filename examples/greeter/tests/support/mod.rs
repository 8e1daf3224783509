//! The test harness: the Greeter gRPC server on `127.0.0.1:0` (wrapped so that it records every
//! request it receives), the gateway router on `127.0.0.1:0` in front of it (`axum::serve` over
//! a real `TcpListener`), and a real HTTP/1.1 client (hyper-util's legacy client).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use greeter_example::GreeterService;
use greeter_example::pb::greeter_server::{Greeter, GreeterServer};
use greeter_example::pb::{
    SayHelloRequest, SayHelloResponse, SendGreetingRequest, SendGreetingResponse,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// [`GreeterService`] with a record of every request that reached it, as decoded by tonic: what
/// the gateway actually sent upstream.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: GreeterService,
    hellos: Mutex<Vec<SayHelloRequest>>,
    cards: Mutex<Vec<SendGreetingRequest>>,
}

impl Recorder {
    /// Every `SayHello` request received, in order.
    pub fn hellos(&self) -> Vec<SayHelloRequest> {
        self.hellos.lock().expect("not poisoned").clone()
    }

    /// Every `SendGreeting` request received, in order.
    pub fn cards(&self) -> Vec<SendGreetingRequest> {
        self.cards.lock().expect("not poisoned").clone()
    }
}

#[tonic::async_trait]
impl Greeter for Recorder {
    async fn say_hello(
        &self,
        request: Request<SayHelloRequest>,
    ) -> Result<Response<SayHelloResponse>, Status> {
        self.hellos
            .lock()
            .expect("not poisoned")
            .push(request.get_ref().clone());
        self.inner.say_hello(request).await
    }

    async fn send_greeting(
        &self,
        request: Request<SendGreetingRequest>,
    ) -> Result<Response<SendGreetingResponse>, Status> {
        self.cards
            .lock()
            .expect("not poisoned")
            .push(request.get_ref().clone());
        self.inner.send_greeting(request).await
    }
}

/// A response read to the end.
#[derive(Debug)]
pub struct TestResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body bytes.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a `google.rpc.Status` JSON error: this HTTP status, exactly the keys `code`,
    /// `message` and `details`, this gRPC code and no details. Returns the message.
    #[track_caller]
    pub fn assert_status(&self, http: u16, code: i64) -> String {
        assert_eq!(self.status, http, "body: {:?}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let json = self.json();
        let object = json.as_object().expect("the error body is a JSON object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "details", "message"], "{json}");
        assert_eq!(json["code"], code, "{json}");
        assert_eq!(json["details"], serde_json::json!([]), "{json}");
        json["message"]
            .as_str()
            .expect("message is a string")
            .to_owned()
    }
}

/// A running gRPC server + gateway pair; both stop when it is dropped.
pub struct TestApp {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    /// Where the gRPC server listens.
    pub grpc_addr: SocketAddr,
    /// The server's record of what reached it (absent when the app runs
    /// [`greeter_example::serve_grpc`] itself).
    recorder: Option<Arc<Recorder>>,
    client: Client<HttpConnector, Full<Bytes>>,
    _stop: Vec<oneshot::Sender<()>>,
}

/// Serves the gateway router in front of `grpc_addr` on `127.0.0.1:0`, stopped by the returned
/// sender (or its drop).
async fn spawn_gateway(grpc_addr: SocketAddr) -> (SocketAddr, oneshot::Sender<()>) {
    let router = greeter_example::gateway_router(greeter_example::lazy_channel(grpc_addr))
        .expect("the generated routes resolve");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the gateway");
    let addr = listener.local_addr().expect("gateway address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    (addr, stop)
}

/// Starts the recording Greeter server and the gateway in front of it.
pub async fn spawn_app() -> TestApp {
    let recorder = Arc::new(Recorder::default());
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the gRPC server");
    let grpc_addr = listener.local_addr().expect("gRPC address");
    let (grpc_stop, grpc_stopped) = oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(GreeterServer::from_arc(recorder.clone()))
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = grpc_stopped.await;
            }),
    );
    let (addr, gateway_stop) = spawn_gateway(grpc_addr).await;
    TestApp {
        addr,
        grpc_addr,
        recorder: Some(recorder),
        client: Client::builder(TokioExecutor::new()).build_http(),
        _stop: vec![grpc_stop, gateway_stop],
    }
}

/// Starts the servers exactly as the binary does: [`greeter_example::serve_grpc`] (Greeter and
/// health) and the gateway in front of it.
pub async fn spawn_library_app() -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the gRPC server");
    let grpc_addr = listener.local_addr().expect("gRPC address");
    let (grpc_stop, grpc_stopped) = oneshot::channel::<()>();
    tokio::spawn(greeter_example::serve_grpc(listener, async {
        let _ = grpc_stopped.await;
    }));
    let (addr, gateway_stop) = spawn_gateway(grpc_addr).await;
    TestApp {
        addr,
        grpc_addr,
        recorder: None,
        client: Client::builder(TokioExecutor::new()).build_http(),
        _stop: vec![grpc_stop, gateway_stop],
    }
}

impl TestApp {
    /// Sends a request (a JSON body when `body` is given) and reads the whole response.
    pub async fn send(&self, method: &str, path: &str, body: Option<&str>) -> TestResponse {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .expect("a valid request");
        let response = self
            .client
            .request(request)
            .await
            .expect("the gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body is readable")
            .to_bytes();
        TestResponse {
            status,
            headers,
            body,
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

    /// What reached the gRPC server.
    pub fn recorder(&self) -> &Recorder {
        self.recorder
            .as_deref()
            .expect("spawned with spawn_app, which records")
    }
}
