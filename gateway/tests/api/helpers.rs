//! The test harness: a generic gRPC echo server over a real socket (it answers every method of
//! `echo.v1.Echo` with the request bytes and records them), the gateway in front of it on
//! `127.0.0.1:0`, and a real HTTP client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use futures::StreamExt;
use futures::future::BoxFuture;
use gateway::spec::{BodySpec, HeaderSpec, List, PathParam, PathPattern, RouteSpec, Segment, Text};
use gateway::{GatewayConfig, UpstreamSpec, Upstreams};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tokio::sync::oneshot;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use tonic::{Code, Status};

use std::borrow::Cow::Borrowed as B;

use Segment::{Multi, Single};

const REQUEST: &str = "echo.v1.EchoRequest";

/// The defaults every test route shares: a unary `echo.v1.Echo/Echo` call.
const ECHO: RouteSpec = RouteSpec {
    operation_id: B(""),
    http_method: B("GET"),
    template: B(""),
    pattern: PathPattern {
        segments: B(&[]),
        verb: None,
    },
    grpc_service: B("echo.v1.Echo"),
    grpc_path: B("/echo.v1.Echo/Echo"),
    input_type: B(REQUEST),
    output_type: B(REQUEST),
    path_params: B(&[]),
    body: BodySpec::None,
    response_body: None,
    client_streaming: false,
    server_streaming: false,
    headers: B(&[]),
    compose: None,
    event_stream: None,
};

const fn one(field_path: List<Text>, first_segment: usize) -> PathParam {
    PathParam {
        field_path,
        first_segment,
        segment_count: Some(1),
    }
}

