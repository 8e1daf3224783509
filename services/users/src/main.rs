//! `users-service`: the users gRPC service. Configure with flags or env vars (`--help`);
//! `users-service healthcheck` exits 0 when the server on `LISTEN_ADDR` reports SERVING.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use discovery::{AdvertiseArgs, ConsulArgs};
use proto::users::v1::user_service_server::SERVICE_NAME;
use shop_common::{DatabaseArgs, LogArgs, ServiceBinary};
use users_service::{Application, Config};

/// The users gRPC service.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LISTEN_ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
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
const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// This binary, for the `healthcheck` subcommand and error reporting.
const BINARY: ServiceBinary = ServiceBinary {
    // The Consul name the other services look it up by.
    name: shop_common::names::USERS_SERVICE,
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
    };
    let result = async {
        let mut app = Application::build(config).await?;
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
