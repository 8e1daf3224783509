//! `cargo xtask bench [flags]`: builds `gateway-bench` (`benches/`) in release mode, runs it
//! and writes its report to `docs/perf/latest.md` (overwritten each run), passing the flags
//! through (`--requests N`, `--postgres-requests N`, `--warmup N`, `--concurrency N[,N..]`,
//! `--rounds N`, `--upstream memory|postgres|both`,
//! `--only pgbench|grpc|axum|gateway|h2load-axum|h2load-gateway` to run one variant alone,
//! e.g. under a profiler).
//!
//! One run measures every path of `GET /api/users/{id}` (and `POST /api/users`): pgbench
//! running the users service's own query (the database's limit), direct gRPC, the
//! hand-written axum handler and the gateway, in-process and with h2load as a second opinion,
//! at 1 and 32 in flight, in interleaved rounds; the table shows median req/s, p50/p99 and the
//! ratios (`vs DB`, `vs gRPC`, `vs axum`; 1.00 = as fast as the hand-written handler).
//! pgbench (`postgresql-client`) and h2load (`nghttp2-client`) are optional: without them their
//! rows are left out with a note. Absolute numbers depend on the machine; compare the ratios.
//!
//! `cargo xtask bench --smoke`: a few requests of everything, built with the dev profile (the
//! test build's dependencies are reused, so it adds seconds, not a release build, to CI);
//! prints the table, writes no file, asserts no speed: it only shows that every path runs.

use std::process::Command;

use crate::{cargo, project_root, run_checked};

/// Where a full run writes its report.
const REPORT: &str = "docs/perf/latest.md";

/// Builds and runs the benchmark.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let profile = if smoke { "debug" } else { "release" };
    let mut build = cargo();
    build.args(["build", "-p", "gateway-bench", "--bin", "gateway-bench"]);
    if !smoke {
        build.arg("--release");
    }
    run_checked(&mut build)?;
    let binary = test_support::target_dir()
        .join(profile)
        .join(format!("gateway-bench{}", std::env::consts::EXE_SUFFIX));
    let mut bench = Command::new(binary);
    bench.args(args).current_dir(project_root());
    let command = format!("cargo xtask bench {}", args.join(" "));
    bench.args(["--command", command.trim()]);
    if smoke {
        eprintln!(
            "bench: smoke mode uses the dev profile (no release build): the numbers mean nothing"
        );
    } else if !args.iter().any(|a| a == "--out") {
        bench.args(["--out", REPORT]);
    }
    run_checked(&mut bench)
}