/// The route table under test (what the generator would emit for these bindings).
pub static ROUTES: &[RouteSpec] = &[
    RouteSpec {
        operation_id: B("Echo_Nested"),
        template: B("/v1/books/{book.shelf_id}/titles/{book.title}"),
        pattern: PathPattern {
            segments: B(&[
                Segment::Literal(B("v1")),
                Segment::Literal(B("books")),
                Single,
                Segment::Literal(B("titles")),
                Single,
            ]),
            verb: None,
        },
        path_params: B(&[
            one(B(&[B("book"), B("shelf_id")]), 2),
            one(B(&[B("book"), B("title")]), 4),
        ]),
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_Shelves"),
        template: B("/v1/{name=shelves/*/books/*}"),
        pattern: PathPattern {
            segments: B(&[
                Segment::Literal(B("v1")),
                Segment::Literal(B("shelves")),
                Single,
                Segment::Literal(B("books")),
                Single,
            ]),
            verb: None,
        },
        path_params: B(&[PathParam {
            field_path: B(&[B("name")]),
            first_segment: 1,
            segment_count: Some(4),
        }]),
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_Files"),
        template: B("/v1/files/{name=**}"),
        pattern: PathPattern {
            segments: B(&[
                Segment::Literal(B("v1")),
                Segment::Literal(B("files")),
                Multi,
            ]),
            verb: None,
        },
        path_params: B(&[PathParam {
            field_path: B(&[B("name")]),
            first_segment: 2,
            segment_count: None,
        }]),
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_Archive"),
        http_method: B("POST"),
        template: B("/v1/things/{id}:archive"),
        pattern: PathPattern {
            segments: B(&[
                Segment::Literal(B("v1")),
                Segment::Literal(B("things")),
                Single,
            ]),
            verb: Some(B("archive")),
        },
        path_params: B(&[one(B(&[B("id")]), 2)]),
        body: BodySpec::Whole,
        // Declared (`gateway.v1.header`): forwarded on this route only.
        headers: B(&[
            HeaderSpec {
                name: B("idempotency-key"),
                pattern: Some(B("^[!-~]{1,200}$")),
            },
            HeaderSpec {
                name: B("x-archive-reason"),
                pattern: None,
            },
        ]),
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_Create"),
        http_method: B("POST"),
        template: B("/v1/echo"),
        pattern: PathPattern {
            segments: B(&[Segment::Literal(B("v1")), Segment::Literal(B("echo"))]),
            verb: None,
        },
        body: BodySpec::Whole,
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_Query"),
        template: B("/v1/echo"),
        pattern: PathPattern {
            segments: B(&[Segment::Literal(B("v1")), Segment::Literal(B("echo"))]),
            verb: None,
        },
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_UpdateBook"),
        http_method: B("PUT"),
        template: B("/v1/books/{id}"),
        pattern: PathPattern {
            segments: B(&[
                Segment::Literal(B("v1")),
                Segment::Literal(B("books")),
                Single,
            ]),
            verb: None,
        },
        path_params: B(&[one(B(&[B("id")]), 2)]),
        body: BodySpec::Field(B("book")),
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_Book"),
        template: B("/v1/echo/{id}/book"),
        pattern: PathPattern {
            segments: B(&[
                Segment::Literal(B("v1")),
                Segment::Literal(B("echo")),
                Single,
                Segment::Literal(B("book")),
            ]),
            verb: None,
        },
        path_params: B(&[one(B(&[B("id")]), 2)]),
        response_body: Some(B("book")),
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_Tags"),
        template: B("/v1/echo/{id}/tags"),
        pattern: PathPattern {
            segments: B(&[
                Segment::Literal(B("v1")),
                Segment::Literal(B("echo")),
                Single,
                Segment::Literal(B("tags")),
            ]),
            verb: None,
        },
        path_params: B(&[one(B(&[B("id")]), 2)]),
        response_body: Some(B("tags")),
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_Big"),
        template: B("/v1/big/{big}/{color}/{at}"),
        pattern: PathPattern {
            segments: B(&[
                Segment::Literal(B("v1")),
                Segment::Literal(B("big")),
                Single,
                Single,
                Single,
            ]),
            verb: None,
        },
        path_params: B(&[
            one(B(&[B("big")]), 2),
            one(B(&[B("color")]), 3),
            one(B(&[B("at")]), 4),
        ]),
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Echo_EchoStream"),
        template: B("/v1/stream"),
        pattern: PathPattern {
            segments: B(&[Segment::Literal(B("v1")), Segment::Literal(B("stream"))]),
            verb: None,
        },
        grpc_path: B("/echo.v1.Echo/EchoStream"),
        server_streaming: true,
        ..ECHO
    },
    RouteSpec {
        operation_id: B("Down_Call"),
        template: B("/v1/down"),
        pattern: PathPattern {
            segments: B(&[Segment::Literal(B("v1")), Segment::Literal(B("down"))]),
            verb: None,
        },
        grpc_service: B("echo.v1.Down"),
        grpc_path: B("/echo.v1.Down/Call"),
        ..ECHO
    },
];

/// The fixture's descriptors, compiled in-process with protox once per test binary.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let encoded = protox::Compiler::new([fixtures])
            .expect("fixture dir exists")
            .include_imports(true)
            .open_file("echo/v1/echo.proto")
            .expect("fixture compiles")
            .encode_file_descriptor_set();
        DescriptorPool::decode(encoded.as_slice()).expect("fixture descriptors decode")
    })
}

/// A codec passing message bytes through unchanged.
#[derive(Debug, Clone, Copy, Default)]
struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Two details: a type the gateway's descriptors know (`echo.v1.Book`) and one they do not,
/// encoded as the `google.rpc.Status` of tonic-types (what a tonic upstream sends).
fn status_details(code: i32) -> Bytes {
    use prost::Message as _;
    use prost_reflect::prost_types::Any;
    let book = DynamicMessage::parse_text_format(
        pool()
            .get_message_by_name("echo.v1.Book")
            .expect("fixture type"),
        r#"title: "t""#,
    )
    .expect("valid text format");
    let status = tonic_types::pb::Status {
        code,
        message: String::new(),
        details: vec![
            Any {
                type_url: "type.googleapis.com/echo.v1.Book".into(),
                value: book.encode_to_vec(),
            },
            Any {
                type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
                value: vec![1, 2],
            },
        ],
    };
    Bytes::from(status.encode_to_vec())
}

/// Request metadata the echo server reports back as `seen-<key>` response metadata.
const REPORTED: &[&str] = &[
    "authorization",
    "x-request-id",
    "tenant",
    "grpc-timeout",
    "idempotency-key",
    "x-archive-reason",
];

