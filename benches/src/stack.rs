//! What one upstream's measurements run against: the upstream services, the hand-written
//! handler and the gateway in front of them, a client for each variant, and the rows the
//! requests refer to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use proto::purchases::v1::purchase_service_client::PurchaseServiceClient;
use proto::users::v1::CreateUserRequest;
use proto::users::v1::user_service_client::UserServiceClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::load::{self, GrpcClients, Operation, Sample, Seeds, Target};
use crate::purchases::PurchaseServices;
use crate::upstream::{Upstream, UpstreamKind};
use crate::{Tools, Variant, baseline, connect, external};

/// How many users exist before the measurements (GETs and purchases cycle through them).
const SEEDED_USERS: usize = 100;

/// An axum server on 127.0.0.1:0, served the way the gateway binary serves.
#[derive(Debug)]
pub(crate) struct HttpServer {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Serves `router` on a free port until [`HttpServer::stop`].
    pub(crate) async fn start(router: axum::Router) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        // Both HTTP variants are served by `gateway::serve`, as the binary serves (TCP_NODELAY,
        // header read timeout, connection limit): only the handlers differ.
        let task = tokio::spawn(gateway::serve::serve(
            listener,
            router,
            gateway::serve::ServeOptions::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self { addr, stop, task })
    }

    /// Stops accepting, waits for open connections to finish.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        // Idle keep-alive connections of the load client hold graceful shutdown open until the
        // client is dropped; the caller drops it first.
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .context("HTTP server did not stop within 10 s")?
            .context("HTTP server task panicked")?
            .context("HTTP server failed")
    }
}

/// The upstream (with the purchase's fan-out on PostgreSQL), the hand-written handler and the
/// gateway in front of it, and a client for each variant. Each variant has its own channel (one
/// HTTP/2 connection) to each service.
pub struct Stack {
    upstream: Upstream,
    purchases: Option<PurchaseServices>,
    hand_written: HttpServer,
    gateway: HttpServer,
    direct: GrpcClients,
    http: load::HttpClient,
    /// The rows the requests refer to.
    pub seeds: Arc<Seeds>,
}

impl Stack {
    /// Starts everything on `kind` and seeds users (and, on PostgreSQL, the product purchases
    /// buy).
    pub async fn start(kind: UpstreamKind) -> anyhow::Result<Self> {
        let upstream = Upstream::start(kind).await?;
        // Purchases need the real shop; the in-memory upstream is a users service alone.
        let purchases = match kind {
            UpstreamKind::Postgres => Some(PurchaseServices::start(upstream.addr).await?),
            UpstreamKind::Memory => None,
        };
        let purchases_addr = purchases.as_ref().map(PurchaseServices::purchases_addr);

        let direct = GrpcClients {
            users: UserServiceClient::new(connect(upstream.addr).await?),
            purchases: match purchases_addr {
                Some(addr) => Some(PurchaseServiceClient::new(connect(addr).await?)),
                None => None,
            },
        };
        let hand_written_purchases = match purchases_addr {
            Some(addr) => Some(connect(addr).await?),
            None => None,
        };
        let hand_written = HttpServer::start(baseline::router(
            connect(upstream.addr).await?,
            hand_written_purchases,
        ))
        .await?;

        let mut upstreams = gateway::Upstreams::new();
        upstreams.insert("users.v1.UserService", connect(upstream.addr).await?);
        if let Some(services) = &purchases {
            upstreams.insert(
                "purchases.v1.PurchaseService",
                connect(services.purchases_addr()).await?,
            );
            upstreams.insert(
                "products.v1.ProductService",
                connect(services.products_addr()).await?,
            );
        }
        let config = gateway::GatewayConfig {
            upstreams,
            ..Default::default()
        };
        let gateway = HttpServer::start(shop_gateway::app(config)?).await?;

        let mut users = Vec::with_capacity(SEEDED_USERS);
        let mut seeder = direct.users.clone();
        for n in 0..SEEDED_USERS {
            let user = seeder
                .create_user(CreateUserRequest {
                    name: format!("Seed User {n}"),
                    email: format!("seed-{}-{n}@example.com", std::process::id()),
                })
                .await
                .context("seeding users")?
                .into_inner()
                .user
                .context("CreateUser answered without a user")?;
            users.push(user.id);
        }
        let product = match &purchases {
            Some(services) => Some(services.seed_product().await?),
            None => None,
        };
        Ok(Self {
            upstream,
            purchases,
            hand_written,
            gateway,
            direct,
            http: load::http_client(),
            seeds: Arc::new(Seeds { users, product }),
        })
    }

