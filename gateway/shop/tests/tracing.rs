//! W3C trace context end to end: one `POST /api/purchases` carrying a known `traceparent`
//! through the real `shop-gateway` binary to purchases, which calls users, products and
//! payments, every one a process of its own exporting spans over OTLP to a receiver in this
//! test. The spans of all five processes (told apart by their `service.name` resource) share
//! the trace id, each hop's server span is the child of a span of its caller, and each
//! process's log output names the trace id.
//!
//! The services are real processes: this test binary started again with `TRACING_CHILD` set
//! runs only [`child_service`], which serves the named service with the services' own
//! subscriber set-up (`shop_common::telemetry::init_tracing`) until SIGTERM, then flushes its
//! spans. (The services' binaries are not built for another package's tests.)

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use shop_common::names::{PAYMENTS_SERVICE, PRODUCTS_SERVICE, PURCHASES_SERVICE, USERS_SERVICE};
use shop_common::{DatabaseConfig, LogFormat, ServiceConfig};
use shop_testkit::{ShopOptions, UpstreamAddrs};
use test_support::{ChildProcess, TestDatabase};
use tokio::process::Command;

const GATEWAY: &str = env!("CARGO_BIN_EXE_shop-gateway");
/// The trace and parent span the client sends.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// The child's environment: which service it runs, where, on which database, and (purchases)
/// its upstreams' addresses (`users,products,payments`).
const CHILD: &str = "TRACING_CHILD";
const CHILD_LISTEN: &str = "TRACING_LISTEN";
const CHILD_DATABASE: &str = "TRACING_DATABASE_URL";
const CHILD_UPSTREAMS: &str = "TRACING_UPSTREAMS";

/// Not a test of its own: the body of a child process. Does nothing unless `TRACING_CHILD`
/// names a service.
#[test]
fn child_service() -> anyhow::Result<()> {
    let Ok(service) = std::env::var(CHILD) else {
        return Ok(());
    };
    let name: &'static str = match service.as_str() {
        USERS_SERVICE => USERS_SERVICE,
        PRODUCTS_SERVICE => PRODUCTS_SERVICE,
        PAYMENTS_SERVICE => PAYMENTS_SERVICE,
        PURCHASES_SERVICE => PURCHASES_SERVICE,
        other => anyhow::bail!("unknown child service {other}"),
    };
    let config = ServiceConfig {
        listen_addr: std::env::var(CHILD_LISTEN)?.parse()?,
        database: DatabaseConfig::new(std::env::var(CHILD_DATABASE)?),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let telemetry = shop_common::telemetry::init_tracing(name, LogFormat::Text)?;
        anyhow::ensure!(
            telemetry.is_exporting(),
            "OTEL_EXPORTER_OTLP_ENDPOINT is not set"
        );
        let stop = shop_common::shutdown_signal();
        let served = match name {
            USERS_SERVICE => {
                users_service::Application::build(config)
                    .await?
                    .run_until(stop)
                    .await
            }
            PRODUCTS_SERVICE => {
                products_service::Application::build(config)
                    .await?
                    .run_until(stop)
                    .await
            }
            PAYMENTS_SERVICE => {
                let service =
                    payments_service::PaymentsService::new(ShopOptions::default().payments)?;
                shop_common::Application::build_with(config, service)
                    .await?
                    .run_until(stop)
                    .await
            }
            _ => {
                let addrs: Vec<SocketAddr> = std::env::var(CHILD_UPSTREAMS)?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
                let [users, products, payments] = addrs[..] else {
                    anyhow::bail!("{CHILD_UPSTREAMS} needs three addresses");
                };
                let upstreams = UpstreamAddrs {
                    users,
                    products,
                    payments,
                };
                let config = shop_testkit::purchases_config(
                    config.listen_addr,
                    config.database,
                    upstreams,
                    &ShopOptions::default(),
                );
                purchases_service::Application::build(config)
                    .await?
                    .into_inner()
                    .run_until(stop)
                    .await
            }
        };
        telemetry.shutdown().await?;
        served
    })
}

