//! `purchases-service`: the purchases gRPC service. Configure with flags or env vars (`--help`);
//! `purchases-service healthcheck` exits 0 when the server on `LISTEN_ADDR` reports SERVING.

use std::process::ExitCode;
use std::time::Duration;

use discovery::split_addresses;
use purchases_service::{
    Application, BreakerConfig, Config, LifecycleConfig, ResilienceConfig, UpstreamsConfig,
};
use shop_common::events::NatsArgs;
use shop_common::{ServiceArgs, ServiceConfig};

/// Purchases' own flags: where the users, products and payments services are when Consul does
/// not say, how calls to them are guarded, and the purchase lifecycle's timing.
#[derive(Debug, clap::Args)]
struct PurchasesArgs {
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
    /// Payments service address(es), comma-separated (`http://host:port,...`). Ignored when
    /// `CONSUL_HTTP_ADDR` is set: Consul's passing `payments-service` instances are used.
    #[arg(
        long,
        env = "PAYMENTS_SERVICE_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    payments_service_url: String,
    /// The longest one call to users, products or payments may take, retries included, in
    /// milliseconds (the caller's remaining deadline shortens it).
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = 3000)]
    upstream_timeout_ms: u64,
    /// The budget of a request whose caller sent no deadline (`grpc-timeout`), in milliseconds.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// Retries of an upstream call that failed in transport (never of an answer).
    #[arg(long, env = "UPSTREAM_RETRIES", default_value_t = 2)]
    upstream_retries: u32,
    /// Consecutive failed calls to one upstream that open its circuit breaker.
    #[arg(long, env = "BREAKER_FAILURES", default_value_t = 5)]
    breaker_failures: u32,
    /// How long an open breaker fails calls at once before letting one probe through, in
    /// milliseconds.
    #[arg(long, env = "BREAKER_COOLDOWN_MS", default_value_t = 5000)]
    breaker_cooldown_ms: u64,
    /// A purchase still PENDING this long after its creation is settled against the payments
    /// ledger by the sweeper, in milliseconds. Must exceed twice `--upstream-timeout-ms`.
    #[arg(long, env = "SETTLE_PENDING_AFTER_MS", default_value_t = 60_000)]
    settle_pending_after_ms: u64,
    /// How often the sweeper runs (it also runs at start-up), in milliseconds.
    #[arg(long, env = "SWEEP_INTERVAL_MS", default_value_t = 30_000)]
    sweep_interval_ms: u64,
    /// How long an `Idempotency-Key` and its answer are kept, in seconds (default 24 h).
    #[arg(long, env = "IDEMPOTENCY_KEY_TTL_SECS", default_value_t = 86_400)]
    idempotency_key_ttl_secs: u64,
    /// Where the purchase events go.
    #[command(flatten)]
    nats: NatsArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    shop_common::run(async |args: &ServiceArgs<PurchasesArgs>| {
        let ServiceConfig {
            listen_addr,
            database,
        } = args.config();
        let own = &args.own;
        let config = Config {
            listen_addr,
            database,
            upstreams: UpstreamsConfig {
                users: split_addresses(&own.users_service_url),
                products: split_addresses(&own.products_service_url),
                payments: split_addresses(&own.payments_service_url),
                deadline: Duration::from_millis(own.upstream_timeout_ms),
            },
            resilience: ResilienceConfig {
                request_timeout: Duration::from_millis(own.request_timeout_ms),
                retries: own.upstream_retries,
                breaker: BreakerConfig {
                    failures: own.breaker_failures,
                    cooldown: Duration::from_millis(own.breaker_cooldown_ms),
                },
            },
            lifecycle: LifecycleConfig {
                settle_after: Duration::from_millis(own.settle_pending_after_ms),
                sweep_interval: Duration::from_millis(own.sweep_interval_ms),
                key_ttl: Duration::from_secs(own.idempotency_key_ttl_secs),
            },
            events: Some(own.nats.config()),
        };
        let app = match args.consul.discovery()? {
            Some(discovery) => Application::build_with_discovery(config, &discovery).await?,
            None => Application::build(config).await?,
        };
        Ok(app.into_inner())
    })
    .await
}
