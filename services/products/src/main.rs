//! `products-service`: the products gRPC service. Configure with flags or env vars (`--help`);
//! `products-service healthcheck` exits 0 when the server on `LISTEN_ADDR` reports SERVING.

use std::process::ExitCode;

use products_service::{Application, ProductsService};
use shop_common::ServiceArgs;
use shop_common::events::NatsArgs;

/// Products' own flags: where the purchase events are that `sold_count` is counted from.
#[derive(Debug, clap::Args)]
struct ProductsArgs {
    #[command(flatten)]
    nats: NatsArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    shop_common::run(async |args: &ServiceArgs<ProductsArgs>| {
        let service = ProductsService {
            events: Some(args.own.nats.config()),
        };
        Application::build_with(args.config(), service).await
    })
    .await
}
