//! `users-service`: the users gRPC service. Configure with flags or env vars (`--help`);
//! `users-service healthcheck` exits 0 when the server on `LISTEN_ADDR` reports SERVING.

use std::process::ExitCode;

use shop_common::ServiceArgs;
use users_service::Application;

#[tokio::main]
async fn main() -> ExitCode {
    shop_common::run(async |args: &ServiceArgs| Application::build(args.config()).await).await
}