/// One exported span, as much of it as the assertions need.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

/// The OTLP/gRPC receiver: keeps every span it is sent.
#[derive(Debug, Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map(|value| match value {
                    Value::StringValue(name) => name.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    received.push(ReceivedSpan {
                        service: service.clone(),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                    });
                }
            }
        }
        self.spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts `service` as a child process on `database` and waits until it reports SERVING.
async fn start_service(
    service: &'static str,
    database: &str,
    otlp: SocketAddr,
    upstreams: Option<String>,
) -> (ChildProcess, SocketAddr) {
    let port = test_support::free_port().expect("free port");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let mut command = Command::new(std::env::current_exe().expect("the test binary's own path"));
    command
        .args([
            "child_service",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, service)
        .env(CHILD_LISTEN, addr.to_string())
        .env(CHILD_DATABASE, database)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_SERVICE_NAME")
        // The per-call debug line gives every service a log line inside the request.
        .env("RUST_LOG", "info,telemetry=debug");
    if let Some(upstreams) = upstreams {
        command.env(CHILD_UPSTREAMS, upstreams);
    }
    let process = ChildProcess::spawn(service, command).expect("start the child service");
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).expect("uri");
    let deadline = Instant::now() + Duration::from_secs(60);
    let channel = loop {
        match endpoint.connect().await {
            Ok(channel) => break channel,
            Err(err) => assert!(
                Instant::now() < deadline,
                "{service} never listened: {err}\n{}",
                process.output()
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    test_support::wait_until_serving(channel, "", Duration::from_secs(60))
        .await
        .expect("serving");
    (process, addr)
}

/// Starts the gateway binary in front of users, products and purchases.
async fn start_gateway(
    otlp: SocketAddr,
    users: SocketAddr,
    products: SocketAddr,
    purchases: SocketAddr,
) -> (ChildProcess, SocketAddr) {
    let mut command = Command::new(GATEWAY);
    command
        .args(["--listen", "127.0.0.1:0"])
        .args([
            "--upstream",
            &format!("users.v1.UserService=http://{users}"),
        ])
        .args([
            "--upstream",
            &format!("products.v1.ProductService=http://{products}"),
        ])
        .args([
            "--upstream",
            &format!("purchases.v1.PurchaseService=http://{purchases}"),
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_SERVICE_NAME")
        .env("RUST_LOG", "info");
    let mut process = ChildProcess::spawn("shop-gateway", command).expect("the gateway starts");
    let addr = process
        .wait_for_listening_address(Duration::from_secs(60))
        .await
        .expect("the gateway listens");
    (process, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_traceparent_one_trace_across_the_gateway_and_the_services() {
    // The receiver.
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let otlp = listener.local_addr().expect("address");
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(receiver.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    let receiver_task = tokio::spawn(server);

    // The services, each a process on its own database, then the gateway.
    let dbs = [
        TestDatabase::create().await.expect("users db"),
        TestDatabase::create().await.expect("products db"),
        TestDatabase::create().await.expect("payments db"),
        TestDatabase::create().await.expect("purchases db"),
    ];
    let (users, users_addr) = start_service(USERS_SERVICE, dbs[0].url(), otlp, None).await;
    let (products, products_addr) = start_service(PRODUCTS_SERVICE, dbs[1].url(), otlp, None).await;
    let (payments, payments_addr) = start_service(PAYMENTS_SERVICE, dbs[2].url(), otlp, None).await;
    let (purchases, purchases_addr) = start_service(
        PURCHASES_SERVICE,
        dbs[3].url(),
        otlp,
        Some(format!("{users_addr},{products_addr},{payments_addr}")),
    )
    .await;
    let (gateway, gateway_addr) =
        start_gateway(otlp, users_addr, products_addr, purchases_addr).await;

    let connect = |addr: SocketAddr| async move {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    };
    let user =
        shop_testkit::create_user(&connect(users_addr).await, "Ada", "ada@example.com").await;
    let product = shop_testkit::create_product(&connect(products_addr).await, "Lamp", 12.5).await;

    // The one request, with the client's trace context.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let body =
        serde_json::json!({"user_id": user.id.to_string(), "product_id": product.id.to_string()});
    let request = http::Request::post(format!("http://{gateway_addr}/api/purchases"))
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"))
        .header("tracestate", "shop=test")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(status, 200, "{body:?}");

    // Every process stops cleanly, flushing its spans.
    let mut logs = BTreeMap::new();
    for process in [gateway, purchases, users, products, payments] {
        let name = process.name().to_owned();
        logs.insert(name, process.stop().await.expect("a clean stop"));
    }

    let spans: Vec<ReceivedSpan> = receiver
        .spans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|span| span.trace_id == TRACE_ID)
        .cloned()
        .collect();
    receiver_task.abort();
    let report = || {
        spans
            .iter()
            .map(|s| {
                format!(
                    "{} {} {} <- {}",
                    s.service, s.name, s.span_id, s.parent_span_id
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let services: BTreeSet<&str> = spans.iter().map(|span| span.service.as_str()).collect();
    for expected in [
        "shop-gateway",
        PURCHASES_SERVICE,
        USERS_SERVICE,
        PRODUCTS_SERVICE,
        PAYMENTS_SERVICE,
    ] {
        assert!(
            services.contains(expected),
            "no span of {expected} in the trace:\n{}",
            report()
        );
    }

    // Parent links: the gateway's request span is the child of the client's span; each
    // service's server span is the child of a span of its caller.
    let ids_of = |service: &str| -> BTreeSet<String> {
        spans
            .iter()
            .filter(|span| span.service == service)
            .map(|span| span.span_id.clone())
            .collect()
    };
    let server_span = |service: &str, method: &str| -> ReceivedSpan {
        spans
            .iter()
            .find(|span| span.service == service && span.name.ends_with(method))
            .cloned()
            .unwrap_or_else(|| panic!("no {method} span of {service}:\n{}", report()))
    };
    let request = spans
        .iter()
        .find(|span| span.service == "shop-gateway" && span.name == "request")
        .unwrap_or_else(|| panic!("no request span:\n{}", report()));
    assert_eq!(request.parent_span_id, PARENT_SPAN_ID, "{}", report());
    let create = server_span(PURCHASES_SERVICE, "/CreatePurchase");
    assert!(
        ids_of("shop-gateway").contains(&create.parent_span_id),
        "{}",
        report()
    );
    for (service, method) in [
        (USERS_SERVICE, "/GetUser"),
        (PRODUCTS_SERVICE, "/GetProduct"),
        (PAYMENTS_SERVICE, "/Charge"),
    ] {
        let call = server_span(service, method);
        assert!(
            ids_of(PURCHASES_SERVICE).contains(&call.parent_span_id),
            "{service}'s {method} is not a child of a purchases span:\n{}",
            report()
        );
    }

    // The trace id in every process's log lines of the request: the gateway's access log line,
    // each service's per-call line.
    let gateway_log = &logs["shop-gateway"];
    assert!(
        gateway_log
            .lines()
            .any(|line| line.contains("gateway::access") && line.contains(TRACE_ID)),
        "no access log line with the trace id:\n{gateway_log}"
    );
    for service in [
        PURCHASES_SERVICE,
        USERS_SERVICE,
        PRODUCTS_SERVICE,
        PAYMENTS_SERVICE,
    ] {
        let log = &logs[service];
        assert!(
            log.lines()
                .any(|line| line.contains(&format!("trace_id={TRACE_ID}"))),
            "no log line of {service} with the trace id:\n{log}"
        );
    }
}
