//! `cargo xtask up`: the whole stack on this machine, no Docker.
//!
//! Builds the binaries, starts a private PostgreSQL cluster under `target/xtask-pg` (unless
//! `USERS_DATABASE_URL`, `PRODUCTS_DATABASE_URL`, `PURCHASES_DATABASE_URL` and
//! `PAYMENTS_DATABASE_URL` are all given),
//! creates the databases, starts every process in [`processes`] on fixed loopback ports (each
//! service with a metrics listener, `METRICS_ADDR`, on 9101-9104), waits
//! until each is ready, prints the addresses, and on Ctrl-C (or SIGTERM) stops the processes
//! and the cluster. The services migrate their own databases at start-up. With
//! `CONSUL_HTTP_ADDR` set the stack runs in Consul mode (see [`consul_addr`]). The purchase
//! events go to the NATS JetStream server `NATS_URL` names, else the one answering on
//! 127.0.0.1:4222, else a `nats-server -js` started for the stack ([`Nats`]).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::databases::{ClusterKind, Databases};
use crate::{cargo, run_checked};

const USAGE: &str = "usage: cargo xtask up [--gateway-port N] [--users-port N] [--products-port N] [--purchases-port N] [--payments-port N] [--pg-port N] [--metrics-ports USERS,PRODUCTS,PURCHASES,PAYMENTS]";

/// How long a process may take to become ready (the services retry the database meanwhile).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a process gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The line the services log once health reports SERVING (see `shop_common::server`).
const SERVING_LOG_LINE: &str = "health reports SERVING";

/// Ports, overridable with flags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    gateway: u16,
    users: u16,
    products: u16,
    purchases: u16,
    payments: u16,
    postgres: u16,
    /// The services' metrics listeners (`METRICS_ADDR`): users, products, purchases, payments.
    metrics: [u16; 4],
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            gateway: 8080,
            users: 50051,
            products: 50052,
            purchases: 50053,
            payments: 50054,
            postgres: 54329,
            metrics: [9101, 9102, 9103, 9104],
        }
    }
}

impl Ports {
    /// Ports the OS reports free right now, for a stack beside anything already running
    /// (`cargo xtask e2e`).
    pub(crate) fn free() -> anyhow::Result<Self> {
        // Hold every listener until all are chosen, so no two ports come out the same.
        let listeners = (0..10)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<Result<Vec<_>, _>>()
            .context("finding free ports")?;
        let ports = listeners
            .iter()
            .map(|listener| listener.local_addr().map(|addr| addr.port()))
            .collect::<Result<Vec<_>, _>>()
            .context("finding free ports")?;
        let [
            gateway,
            users,
            products,
            purchases,
            payments,
            postgres,
            m1,
            m2,
            m3,
            m4,
        ] = ports[..]
        else {
            bail!("expected ten ports, got {ports:?}");
        };
        Ok(Self {
            gateway,
            users,
            products,
            purchases,
            payments,
            postgres,
            metrics: [m1, m2, m3, m4],
        })
    }

    /// The port for PostgreSQL (used when a private cluster is started).
    pub(crate) fn postgres(&self) -> u16 {
        self.postgres
    }
}

fn parse_args(args: &[String]) -> anyhow::Result<Ports> {
    let mut ports = Ports::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--metrics-ports" {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs four ports\n{USAGE}"))?;
            let parsed: Vec<u16> = value
                .split(',')
                .map(|p| p.trim().parse())
                .collect::<Result<_, _>>()
                .with_context(|| format!("{flag}: `{value}` is not four ports"))?;
            ports.metrics = parsed
                .try_into()
                .map_err(|_| anyhow::anyhow!("{flag}: `{value}` is not four ports"))?;
            continue;
        }
        let slot = match flag.as_str() {
            "--gateway-port" => &mut ports.gateway,
            "--users-port" => &mut ports.users,
            "--products-port" => &mut ports.products,
            "--purchases-port" => &mut ports.purchases,
            "--payments-port" => &mut ports.payments,
            "--pg-port" => &mut ports.postgres,
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        };
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a port\n{USAGE}"))?;
        *slot = value
            .parse()
            .with_context(|| format!("{flag}: `{value}` is not a port"))?;
    }
    Ok(ports)
}

