//! `purchases-service`: the purchases gRPC service. Configure with flags or env vars (`--help`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use purchases_service::{Application, Config, UpstreamsConfig};
use shop_common::discovery::split_addresses;
use shop_common::{DatabaseArgs, LogArgs};

/// The purchases gRPC service.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:50053")]
    listen: SocketAddr,
    /// Users service address(es), comma-separated (`http://host:port,...`).
    #[arg(
        long,
        env = "USERS_SERVICE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    users_service_url: String,
    /// Products service address(es), comma-separated (`http://host:port,...`).
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
}

#[tokio::main]
async fn main() -> ExitCode {
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
    let result = async { Application::build(config).await?.run_until_stopped().await }.await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "purchases-service failed");
            eprintln!("purchases-service: {err:#}");
            ExitCode::FAILURE
        }
    }
}
