//! `payments-service`: the simulated payments gRPC service. Configure with flags or env vars
//! (`--help`); `payments-service healthcheck` exits 0 when the server on `LISTEN_ADDR` reports
//! SERVING.

use std::process::ExitCode;
use std::time::Duration;

use payments_service::{Application, PaymentsService, Rules};
use shop_common::ServiceArgs;

/// The simulation's rules, deterministic so that a fault test gets the same outcome every run.
#[derive(Debug, clap::Args)]
struct RuleArgs {
    /// Charges of more than this many minor units (cents) are declined: an answer with outcome
    /// DECLINED and a reason, nothing written. The default lets the seed's 1299.99 through.
    #[arg(long, env = "PAYMENTS_DECLINE_ABOVE", default_value_t = payments_service::domain::DEFAULT_DECLINE_ABOVE)]
    decline_above: i64,
    /// Milliseconds every Charge and Refund answer is held back after its ledger work is
    /// committed (fault tests: a caller killed meanwhile was charged without hearing of it).
    #[arg(long, env = "PAYMENTS_DELAY_MS", default_value_t = 0)]
    delay_ms: u64,
    /// Share of Charge and Refund calls (0.0 to 1.0) that fail with UNAVAILABLE before the
    /// ledger is touched, drawn from `--failure-seed`.
    #[arg(long, env = "PAYMENTS_FAILURE_RATE", default_value_t = 0.0)]
    failure_rate: f64,
    /// Seed of the failure draws: the same seed fails the same calls, in arrival order.
    #[arg(long, env = "PAYMENTS_FAILURE_SEED", default_value_t = 0)]
    failure_seed: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    shop_common::run(async |args: &ServiceArgs<RuleArgs>| {
        let rules = Rules {
            decline_above: args.own.decline_above,
            delay: Duration::from_millis(args.own.delay_ms),
            failure_rate: args.own.failure_rate,
            failure_seed: args.own.failure_seed,
        };
        Application::build_with(args.config(), PaymentsService::new(rules)?).await
    })
    .await
}
