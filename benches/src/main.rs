//! `gateway-bench [--smoke] [--out FILE] [--requests N] [--postgres-requests N]
//! [--purchase-requests N] [--warmup N] [--concurrency N[,N..]] [--rounds N]
//! [--upstream memory|postgres|both] [--only VARIANT|overload] [--gateway-binary PATH]`:
//! runs the benchmark described in the library docs, prints the Markdown tables and, with
//! `--out FILE.md`, writes the whole report (machine, date, command, chart, tables) to
//! `FILE.md` and its chart to `FILE.svg` beside it. Run it in release mode (`cargo xtask
//! bench`). `--smoke` writes no file; it still draws the chart, in memory, so that the drawing
//! code runs in CI too.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use gateway_bench::{BenchConfig, Report, UpstreamKind, Variant};

const USAGE: &str = "usage: gateway-bench [--smoke] [--out FILE.md] [--requests N] \
                     [--postgres-requests N] [--purchase-requests N] [--warmup N] \
                     [--concurrency N[,N..]] [--rounds N] [--upstream memory|postgres|both] \
                     [--only pgbench|grpc|axum|gateway|h2load-axum|h2load-gateway|overload] \
                     [--gateway-binary PATH] [--command TEXT]";

/// What the command line asks for.
#[derive(Debug)]
struct Options {
    config: BenchConfig,
    smoke: bool,
    out: Option<PathBuf>,
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
    let mut gateway_binary = None;
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
            "--purchase-requests" => config.purchase_requests = number(value)?,
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
            "--only" if value == "overload" => config.variants.clear(),
            "--only" => {
                let variant = Variant::ALL
                    .into_iter()
                    .find(|v| v.name() == value.as_str())
                    .with_context(|| format!("unknown variant `{value}`\n{USAGE}"))?;
                config.variants = vec![variant];
                config.overload = None;
            }
            "--gateway-binary" => gateway_binary = Some(PathBuf::from(value)),
            other => bail!("unknown flag `{other}`\n{USAGE}"),
        }
    }
    if let Some(overload) = &mut config.overload {
        overload.gateway_binary = gateway_binary;
    }
    Ok(options)
}

/// Writes the report to `out` (Markdown) and its chart beside it (`out` with `.svg`).
fn write_report(
    out: &Path,
    report: &Report,
    options: &Options,
    chart: &str,
) -> anyhow::Result<PathBuf> {
    let chart_path = out.with_extension("svg");
    let chart_name = chart_path
        .file_name()
        .and_then(|name| name.to_str())
        .context("the chart's file name is not UTF-8")?;
    let document = gateway_bench::document::render(
        report,
        &options.config,
        &options.command,
        options.smoke,
        Some(chart_name),
    );
    if let Some(dir) = out.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(out, document).with_context(|| format!("writing {}", out.display()))?;
    std::fs::write(&chart_path, chart)
        .with_context(|| format!("writing {}", chart_path.display()))?;
    Ok(chart_path)
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
        "bench: {} requests per variant, binding and concurrency ({} with PostgreSQL, {} for \
         purchases) after up to {} warm-up, at {:?} in flight, {} rounds",
        config.requests,
        config.postgres_requests,
        config.purchase_requests,
        config.warmup,
        config.concurrencies,
        config.rounds
    );
    let report = match gateway_bench::run(config).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("bench failed: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report.table());
    if let Some(overload) = &report.overload {
        println!("Overload:\n\n{}", overload.table());
    }
    // Drawn in every run, smoke included, so that CI runs the drawing code.
    let chart = match gateway_bench::chart::render(&report) {
        Ok(chart) => chart,
        Err(err) => {
            eprintln!("bench: drawing the chart failed: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match &options.out {
        Some(out) => match write_report(out, &report, &options, &chart) {
            Ok(chart_path) => eprintln!(
                "bench: report written to {}, chart to {}",
                out.display(),
                chart_path.display()
            ),
            Err(err) => {
                eprintln!("bench: {err:#}");
                return ExitCode::FAILURE;
            }
        },
        None => eprintln!(
            "bench: chart drawn ({} bytes of SVG), not written (no `--out`)",
            chart.len()
        ),
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
        parse_args(&args).expect("valid flags")
    }

    #[test]
    fn only_picks_a_variant_or_the_overload_scenario() {
        let one = parse(&["--only", "gateway"]);
        assert_eq!(one.config.variants, [Variant::Gateway]);
        assert!(one.config.overload.is_none());

        let overload = parse(&["--only", "overload", "--gateway-binary", "/x/shop-gateway"]);
        assert!(overload.config.variants.is_empty());
        let scenario = overload.config.overload.expect("the overload scenario");
        assert_eq!(scenario.connections, 1_024);
        assert_eq!(
            scenario.gateway_binary.as_deref(),
            Some(Path::new("/x/shop-gateway"))
        );
    }

    #[test]
    fn smoke_is_small_whatever_its_position() {
        let smoke = parse(&["--purchase-requests", "8", "--smoke"]);
        assert!(smoke.smoke);
        assert_eq!(smoke.config.purchase_requests, 8);
        assert_eq!(smoke.config.requests, BenchConfig::smoke().requests);
        let overload = smoke.config.overload.expect("a small overload");
        assert!(overload.connections < 1_024);
    }

    #[test]
    fn bad_flags_are_refused() {
        for args in [
            &["--only", "nginx"][..],
            &["--requests", "0"],
            &["--rounds"],
        ] {
            let args: Vec<String> = args.iter().map(ToString::to_string).collect();
            assert!(parse_args(&args).is_err(), "{args:?}");
        }
    }
}
