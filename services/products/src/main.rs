//! `products-service`: the products gRPC service. Configure with flags or env vars (`--help`).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use products_service::{Application, Config};
use shop_common::{DatabaseArgs, LogArgs};

/// The products gRPC service.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:50052")]
    listen: SocketAddr,
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
    };
    let result = async { Application::build(config).await?.run_until_stopped().await }.await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "products-service failed");
            eprintln!("products-service: {err:#}");
            ExitCode::FAILURE
        }
    }
}
