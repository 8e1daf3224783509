//! The tonic server scaffold every service uses: its own listener (port 0 works), server
//! reflection v1 and v1alpha, the standard health service (NOT_SERVING until start-up is done),
//! a span per call carrying the caller's W3C trace context ([`telemetry::grpc`]), and graceful
//! shutdown; optionally a Consul [`Registration`] made once health reports SERVING
//! and removed as soon as shutdown begins (before draining, so clients stop choosing us).

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use discovery::{Registration, RegistrationHandle};

/// Names of the infrastructure services every server also answers, as listed by reflection.
const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// How long a stopping server waits for its open calls and connections to finish before it
/// closes them: long enough for any unary call within its deadline, short enough that a client
/// holding a stream open, or a connection whose client never reads the GOAWAY, cannot keep a
/// stopping instance alive.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A bound but not yet serving gRPC server for one application service.
#[derive(Debug)]
pub struct GrpcServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    service_name: &'static str,
    health: HealthReporter,
    registration: Option<Registration>,
    metrics: Option<crate::metrics::GrpcMetricsLayer>,
}

impl GrpcServer {
    /// Binds `addr` (port 0 picks a free port) for the gRPC service called `service_name`
    /// (e.g. `users.v1.UserService`), which health reports as NOT_SERVING for now.
    pub async fn bind(addr: SocketAddr, service_name: &'static str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local_addr = listener.local_addr().context("reading the bound address")?;
        let health = HealthReporter::new();
        set_status(&health, service_name, ServingStatus::NotServing).await;
        Ok(Self {
            listener,
            local_addr,
            service_name,
            health,
            registration: None,
            metrics: None,
        })
    }

    /// Registers this instance in Consul once it reports SERVING, and deregisters it when
    /// shutdown begins.
    pub fn register(mut self, registration: Registration) -> Self {
        self.registration = Some(registration);
        self
    }

    /// Counts every call the server answers in `metrics` ([`crate::metrics`]).
    pub fn with_metrics(mut self, metrics: crate::metrics::GrpcMetricsLayer) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `routes` plus reflection and health until `shutdown` completes.
    ///
    /// Health reports NOT_SERVING (for both `""` and the service name) until `startup` succeeds,
    /// SERVING from then on, and NOT_SERVING again once shutdown begins. If `startup` fails the
    /// server stops and its error is returned. In-flight requests finish before this returns.
    pub async fn serve(
        self,
        routes: Routes,
        startup: impl Future<Output = anyhow::Result<()>>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            local_addr,
            service_name,
            health,
            registration,
            metrics,
        } = self;
        let routes = routes
            .add_service(reflection_v1(service_name)?)
            .add_service(reflection_v1alpha(service_name)?)
            .add_service(HealthServer::new(HealthService::from_health_reporter(
                health.clone(),
            )));

