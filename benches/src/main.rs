//! `gateway-bench [--requests N] [--postgres-requests N] [--warmup N] [--concurrency N]
//! [--rounds N] [--upstream memory|postgres|both] [--only grpc|axum|gateway]`: runs the benchmark described in the
//! library docs and prints a Markdown table. Run it in release mode (`cargo xtask bench`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use gateway_bench::{BenchConfig, UpstreamKind, Variant};

const USAGE: &str = "usage: gateway-bench [--requests N] [--postgres-requests N] [--warmup N] \
                     [--concurrency N] [--rounds N] [--upstream memory|postgres|both] \
                     [--only grpc|axum|gateway]";

fn parse_args(args: &[String]) -> anyhow::Result<BenchConfig> {
    let mut config = BenchConfig::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            bail!("{USAGE}");
        }
        let value = args
            .next()
            .with_context(|| format!("`{flag}` needs a value\n{USAGE}"))?;
        let number = || -> anyhow::Result<usize> {
            let n: usize = value
                .parse()
                .with_context(|| format!("`{flag} {value}`: not a number"))?;
            anyhow::ensure!(n > 0, "`{flag}` must be positive");
            Ok(n)
        };
        match flag.as_str() {
            "--requests" => config.requests = number()?,
            "--postgres-requests" => config.postgres_requests = number()?,
            "--warmup" => config.warmup = number()?,
            "--concurrency" => config.concurrency = number()?,
            "--rounds" => config.rounds = number()?,
            "--upstream" => {
                config.upstreams = match value.as_str() {
                    "memory" => vec![UpstreamKind::Memory],
                    "postgres" => vec![UpstreamKind::Postgres],
                    "both" => vec![UpstreamKind::Memory, UpstreamKind::Postgres],
                    other => bail!("unknown upstream `{other}`\n{USAGE}"),
                }
            }
            "--only" => {
                let variant = Variant::ALL
                    .into_iter()
                    .find(|v| v.name() == value.as_str())
                    .with_context(|| format!("unknown variant `{value}`\n{USAGE}"))?;
                config.variants = vec![variant];
            }
            other => bail!("unknown flag `{other}`\n{USAGE}"),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err:#}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("bench: warning: debug build, numbers are meaningless (use `cargo xtask bench`)");
    }
    eprintln!(
        "bench: {} requests per variant and binding ({} with PostgreSQL) after {} warm-up, \
         {} in flight, {} rounds",
        config.requests, config.postgres_requests, config.warmup, config.concurrency, config.rounds
    );
    match gateway_bench::run(&config).await {
        Ok(report) => {
            println!("{}", report.table());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}