    /// The in-process client for `variant`; `None` for the variants an external tool drives.
    pub fn target(&self, variant: Variant) -> Option<Target> {
        match variant {
            Variant::DirectGrpc => Some(Target::Grpc(self.direct.clone())),
            Variant::HandWritten => Some(Target::Http(self.http.clone(), self.hand_written.addr)),
            Variant::Gateway => Some(Target::Http(self.http.clone(), self.gateway.addr)),
            Variant::Pgbench | Variant::H2loadHandWritten | Variant::H2loadGateway => None,
        }
    }

    /// Sends `requests` of `operation` through `variant`, `concurrency` at a time.
    pub async fn batch(
        &self,
        variant: Variant,
        operation: Operation,
        requests: usize,
        concurrency: usize,
        tools: &Tools,
    ) -> anyhow::Result<Sample> {
        if let Some(target) = self.target(variant) {
            return load::run_batch(
                &target,
                operation,
                Arc::clone(&self.seeds),
                requests,
                concurrency,
            )
            .await;
        }
        let tool = variant
            .tool()
            .and_then(|name| tools.get(name))
            .with_context(|| format!("{} is not installed", variant.label()))?;
        match variant {
            Variant::Pgbench => {
                let url = self
                    .upstream
                    .database_url()
                    .context("pgbench needs the PostgreSQL upstream")?;
                let script = match operation {
                    Operation::GetUser => external::PgbenchScript::GetUser(&self.seeds.users),
                    Operation::CreateUser => external::PgbenchScript::CreateUser,
                    Operation::CreatePurchase => {
                        anyhow::bail!("pgbench has no script for {}", operation.label())
                    }
                };
                external::pgbench(tool, url, script, requests, concurrency).await
            }
            Variant::H2loadHandWritten => {
                external::h2load(
                    tool,
                    self.hand_written.addr,
                    &self.seeds.users,
                    requests,
                    concurrency,
                )
                .await
            }
            _ => {
                external::h2load(
                    tool,
                    self.gateway.addr,
                    &self.seeds.users,
                    requests,
                    concurrency,
                )
                .await
            }
        }
    }

    /// Checks that the gateway and the hand-written handler answer `operation` with the same
    /// JSON (what differs per request aside: fresh ids, emails, timestamps), so that the
    /// comparison is of equal work.
    pub async fn check_equivalent(&self, operation: Operation) -> anyhow::Result<()> {
        // JSON pointers to the values each request makes anew.
        let fresh: &[&str] = match operation {
            Operation::GetUser => &[],
            Operation::CreateUser => &["/id", "/email"],
            Operation::CreatePurchase => &["/purchase/id", "/purchase/created_at"],
        };
        let mut bodies = Vec::new();
        for variant in [Variant::HandWritten, Variant::Gateway] {
            let mut target = self.target(variant).context("an in-process variant")?;
            let body = load::one(&mut target, operation, &self.seeds, 0).await?;
            let mut json: serde_json::Value = serde_json::from_slice(&body)
                .with_context(|| format!("{} answered non-JSON", variant.label()))?;
            for pointer in fresh {
                let value = json
                    .pointer_mut(pointer)
                    .with_context(|| format!("{} answered without `{pointer}`", variant.label()))?;
                ensure!(value.is_string(), "`{pointer}` is not a string: {value}");
                *value = serde_json::Value::Null;
            }
            bodies.push(json);
        }
        ensure!(
            bodies[0] == bodies[1],
            "hand-written and gateway answers differ for {}: {} vs {}",
            operation.label(),
            bodies[0],
            bodies[1]
        );
        Ok(())
    }

    /// Stops the servers (the load client first, so keep-alive connections close), then the
    /// purchase's fan-out, then the upstream.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Self {
            upstream,
            purchases,
            hand_written,
            gateway,
            direct,
            http,
            seeds: _,
        } = self;
        drop(http);
        drop(direct);
        hand_written.stop().await?;
        gateway.stop().await?;
        if let Some(purchases) = purchases {
            purchases.stop().await?;
        }
        upstream.stop().await
    }
}