        let (startup_failed_tx, startup_failed_rx) = tokio::sync::oneshot::channel::<()>();
        // Fired once shutdown has begun and the instance left Consul: the drain starts.
        let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
        // The registration made at SERVING, taken by shutdown; `stopping` keeps a late start-up
        // from registering an instance that is already going away.
        let registered = std::sync::Arc::new(std::sync::Mutex::new(Registered::default()));
        let stop_registered = registered.clone();
        let stop_health = health.clone();
        let stop = async move {
            tokio::select! {
                () = shutdown => {}
                _ = startup_failed_rx => {}
            }
            set_status(&stop_health, service_name, ServingStatus::NotServing).await;
            // Leave Consul while still serving: callers drop us from their sets, then we drain.
            let handle = {
                let mut registered = stop_registered
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                registered.stopping = true;
                registered.handle.take()
            };
            if let Some(handle) = handle {
                handle.deregister().await;
            }
            let _ = draining_tx.send(());
        };
        // TCP_NODELAY on every accepted connection: tonic applies `Server::tcp_nodelay` only
        // to listeners it binds itself, and without it Nagle's algorithm meets the client's
        // delayed ACK on small responses (p99 of ~40 ms).
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        // Outermost, the per-call span (child of the caller's `traceparent`), so the metrics
        // layer and the service run inside it and their log lines carry its trace id.
        let server = tonic::transport::Server::builder()
            .layer(telemetry::grpc::ServerTraceLayer)
            .layer(metrics.unwrap_or_else(crate::metrics::GrpcMetricsLayer::disabled))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, stop);
        tokio::pin!(server);
        tracing::info!(%local_addr, service = service_name, "gRPC server listening");

        tokio::select! {
            served = &mut server => return served.context("gRPC server failed"),
            started = startup => match started {
                Ok(()) => {
                    set_status(&health, service_name, ServingStatus::Serving).await;
                    tracing::info!(service = service_name, "ready: health reports SERVING");
                    if let Some(registration) = registration {
                        let mut registered = registered
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        if !registered.stopping {
                            registered.handle = Some(registration.start());
                        }
                    }
                }
                Err(err) => {
                    // The receiver is gone only if the server already stopped, which is fine.
                    let _ = startup_failed_tx.send(());
                    server.await.context("gRPC server failed")?;
                    return Err(err.context("start-up failed"));
                }
            },
        }
        // The drain is bounded: a client that keeps a stream open (a watch) or never reads its
        // GOAWAY must not keep a stopping instance alive; past the bound the rest is closed.
        let drain_bound = async {
            if draining_rx.await.is_ok() {
                tokio::time::sleep(DRAIN_TIMEOUT).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = &mut server => served.context("gRPC server failed")?,
            () = drain_bound => tracing::warn!(
                service = service_name,
                "calls still open {DRAIN_TIMEOUT:?} after shutdown began; closing them"
            ),
        }
        tracing::info!(service = service_name, "gRPC server stopped");
        Ok(())
    }
}

/// The Consul registration of a serving instance, shared by start-up and shutdown.
#[derive(Debug, Default)]
struct Registered {
    stopping: bool,
    handle: Option<RegistrationHandle>,
}

async fn set_status(health: &HealthReporter, service_name: &str, status: ServingStatus) {
    health.set_service_status("", status).await;
    health.set_service_status(service_name, status).await;
}

/// Reflection lists only this server's services, not every service in the shared descriptor
/// set (the set holds all three shop services).
fn reflection_builder(
    service_name: &str,
    reflection_name: &str,
) -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(service_name)
        .with_service_name(HEALTH_SERVICE)
        .with_service_name(reflection_name)
}

fn reflection_v1(
    service_name: &str,
) -> anyhow::Result<
    tonic_reflection::pb::v1::server_reflection_server::ServerReflectionServer<
        impl tonic_reflection::pb::v1::server_reflection_server::ServerReflection,
    >,
> {
    reflection_builder(service_name, REFLECTION_V1)
        .build_v1()
        .context("building reflection v1")
}

fn reflection_v1alpha(
    service_name: &str,
) -> anyhow::Result<
    tonic_reflection::pb::v1alpha::server_reflection_server::ServerReflectionServer<
        impl tonic_reflection::pb::v1alpha::server_reflection_server::ServerReflection,
    >,
> {
    reflection_builder(service_name, REFLECTION_V1ALPHA)
        .build_v1alpha()
        .context("building reflection v1alpha")
}

/// The container health probe (`<service> healthcheck`): asks the server listening on `listen`
/// (a wildcard address means this host) whether `service` is SERVING, through the standard
/// health service, within 3 seconds.
pub async fn probe_health(listen: SocketAddr, service: &str) -> anyhow::Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let mut target = listen;
    if target.ip().is_unspecified() {
        target.set_ip(match target {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let check = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{target}"))?
            .connect()
            .await
            .with_context(|| format!("cannot connect to {target}"))?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .context("health check failed")?;
        let status = response.into_inner().status();
        anyhow::ensure!(
            status == tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{service} is {}",
            status.as_str_name()
        );
        anyhow::Ok(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(3), check)
        .await
        .context("no answer within 3s")?
}