/// The generic echo service. Behaviour is steered through request metadata (sent by the tests
/// as `Grpc-Metadata-*` headers): `echo-status`/`echo-message` answer with that status (`echo-details` adds details;
/// `echo-status-for: Method` limits it to that method), `echo-sleep-ms` delays the answer.
///
/// `Watch` (the conformance fixture's event stream) answers the request with `count` set to the
/// request's `count` + 1, + 2, ...: `echo-stream-count` messages (default 3; 0 for as long as
/// the caller listens), `echo-stream-interval-ms` apart (default 0), failing with ABORTED after
/// `echo-stream-fail-after` messages; a stream whose caller went away is counted in
/// [`TestApp::cancelled_streams`].
#[derive(Debug, Clone, Default)]
struct EchoServer<N> {
    seen: Arc<Mutex<Vec<Bytes>>>,
    flight: Arc<Flight>,
    cancelled: Arc<AtomicUsize>,
    name: std::marker::PhantomData<N>,
}

/// The steering of one `Watch` call, read from its metadata.
#[derive(Debug, Clone, Copy)]
struct WatchPlan {
    count: u64,
    interval: Duration,
    fail_after: Option<u64>,
}

impl WatchPlan {
    fn of(request: &tonic::Request<Bytes>) -> Self {
        let number = |key| metadata_str(request, key).and_then(|v| v.parse::<u64>().ok());
        WatchPlan {
            count: number("echo-stream-count").unwrap_or(3),
            interval: Duration::from_millis(number("echo-stream-interval-ms").unwrap_or(0)),
            fail_after: number("echo-stream-fail-after"),
        }
    }
}

/// `Watch`'s answers: `request` with `count` (field 8) set to the request's `count` + 1, + 2,
/// ... (appended: the last value of a singular field wins), fed by a task that counts in
/// `cancelled` a stream whose receiver went away (the gateway dropped the call).
fn watch(
    request: Bytes,
    plan: WatchPlan,
    cancelled: Arc<AtomicUsize>,
) -> tokio_stream::wrappers::ReceiverStream<Result<Bytes, Status>> {
    use prost_reflect::ReflectMessage as _;
    let start = golden_pool()
        .get_message_by_name(REQUEST)
        .and_then(|desc| DynamicMessage::decode(desc, request.clone()).ok())
        .and_then(|message| {
            message
                .descriptor()
                .get_field_by_name("count")
                .and_then(|field| message.get_field(&field).as_i64())
        })
        .unwrap_or(0);
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let mut sent = 0u64;
        loop {
            if plan.count != 0 && sent == plan.count {
                return;
            }
            tokio::time::sleep(plan.interval).await;
            let item = if plan.fail_after == Some(sent) {
                Err(Status::aborted(format!("stream broke after {sent}")))
            } else {
                sent += 1;
                let mut message = request.to_vec();
                let count = start + i64::try_from(sent).expect("small");
                prost::encoding::int64::encode(8, &count, &mut message);
                Ok(Bytes::from(message))
            };
            let failed = item.is_err();
            if sender.send(item).await.is_err() {
                cancelled.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if failed {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// How many calls the echo server is serving at once, and the most it ever served at once.
#[derive(Debug, Default)]
pub struct Flight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Flight {
    fn enter(self: &Arc<Self>) -> FlightGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        FlightGuard(self.clone())
    }
}

/// Leaves the flight when dropped.
struct FlightGuard(Arc<Flight>);

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The gateway's own fixture service (`tests/fixtures`).
#[derive(Debug, Clone, Default)]
struct FixtureEcho;

/// The generator's conformance fixture service (`build-support/tests/fixtures`).
#[derive(Debug, Clone, Default)]
struct GoldenEcho;

impl NamedService for EchoServer<FixtureEcho> {
    const NAME: &'static str = "echo.v1.Echo";
}

impl NamedService for EchoServer<GoldenEcho> {
    const NAME: &'static str = "echo.v1.EchoService";
}

fn metadata_str<'a>(request: &'a tonic::Request<Bytes>, key: &str) -> Option<&'a str> {
    request.metadata().get(key).and_then(|v| v.to_str().ok())
}

async fn echo(
    seen: Arc<Mutex<Vec<Bytes>>>,
    flight: Arc<Flight>,
    method: String,
    request: tonic::Request<Bytes>,
) -> Result<tonic::Response<Bytes>, Status> {
    let _flying = flight.enter();
    if let Some(ms) = metadata_str(&request, "echo-sleep-ms").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut reported = tonic::metadata::MetadataMap::new();
    for key in REPORTED {
        if let Some(value) = request.metadata().get(*key) {
            let name = format!("seen-{key}");
            let key =
                tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes()).expect("valid key");
            reported.insert(key, value.clone());
        }
    }
    let targeted = metadata_str(&request, "echo-status-for").is_none_or(|m| m == method);
    if let Some(code) = metadata_str(&request, "echo-status")
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|_| targeted)
    {
        let message = metadata_str(&request, "echo-message")
            .unwrap_or("")
            .to_owned();
        if request.metadata().get("echo-details").is_some() {
            return Err(Status::with_details_and_metadata(
                Code::from(code),
                message,
                status_details(code),
                reported,
            ));
        }
        return Err(Status::with_metadata(Code::from(code), message, reported));
    }
    let bytes = request.into_inner();
    seen.lock().expect("not poisoned").push(bytes.clone());
    let mut response = tonic::Response::new(bytes);
    *response.metadata_mut() = reported;
    response
        .metadata_mut()
        .insert("echo-served", MetadataValue::from_static("yes"));
    Ok(response)
}