/// When a process counts as started.
#[derive(Debug, Clone, Copy)]
enum Ready {
    /// It printed a line containing this text.
    LogLine(&'static str),
    /// `GET <path>` on its address answers 200 (the gateway's `/readyz`: every upstream
    /// reports SERVING).
    HttpOk(&'static str),
}

/// One process of the stack.
#[derive(Debug, Clone)]
struct Process {
    /// Cargo package that builds `binary`.
    package: &'static str,
    /// Binary name under `target/debug/`.
    binary: &'static str,
    /// Flags.
    args: Vec<String>,
    /// Environment on top of ours.
    env: Vec<(&'static str, String)>,
    /// Where it listens.
    addr: SocketAddr,
    /// What to print next to the address.
    note: String,
    ready: Ready,
}

/// The stack, in start order: the services (purchases after those it calls), then the gateway
/// in front of them.
fn processes(ports: Ports, databases: &Databases, nats_url: &str) -> Vec<Process> {
    let addr = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let service = |package, port, metrics, database: &str| Process {
        package,
        binary: package,
        args: Vec::new(),
        env: vec![
            ("LISTEN_ADDR", addr(port).to_string()),
            ("DATABASE_URL", database.to_owned()),
            ("METRICS_ADDR", addr(metrics).to_string()),
        ],
        addr: addr(port),
        note: format!(
            "gRPC, reflection and health; metrics at http://{}/metrics",
            addr(metrics)
        ),
        ready: Ready::LogLine(SERVING_LOG_LINE),
    };
    let [
        users_metrics,
        products_metrics,
        purchases_metrics,
        payments_metrics,
    ] = ports.metrics;
    let users = service(
        "users-service",
        ports.users,
        users_metrics,
        &databases.users,
    );
    let mut products = service(
        "products-service",
        ports.products,
        products_metrics,
        &databases.products,
    );
    products.env.push(("NATS_URL", nats_url.to_owned()));
    let mut payments = service(
        "payments-service",
        ports.payments,
        payments_metrics,
        &databases.payments,
    );
    payments.note = format!(
        "gRPC, reflection and health (internal: no gateway route); metrics at http://{}/metrics",
        addr(payments_metrics)
    );
    let mut purchases = service(
        "purchases-service",
        ports.purchases,
        purchases_metrics,
        &databases.purchases,
    );
    purchases.env.push(("NATS_URL", nats_url.to_owned()));
    purchases
        .env
        .push(("USERS_SERVICE_URL", format!("http://{}", users.addr)));
    purchases
        .env
        .push(("PRODUCTS_SERVICE_URL", format!("http://{}", products.addr)));
    purchases
        .env
        .push(("PAYMENTS_SERVICE_URL", format!("http://{}", payments.addr)));
    let gateway_addr = addr(ports.gateway);
    let mut gateway_args = vec!["--listen".to_owned(), gateway_addr.to_string()];
    for (service, upstream) in [
        ("users.v1.UserService", &users),
        ("products.v1.ProductService", &products),
        ("purchases.v1.PurchaseService", &purchases),
    ] {
        gateway_args.push("--upstream".to_owned());
        // Consul mode: the gateway follows Consul's passing instances, named like the binaries.
        gateway_args.push(match consul_addr() {
            Some(_) => format!("{service}=consul://{}", upstream.binary),
            None => format!("{service}=http://{}", upstream.addr),
        });
    }
    let gateway = Process {
        package: "shop-gateway",
        binary: "shop-gateway",
        args: gateway_args,
        env: Vec::new(),
        addr: gateway_addr,
        note: format!(
            "REST/JSON; Swagger UI at http://{gateway_addr}/docs, metrics at http://{gateway_addr}/metrics"
        ),
        ready: Ready::HttpOk("/readyz"),
    };
    vec![users, products, payments, purchases, gateway]
}

/// `CONSUL_HTTP_ADDR` when set: Consul mode. The children inherit it (and
/// `CONSUL_HTTP_TOKEN`), so the services register themselves (advertising their loopback
/// address) and purchases and the gateway find their upstreams through Consul.
fn consul_addr() -> Option<String> {
    std::env::var("CONSUL_HTTP_ADDR")
        .ok()
        .filter(|addr| !addr.trim().is_empty())
}

/// `cargo xtask up`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let ports = parse_args(args)?;
    for (port, what, flag) in [
        (ports.gateway, "gateway", "--gateway-port"),
        (ports.users, "users-service", "--users-port"),
        (ports.products, "products-service", "--products-port"),
        (ports.purchases, "purchases-service", "--purchases-port"),
        (ports.payments, "payments-service", "--payments-port"),
    ] {
        ensure_port_free(port, what, flag)?;
    }
    for port in ports.metrics {
        ensure_port_free(port, "a service's metrics listener", "--metrics-ports")?;
    }

    // Build first: a compile error should not leave a cluster running.
    run_checked(&mut build_command())?;

    let (databases, _cluster) = Databases::given_or_on_cluster(ports.postgres, ClusterKind::Kept)?;
    let nats = Nats::given_or_local()?;
    eprintln!("purchase events: NATS JetStream at {}", nats.url());
    match consul_addr() {
        Some(addr) => eprintln!("Consul mode: services register in {addr}, upstreams found there"),
        None => eprintln!("static discovery (set CONSUL_HTTP_ADDR for Consul)"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(supervise(ports, &databases, &nats.url()))
}

/// The NATS JetStream server the stack's events go to.
pub(crate) enum Nats {
    /// One already running: `NATS_URL`, or the machine's on 127.0.0.1:4222.
    Given(String),
    /// One started for the stack, stopped (and its store removed) when dropped.
    Started(test_support::NatsServer),
}

impl Nats {
    /// `NATS_URL` if set; else the server answering on 127.0.0.1:4222; else a new one.
    pub(crate) fn given_or_local() -> anyhow::Result<Self> {
        if let Some(url) = std::env::var("NATS_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            return Ok(Self::Given(url));
        }
        let default = SocketAddr::from((Ipv4Addr::LOCALHOST, 4222));
        if std::net::TcpStream::connect_timeout(&default, Duration::from_millis(500)).is_ok() {
            return Ok(Self::Given(format!("nats://{default}")));
        }
        Self::private()
    }

    /// A server of the stack's own on a free port (`cargo xtask e2e`: nothing shared).
    pub(crate) fn private() -> anyhow::Result<Self> {
        let server = test_support::NatsServer::start()
            .context("starting nats-server -js (apt-get install -y nats-server)")?;
        Ok(Self::Started(server))
    }

    /// The client URL.
    pub(crate) fn url(&self) -> String {
        match self {
            Self::Given(url) => url.clone(),
            Self::Started(server) => server.url(),
        }
    }
}

/// Fails with a hint naming `flag` when `port` (for `what`) is taken on the loopback interface.
pub(crate) fn ensure_port_free(port: u16, what: &str, flag: &str) -> anyhow::Result<()> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => Ok(()),
        Err(_) => bail!(
            "port {port} ({what}) is already in use: stop whatever listens there (is another `cargo xtask up` running?) or pass {flag} <free port>"
        ),
    }
}

/// A started process and the means to stop it.
struct Running {
    name: &'static str,
    stop: oneshot::Sender<()>,
    watcher: JoinHandle<()>,
}

/// A process that exited without being asked to, with its exit status.
type Exit = (&'static str, String);

/// Runs the stack until Ctrl-C or SIGTERM, or until one of its processes exits on its own.
async fn supervise(ports: Ports, databases: &Databases, nats_url: &str) -> anyhow::Result<()> {
    let mut stack = Stack::start(ports, databases, nats_url).await?;
    println!();
    for process in &stack.processes {
        println!(
            "  {:<18} http://{}  ({})",
            process.binary, process.addr, process.note
        );
    }
    println!("\nthe stack is up; press Ctrl-C to stop it\n");
    let outcome = tokio::select! {
        () = shutdown_signal() => {
            eprintln!("\nstopping the stack");
            Ok(())
        }
        (name, status) = stack.exited() => {
            Err(anyhow::anyhow!("{name} exited unexpectedly ({status}); stopping the stack"))
        }
    };
    stack.stop().await;
    outcome
}

async fn start_all(
    processes: &[Process],
    running: &mut Vec<Running>,
    exits_tx: &mpsc::UnboundedSender<Exit>,
    exits: &mut mpsc::UnboundedReceiver<Exit>,
) -> anyhow::Result<()> {
    let bin_dir = test_support::target_dir().join("debug");
    for process in processes {
        let mut command = Command::new(bin_dir.join(process.binary));
        command
            .args(&process.args)
            .envs(process.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C reaches only us, and we stop the children in order.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", process.binary))?;
        let (ready_tx, ready_rx) = oneshot::channel();
        let marker = match process.ready {
            Ready::LogLine(line) => Some(line),
            Ready::HttpOk(_) => None,
        };
        forward_output(process.binary, &mut child, marker, ready_tx);
        let (stop, stop_rx) = oneshot::channel();
        let watcher = tokio::spawn(watch_child(
            process.binary,
            child,
            stop_rx,
            exits_tx.clone(),
        ));
        running.push(Running {
            name: process.binary,
            stop,
            watcher,
        });

        let ready = async {
            match process.ready {
                Ready::LogLine(_) => ready_rx.await.is_ok(),
                Ready::HttpOk(path) => {
                    wait_for_http_ok(process.addr, path).await;
                    true
                }
            }
        };
        tokio::select! {
            ready = tokio::time::timeout(READY_TIMEOUT, ready) => match ready {
                Ok(true) => {}
                Ok(false) => bail!("{} closed its output before becoming ready", process.binary),
                Err(_) => bail!("{} was not ready after {READY_TIMEOUT:?}; see its output above", process.binary),
            },
            Some((name, status)) = exits.recv() => {
                bail!("{name} exited before the stack was up ({status}); see its output above")
            }
        }
    }
    Ok(())
}

/// Prints the child's output lines prefixed with its name; sends `ready` on the first line
/// containing `marker`.
fn forward_output(
    name: &'static str,
    child: &mut Child,
    marker: Option<&'static str>,
    ready: oneshot::Sender<()>,
) {
    fn pump(
        name: &'static str,
        stream: impl AsyncRead + Unpin + Send + 'static,
        marker: Option<&'static str>,
        mut ready: Option<oneshot::Sender<()>>,
    ) {
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("[{name}] {line}");
                if marker.is_some_and(|m| line.contains(m))
                    && let Some(ready) = ready.take()
                {
                    let _ = ready.send(());
                }
            }
        });
    }
    if let Some(stdout) = child.stdout.take() {
        pump(name, stdout, marker, Some(ready));
    }
    if let Some(stderr) = child.stderr.take() {
        pump(name, stderr, None, None);
    }
}

/// Owns the child: reports an exit nobody asked for on `exits`, or stops it (SIGTERM, then
/// SIGKILL after a grace period) when `stop` fires.
async fn watch_child(
    name: &'static str,
    mut child: Child,
    stop: oneshot::Receiver<()>,
    exits: mpsc::UnboundedSender<Exit>,
) {
    tokio::select! {
        status = child.wait() => {
            let status = status.map_or_else(|err| err.to_string(), |s| s.to_string());
            let _ = exits.send((name, status));
        }
        _ = stop => {
            if let Some(pid) = child.id() {
                // std and tokio can only SIGKILL; SIGTERM lets the service drain and log.
                let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
            }
            if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}

/// Polls `GET path` until it answers 200. A hand-written HTTP/1.1 request keeps xtask free of
/// an HTTP client dependency for this one probe.
async fn wait_for_http_ok(addr: SocketAddr, path: &str) {
    while !http_ok(addr, path).await {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line).await.is_ok() && status_line.ends_with(b" 200")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Stops the processes in reverse start order.
async fn stop_all(running: Vec<Running>) {
    for process in running.into_iter().rev() {
        let _ = process.stop.send(());
        match process.watcher.await {
            Ok(()) => eprintln!("stopped {}", process.name),
            Err(err) => eprintln!("stopping {} failed: {err}", process.name),
        }
    }
}

/// The `cargo build` that builds every binary of the stack (run before starting it).
pub(crate) fn build_command() -> std::process::Command {
    let mut build = cargo();
    build.arg("build");
    for process in processes(Ports::default(), &Databases::none(), "") {
        build.args(["-p", process.package]);
    }
    build
}

/// The stack of [`processes`], started and ready, for a caller that runs something against it
/// (`cargo xtask e2e`) and then calls [`Stack::stop`].
pub(crate) struct Stack {
    processes: Vec<Process>,
    running: Vec<Running>,
    exits: mpsc::UnboundedReceiver<Exit>,
    // Held so that `exits` stays open while the watchers run.
    _exits_tx: mpsc::UnboundedSender<Exit>,
}

impl Stack {
    /// Starts every process on `ports` with `databases` and events on `nats_url` (binaries
    /// already built) and waits until each is ready; on failure stops whatever had started.
    pub(crate) async fn start(
        ports: Ports,
        databases: &Databases,
        nats_url: &str,
    ) -> anyhow::Result<Self> {
        let processes = processes(ports, databases, nats_url);
        let (exits_tx, mut exits) = mpsc::unbounded_channel::<Exit>();
        let mut running = Vec::new();
        if let Err(err) = start_all(&processes, &mut running, &exits_tx, &mut exits).await {
            stop_all(running).await;
            return Err(err);
        }
        Ok(Self {
            processes,
            running,
            exits,
            _exits_tx: exits_tx,
        })
    }

    /// Where `binary` (e.g. `gateway`) listens.
    pub(crate) fn addr(&self, binary: &str) -> Option<SocketAddr> {
        self.processes
            .iter()
            .find(|process| process.binary == binary)
            .map(|process| process.addr)
    }

    /// Resolves when a process exits without being asked to: its name and exit status.
    pub(crate) async fn exited(&mut self) -> Exit {
        match self.exits.recv().await {
            Some(exit) => exit,
            None => std::future::pending().await,
        }
    }

    /// Stops every process, in reverse start order.
    pub(crate) async fn stop(self) {
        stop_all(self.running).await;
    }
}
