//! `gateway-bench [--smoke] [--out FILE] [--requests N] [--postgres-requests N] [--warmup N]
//! [--concurrency N[,N..]] [--rounds N] [--upstream memory|postgres|both] [--only VARIANT]`:
//! runs the benchmark described in the library docs, prints a Markdown table and, with
//! `--out`, writes the whole report (machine, date, command, table) to a file. Run it in
//! release mode (`cargo xtask bench`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use gateway_bench::{BenchConfig, UpstreamKind, Variant};

const USAGE: &str = "usage: gateway-bench [--smoke] [--out FILE] [--requests N] \
                     [--postgres-requests N] [--warmup N] [--concurrency N[,N..]] [--rounds N] \
                     [--upstream memory|postgres|both] \
                     [--only pgbench|grpc|axum|gateway|h2load-axum|h2load-gateway] \
                     [--command TEXT]";

/// What the command line asks for.
#[derive(Debug)]
struct Options {
    config: BenchConfig,
    smoke: bool,
    out: Option<std::path::PathBuf>,
    /// The command shown in the report (xtask passes the one the user typed).
    command: String,
}

fn parse_args(args: &[String]) -> anyhow::Result<Options> {
    // `--smoke` first, whatever its position: the other flags adjust it.
    let smoke = args.iter().any(|a| a == "--smoke");
    let mut options = Options {
        config: if smoke {
            BenchConfig::smoke()
        } else {
            BenchConfig::default()
        },
        smoke,
        out: None,
        command: format!("gateway-bench {}", args.join(" "))
            .trim()
            .to_owned(),
    };
    let config = &mut options.config;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            bail!("{USAGE}");
        }
        if flag == "--smoke" {
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("`{flag}` needs a value\n{USAGE}"))?;
        let number = |value: &str| -> anyhow::Result<usize> {
            let n: usize = value
                .parse()
                .with_context(|| format!("`{flag} {value}`: not a number"))?;
            anyhow::ensure!(n > 0, "`{flag}` must be positive");
            Ok(n)
        };
        match flag.as_str() {
            "--out" => options.out = Some(value.into()),
            "--command" => options.command.clone_from(value),
            "--requests" => config.requests = number(value)?,
            "--postgres-requests" => config.postgres_requests = number(value)?,
            "--warmup" => config.warmup = number(value)?,
            "--concurrency" => {
                config.concurrencies = value.split(',').map(number).collect::<Result<_, _>>()?;
            }
            "--rounds" => config.rounds = number(value)?,
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
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("{err:#}");
            return ExitCode::from(2);
        }
    };
    let config = &options.config;
    if options.smoke {
        eprintln!("bench: smoke run: a few requests of everything; the numbers mean nothing");
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "bench: warning: dev-profile build, numbers are meaningless (use `cargo xtask bench`)"
        );
    }
    eprintln!(
        "bench: {} requests per variant, binding and concurrency ({} with PostgreSQL) after {} \
         warm-up, at {:?} in flight, {} rounds",
        config.requests,
        config.postgres_requests,
        config.warmup,
        config.concurrencies,
        config.rounds
    );
    match gateway_bench::run(config).await {
        Ok(report) => {
            println!("{}", report.table());
            if let Some(out) = &options.out {
                let document = gateway_bench::document::render(
                    &report,
                    config,
                    &options.command,
                    options.smoke,
                );
                let written = out
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(out, document));
                if let Err(err) = written {
                    eprintln!("bench: cannot write {}: {err}", out.display());
                    return ExitCode::FAILURE;
                }
                eprintln!("bench: report written to {}", out.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}
