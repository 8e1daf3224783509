//! `purchases-service`: the purchases gRPC service. Configure with flags or env vars (`--help`);
//! `purchases-service healthcheck` exits 0 when the server on `LISTEN_ADDR` reports SERVING.

use std::process::ExitCode;
use std::time::Duration;

use discovery::split_addresses;
use purchases_service::{Application, Config, UpstreamsConfig};
use shop_common::{ServiceArgs, ServiceConfig};

/// Purchases' own flags: where the users and products services are when Consul does not say,
/// and how long to wait for them.
#[derive(Debug, clap::Args)]
struct UpstreamArgs {
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
}

#[tokio::main]
async fn main() -> ExitCode {
    shop_common::run(async |args: &ServiceArgs<UpstreamArgs>| {
        let ServiceConfig {
            listen_addr,
            database,
        } = args.config();
        let config = Config {
            listen_addr,
            database,
            upstreams: UpstreamsConfig {
                users: split_addresses(&args.own.users_service_url),
                products: split_addresses(&args.own.products_service_url),
                deadline: Duration::from_millis(args.own.upstream_timeout_ms),
            },
        };
        let app = match args.consul.discovery()? {
            Some(discovery) => Application::build_with_discovery(config, &discovery).await?,
            None => Application::build(config).await?,
        };
        Ok(app.into_inner())
    })
    .await
}