impl<N> tower::Service<http::Request<tonic::body::Body>> for EchoServer<N> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let seen = self.seen.clone();
        let flight = self.flight.clone();
        let cancelled = self.cancelled.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(BytesCodec);
            let path = request.uri().path();
            let method = path.rsplit('/').next().unwrap_or_default().to_owned();
            let streaming = matches!(method.as_str(), "EchoStream" | "Stream" | "RawStream");
            let response = match method.as_str() {
                // Client streaming: records every message as it arrives; answers with the last.
                "Collect" => {
                    let service = tower::service_fn(
                        move |request: tonic::Request<tonic::Streaming<Bytes>>| {
                            let seen = seen.clone();
                            async move {
                                let mut messages = request.into_inner();
                                let mut last = Bytes::new();
                                while let Some(message) = messages.message().await? {
                                    seen.lock().expect("not poisoned").push(message.clone());
                                    last = message;
                                }
                                Ok::<_, Status>(tonic::Response::new(last))
                            }
                        },
                    );
                    grpc.client_streaming(service, request).await
                }
                // Bidirectional: records and answers every message as it arrives.
                "Chat" => {
                    let service = tower::service_fn(
                        move |request: tonic::Request<tonic::Streaming<Bytes>>| {
                            let seen = seen.clone();
                            async move {
                                let answers = request.into_inner().map(move |item| {
                                    if let Ok(message) = &item {
                                        seen.lock().expect("not poisoned").push(message.clone());
                                    }
                                    item
                                });
                                Ok::<_, Status>(tonic::Response::new(answers))
                            }
                        },
                    );
                    grpc.streaming(service, request).await
                }
                "Watch" => {
                    let service = tower::service_fn(move |request: tonic::Request<Bytes>| {
                        let (seen, flight, method) = (seen.clone(), flight.clone(), method.clone());
                        let cancelled = cancelled.clone();
                        async move {
                            let plan = WatchPlan::of(&request);
                            let response = echo(seen, flight, method, request).await?;
                            let (metadata, bytes, extensions) = response.into_parts();
                            let stream = watch(bytes, plan, cancelled);
                            Ok::<_, Status>(tonic::Response::from_parts(
                                metadata, stream, extensions,
                            ))
                        }
                    });
                    grpc.server_streaming(service, request).await
                }
                _ if streaming => {
                    let service = tower::service_fn(move |request: tonic::Request<Bytes>| {
                        let (seen, flight, method) = (seen.clone(), flight.clone(), method.clone());
                        async move {
                            let response = echo(seen, flight, method, request).await?;
                            let bytes = response.into_inner();
                            let items = vec![Ok(bytes.clone()), Ok(bytes.clone()), Ok(bytes)];
                            Ok::<_, Status>(tonic::Response::new(tokio_stream::iter(items)))
                        }
                    });
                    grpc.server_streaming(service, request).await
                }
                _ => {
                    let service = tower::service_fn(move |request: tonic::Request<Bytes>| {
                        echo(seen.clone(), flight.clone(), method.clone(), request)
                    });
                    grpc.unary(service, request).await
                }
            };
            Ok(response)
        })
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

    /// Asserts a google.rpc.Status error body with this HTTP status and gRPC code; returns the
    /// message.
    pub fn assert_status(&self, http: u16, code: i64) -> String {
        assert_eq!(self.status, http, "body: {:?}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let json = self.json();
        assert_eq!(json["code"], code, "{json}");
        assert_eq!(json["details"], serde_json::json!([]), "{json}");
        json["message"]
            .as_str()
            .expect("message is a string")
            .to_owned()
    }
}

