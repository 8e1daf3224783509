//! `products-service`: the products gRPC service. Configure with flags or env vars (`--help`);
//! `products-service healthcheck` exits 0 when the server on `LISTEN_ADDR` reports SERVING.

use std::process::ExitCode;

use products_service::Application;
use shop_common::ServiceArgs;

#[tokio::main]
async fn main() -> ExitCode {
    shop_common::run(async |args: &ServiceArgs| Application::build(args.config()).await).await
}
