//! The upstream `users.v1.UserService` every variant calls: an in-memory implementation (to
//! measure the gateway, not a database) or the real users service on a fresh PostgreSQL database;
//! and [`Upstream::shop_service`], which runs any shop service that way (the purchase's fan-out,
//! [`crate::purchases`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::Context;
use proto::users::v1::user_service_server::{UserService, UserServiceServer};
use proto::users::v1::{
    CreateUserRequest, CreateUserResponse, GetUserRequest, GetUserResponse, ListUsersRequest,
    ListUsersResponse, User,
};
use shop_common::{Application, ServiceConfig, ShopService};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

/// Which `users.v1.UserService` implementation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// Users kept in a map in this process: isolates the cost of the HTTP layer.
    Memory,
    /// The real users service (tonic + diesel-async) on a fresh PostgreSQL database.
    Postgres,
}

impl UpstreamKind {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            UpstreamKind::Memory => "memory",
            UpstreamKind::Postgres => "postgres",
        }
    }
}

/// `users.v1.UserService` answered from memory, with the real service's basic validation
/// (non-empty name and email, unique email) so that both do comparable work per call.
#[derive(Debug, Default)]
pub struct MemoryUsers {
    next_id: AtomicI64,
    users: Mutex<Store>,
    /// How long every `GetUser` waits before answering: zero to measure the HTTP layer, more
    /// to stand for a slow upstream that fills the gateway's in-flight limit
    /// ([`crate::overload`]).
    get_delay: Duration,
}

impl MemoryUsers {
    /// An empty store whose `GetUser` answers after `get_delay`.
    pub fn with_get_delay(get_delay: Duration) -> Self {
        Self {
            get_delay,
            ..Self::default()
        }
    }
}

#[derive(Debug, Default)]
struct Store {
    by_id: HashMap<i64, User>,
    emails: HashMap<String, i64>,
}

#[tonic::async_trait]
impl UserService for MemoryUsers {
    async fn create_user(
        &self,
        request: Request<CreateUserRequest>,
    ) -> Result<Response<CreateUserResponse>, Status> {
        let CreateUserRequest { name, email } = request.into_inner();
        if name.trim().is_empty() {
            return Err(Status::invalid_argument("name: must not be empty"));
        }
        if !email.contains('@') {
            return Err(Status::invalid_argument("email: not an email address"));
        }
        let mut store = self
            .users
            .lock()
            .map_err(|_| Status::internal("store poisoned"))?;
        let key = email.to_lowercase();
        if store.emails.contains_key(&key) {
            return Err(Status::already_exists("email: already taken"));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let user = User { id, name, email };
        store.emails.insert(key, id);
        store.by_id.insert(id, user.clone());
        Ok(Response::new(CreateUserResponse { user: Some(user) }))
    }

    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        let id = request.into_inner().id;
        if !self.get_delay.is_zero() {
            tokio::time::sleep(self.get_delay).await;
        }
        let store = self
            .users
            .lock()
            .map_err(|_| Status::internal("store poisoned"))?;
        let user = store
            .by_id
            .get(&id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("user {id} not found")))?;
        Ok(Response::new(GetUserResponse { user: Some(user) }))
    }

    /// Not measured; answered like the real service (by id, keyset pages as the token) so the
    /// implementation is complete.
    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let ListUsersRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let after: i64 = if page_token.is_empty() {
            0
        } else {
            page_token
                .parse()
                .map_err(|_| Status::invalid_argument("page_token: not a token of this list"))?
        };
        let size = match page_size {
            0 => 50,
            n => usize::try_from(n.clamp(1, 100)).unwrap_or(100),
        };
        let store = self
            .users
            .lock()
            .map_err(|_| Status::internal("store poisoned"))?;
        let mut users: Vec<User> = store
            .by_id
            .values()
            .filter(|user| user.id > after)
            .cloned()
            .collect();
        users.sort_unstable_by_key(|user| user.id);
        let next_page_token = if users.len() > size {
            users.truncate(size);
            users
                .last()
                .map(|user| user.id.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListUsersResponse {
            users,
            next_page_token,
        }))
    }
}

/// A running upstream: its address, and what keeps it (and its database) alive.
#[derive(Debug)]
pub struct Upstream {
    /// Where it listens (loopback, a free port).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
    // Dropped (the database with it) only after the server stopped.
    database: Option<test_support::TestDatabase>,
}

impl Upstream {
    /// Starts `kind` on 127.0.0.1:0 and waits until it answers.
    pub async fn start(kind: UpstreamKind) -> anyhow::Result<Self> {
        match kind {
            UpstreamKind::Memory => Self::memory(MemoryUsers::default()).await,
            UpstreamKind::Postgres => {
                Self::shop_service("users", users_service::Application::build).await
            }
        }
    }

    /// Serves `users` (an in-memory `UserService`) on 127.0.0.1:0.
    pub async fn memory(users: MemoryUsers) -> anyhow::Result<Self> {
        let (stop, stopped) = oneshot::channel::<()>();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the in-memory upstream")?;
        let addr = listener.local_addr()?;
        // With TCP_NODELAY, as tonic's own `serve` sets it: without it (what
        // `serve_with_incoming` on a bare listener gives) Nagle's algorithm meets the
        // client's delayed ACKs and ~1% of calls wait 40 ms, which would measure the
        // kernel rather than the gateway.
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let server = tonic::transport::Server::builder()
            .add_service(UserServiceServer::new(users))
            .serve_with_incoming_shutdown(incoming, async move {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            });
        let task = tokio::spawn(async move { server.await.context("in-memory upstream failed") });
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
            database: None,
        })
    }

    /// A shop service in this process on a fresh PostgreSQL database, as `build` makes it from
    /// its listen address (a free port) and that database; started once its health service
    /// reports SERVING (its migrations ran). `what` names it in errors.
    pub async fn shop_service<S: ShopService>(
        what: &str,
        build: impl AsyncFnOnce(ServiceConfig) -> anyhow::Result<Application<S>>,
    ) -> anyhow::Result<Self> {
        let database = test_support::TestDatabase::create()
            .await
            .with_context(|| format!("creating the {what} database"))?;
        let config = ServiceConfig {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: shop_common::DatabaseConfig::new(database.url()),
        };
        let app = build(config)
            .await
            .with_context(|| format!("building the {what} service"))?;
        let addr = app.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let upstream = Self {
            addr,
            stop: Some(stop),
            task,
            database: Some(database),
        };
        let channel = crate::connect(addr).await?;
        // "": the server as a whole, which reports SERVING once the database is migrated.
        test_support::wait_until_serving(channel, "", Duration::from_secs(60))
            .await
            .with_context(|| format!("the {what} service did not become ready"))?;
        Ok(upstream)
    }

    /// The URL of the PostgreSQL database the service runs on (`None` in memory), for
    /// pgbench.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(test_support::TestDatabase::url)
    }

    /// Stops the server, waits for it, then drops the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .context("upstream did not stop within 10 s")?
            .context("upstream task panicked")?;
        drop(self.database.take());
        served
    }
}