/// A running echo server + gateway pair.
pub struct TestApp {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    pool: &'static DescriptorPool,
    seen: Arc<Mutex<Vec<Bytes>>>,
    flight: Arc<Flight>,
    cancelled: Arc<AtomicUsize>,
    client: Client<HttpConnector, Full<Bytes>>,
    _shutdown: Vec<oneshot::Sender<()>>,
}

/// Starts the echo server and a gateway in front of it with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], adjusting the configuration first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut GatewayConfig)) -> TestApp {
    spawn_table(ROUTES, pool(), configure).await
}

/// The generator's conformance fixture (`build-support/tests/fixtures`), generated once per test
/// binary by the generator itself: the runtime must serve exactly the table the generator builds
/// (the same values its golden file prints).
fn golden() -> &'static (Vec<RouteSpec>, DescriptorPool) {
    static GOLDEN: OnceLock<(Vec<RouteSpec>, DescriptorPool)> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let table = build_support::Generator::new()
            .proto_dir(format!("{root}/build-support/tests/fixtures"))
            .route_table()
            .expect("the conformance fixture generates");
        let pool = DescriptorPool::decode(table.descriptor_set.as_slice())
            .expect("generated descriptors decode");
        (table.routes, pool)
    })
}

/// The conformance fixture's route table, as the generator builds it.
pub fn golden_routes() -> &'static [RouteSpec] {
    &golden().0
}

/// The conformance fixture's descriptors.
pub fn golden_pool() -> &'static DescriptorPool {
    &golden().1
}

/// Starts the echo server and a gateway serving the generator's route table for the
/// conformance fixture.
pub async fn spawn_golden() -> TestApp {
    spawn_golden_with(|_| {}).await
}

/// Like [`spawn_golden`], adjusting the configuration first.
pub async fn spawn_golden_with(configure: impl FnOnce(&mut GatewayConfig)) -> TestApp {
    spawn_table(golden_routes(), golden_pool(), configure).await
}

/// Starts the echo server (both fixture services) and a gateway serving `routes`.
pub async fn spawn_table(
    routes: &'static [RouteSpec],
    pool: &'static DescriptorPool,
    configure: impl FnOnce(&mut GatewayConfig),
) -> TestApp {
    spawn_serving(
        routes,
        pool,
        configure,
        gateway::serve::ServeOptions::default(),
    )
    .await
}

