//! `users-service`: the users gRPC service. Configure with flags or env vars (`--help`);
//! `users-service healthcheck` exits 0 when the server on `LISTEN_ADDR` reports SERVING.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use proto::users::v1::user_service_server::SERVICE_NAME;
use shop_common::discovery::USERS_SERVICE;
use shop_common::{AdvertiseArgs, ConsulArgs, DatabaseArgs, LogArgs};
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

#[tokio::main]
async fn main() -> ExitCode {
    // `<binary> healthcheck`: the container healthcheck, which needs no other configuration.
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        let listen = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| DEFAULT_LISTEN.to_owned());
        let probe = async {
            let listen: SocketAddr = listen
                .parse()
                .map_err(|_| anyhow::anyhow!("LISTEN_ADDR `{listen}` is not an address"))?;
            shop_common::server::probe_health(listen, SERVICE_NAME).await
        };
        return match probe.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("users-service healthcheck: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    shop_common::telemetry::init_tracing(cli.log.log_format);
    let config = Config {
        listen_addr: cli.listen,
        database: cli.database.into(),
    };
    let result = async {
        let mut app = Application::build(config).await?;
        if let Some(registration) = cli.consul.registration(
            &cli.advertise,
            app.local_addr(),
            USERS_SERVICE,
            SERVICE_NAME,
            env!("CARGO_PKG_VERSION"),
        )? {
            app = app.register(registration);
        }
        app.run_until_stopped().await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "users-service failed");
            eprintln!("users-service: {err:#}");
            ExitCode::FAILURE
        }
    }
}
