//! `purchases-service`: the purchases gRPC service. Configure with flags or env vars (`--help`);
//! `purchases-service healthcheck` exits 0 when the server on `LISTEN_ADDR` reports SERVING.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use discovery::split_addresses;
use discovery::{AdvertiseArgs, ConsulArgs};
use proto::purchases::v1::purchase_service_server::SERVICE_NAME;
use purchases_service::{Application, Config, UpstreamsConfig};
use shop_common::{DatabaseArgs, LogArgs, ServiceBinary};

/// The purchases gRPC service.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LISTEN_ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Users service address(es), comma-separated (`http://host:port,...`). Ignored when
    /// `CONSUL_HTTP_ADDR` is set: Consul's passing `users-service` instances are used.
    #[arg(
        long,
        env = "USERS_SERVICE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    users_service_url: String,
    /// Products service address(es), comma-separated (`http://host:port,...`). Ignored when
    /// `CONSUL_HTTP_ADDR` is set: Consul's passing `products-service` instances are used.
    #[arg(
        long,
        env = "PRODUCTS_SERVICE_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    products_service_url: String,
    /// Deadline of each call to the users or products service, in milliseconds.
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = 3000)]
    upstream_timeout_ms: u64,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    consul: ConsulArgs,
    #[command(flatten)]
    advertise: AdvertiseArgs,
}

/// The default listen address, also where `healthcheck` probes without `LISTEN_ADDR`.
const DEFAULT_LISTEN: &str = "127.0.0.1:50053";

/// This binary, for the `healthcheck` subcommand and error reporting.
const BINARY: ServiceBinary = ServiceBinary {
    // The Consul name the other services look it up by.
    name: shop_common::names::PURCHASES_SERVICE,
    version: env!("CARGO_PKG_VERSION"),
    grpc_service: SERVICE_NAME,
    default_listen: DEFAULT_LISTEN,
};

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(code) = BINARY.healthcheck_if_asked().await {
        return code;
    }
    let cli = Cli::parse();
    shop_common::telemetry::init_tracing(cli.log.log_format);
    let config = Config {
        listen_addr: cli.listen,
        database: cli.database.into(),
        upstreams: UpstreamsConfig {
            users: split_addresses(&cli.users_service_url),
            products: split_addresses(&cli.products_service_url),
            deadline: Duration::from_millis(cli.upstream_timeout_ms),
        },
    };
    let result = async {
        let mut app = match cli.consul.discovery()? {
            Some(discovery) => Application::build_with_discovery(config, &discovery).await?,
            None => Application::build(config).await?,
        };
        if let Some(registration) =
            BINARY.registration(&cli.consul, &cli.advertise, app.local_addr())?
        {
            app = app.register(registration);
        }
        app.run_until_stopped().await
    }
    .await;
    BINARY.exit_code(result)
}