/// [`spawn_table`] served with the given connection limits (`gateway::serve`, as the binary
/// serves).
pub async fn spawn_serving(
    routes: &'static [RouteSpec],
    pool: &'static DescriptorPool,
    configure: impl FnOnce(&mut GatewayConfig),
    serve_options: gateway::serve::ServeOptions,
) -> TestApp {
    let echo = EchoServer::<FixtureEcho>::default();
    let seen = echo.seen.clone();
    let flight = echo.flight.clone();
    let cancelled = echo.cancelled.clone();
    let golden_echo = EchoServer::<GoldenEcho> {
        seen: seen.clone(),
        flight: flight.clone(),
        cancelled: cancelled.clone(),
        name: std::marker::PhantomData,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind echo");
    let echo_addr = listener.local_addr().expect("echo address");
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("echo.v1.Echo", tonic_health::ServingStatus::Serving)
        .await;
    let (echo_stop, echo_stopped) = oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(echo)
            .add_service(golden_echo)
            .add_service(health_service)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = echo_stopped.await;
                },
            ),
    );

    // A port nothing listens on: bound, then released.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let closed_addr = closed.local_addr().expect("address");
    drop(closed);

    let specs = [
        UpstreamSpec {
            service: "echo.v1.Echo".into(),
            uri: format!("http://{echo_addr}"),
        },
        UpstreamSpec {
            service: "echo.v1.EchoService".into(),
            uri: format!("http://{echo_addr}"),
        },
        UpstreamSpec {
            service: "echo.v1.Down".into(),
            uri: format!("http://{closed_addr}"),
        },
    ];
    let mut config = GatewayConfig {
        upstreams: Upstreams::from_static(&specs).expect("valid upstreams"),
        ..GatewayConfig::default()
    };
    configure(&mut config);
    let router = gateway::app(config, routes, pool).expect("routes resolve");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway address");
    // Served as the binary serves (TCP_NODELAY, header read timeout, connection limit).
    let (gateway_stop, gateway_stopped) = oneshot::channel::<()>();
    tokio::spawn(gateway::serve::serve(
        listener,
        router,
        serve_options,
        async {
            let _ = gateway_stopped.await;
        },
    ));

    TestApp {
        addr,
        pool,
        seen,
        flight,
        cancelled,
        client: Client::builder(TokioExecutor::new()).build_http(),
        _shutdown: vec![echo_stop, gateway_stop],
    }
}

impl TestApp {
    /// Sends a request and reads the whole response.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
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
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .expect("valid request");
        let response = self.client.request(request).await.expect("gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body readable")
            .to_bytes();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// Sends raw `body` bytes as `content_type` and reads the whole response.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> TestResponse {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("content-type", content_type)
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("valid request");
        let response = self.client.request(request).await.expect("gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body readable")
            .to_bytes();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send("GET", path, &[], None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &str) -> TestResponse {
        self.send("POST", path, &[], Some(body)).await
    }

    /// The last message the echo server received, decoded with the fixture's descriptors.
    pub fn last_upstream_request(&self) -> DynamicMessage {
        let seen = self.seen.lock().expect("not poisoned");
        let bytes = seen.last().expect("the upstream was called").clone();
        let desc = self
            .pool
            .get_message_by_name(REQUEST)
            .expect("fixture type");
        DynamicMessage::decode(desc, bytes).expect("a valid EchoRequest")
    }

    /// How many requests reached the echo server.
    pub fn upstream_calls(&self) -> usize {
        self.seen.lock().expect("not poisoned").len()
    }

    /// The most calls the echo server was ever serving at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.flight.max.load(Ordering::SeqCst)
    }

    /// How many `Watch` streams the echo server saw their caller abandon (its sender failed).
    pub fn cancelled_streams(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Every message the echo server answered, in arrival order.
    pub fn upstream_requests(&self) -> Vec<Bytes> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

/// Builds an expected `echo.v1.EchoRequest` of the gateway's fixture from its protobuf text
/// format: independent of the JSON mapping under test.
pub fn echo_request(text: &str) -> DynamicMessage {
    let desc = pool().get_message_by_name(REQUEST).expect("fixture type");
    DynamicMessage::parse_text_format(desc, text).expect("valid text format")
}

/// [`echo_request`] for the generator's conformance fixture.
pub fn golden_request(text: &str) -> DynamicMessage {
    let desc = golden_pool()
        .get_message_by_name(REQUEST)
        .expect("fixture type");
    DynamicMessage::parse_text_format(desc, text).expect("valid text format")
}

/// Asserts two messages are equal, showing both in the text format on failure (and treating
/// NaN as equal to itself, as the text format does).
#[track_caller]
pub fn assert_message(actual: &DynamicMessage, expected: &DynamicMessage) {
    assert_eq!(actual.to_text_format(), expected.to_text_format());
}
