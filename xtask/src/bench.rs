//! `cargo xtask bench [flags]`: builds `gateway-bench` (`benches/`) and the `shop-gateway`
//! binary in release mode, runs the bench and writes its report to `docs/perf/latest.md` and
//! its chart to `docs/perf/latest.svg` (both overwritten each run), passing the flags through
//! (`--requests N`, `--postgres-requests N`, `--purchase-requests N`, `--warmup N`,
//! `--concurrency N[,N..]`, `--rounds N`, `--upstream memory|postgres|both`,
//! `--only pgbench|grpc|axum|gateway|h2load-axum|h2load-gateway` to run one variant alone,
//! e.g. under a profiler, or `--only overload` for the overload scenario alone).
//!
//! One run measures every path of `GET /api/users/{id}` and `POST /api/users` (pgbench running
//! the users service's own SELECT and INSERT: the database's limit; direct gRPC; the
//! hand-written axum handler; the gateway; in-process and with h2load as a second opinion) and
//! of `POST /api/purchases` on the real shop (direct gRPC, hand-written axum, gateway), at 1
//! and 32 in flight, in interleaved rounds; the table shows median req/s, p50/p99 and the
//! ratios (`vs DB`, `vs gRPC`, `vs axum`; 1.00 = as fast as the hand-written handler), the
//! chart draws them. Then the overload scenario: 1,024 keep-alive connections against the
//! `shop-gateway` binary (a child process, so its peak RSS is its own) limited to 512 in
//! flight: admitted req/s and latency, requests shed and how fast, the gateway's memory.
//! pgbench (`postgresql-client`) and h2load (`nghttp2-client`) are optional: without them their
//! rows are left out with a note. Absolute numbers depend on the machine; compare the ratios.
//!
//! `cargo xtask bench --smoke`: a few requests of everything and a small overload (64
//! connections, a limit of 32), built with the dev profile (the test build's dependencies and
//! `shop-gateway` are reused, so it adds seconds, not a release build, to CI); prints the
//! tables, draws the chart in memory, writes no file, asserts no speed: it only shows that
//! every path runs.

use std::process::Command;

use crate::{cargo, project_root, run_checked};

/// Where a full run writes its report (the chart goes beside it, as `.svg`).
const REPORT: &str = "docs/perf/latest.md";

/// Builds and runs the benchmark.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let profile = if smoke { "debug" } else { "release" };
    let mut build = cargo();
    // `shop-gateway` too: the overload scenario runs the real binary as a child process.
    build.args([
        "build",
        "-p",
        "gateway-bench",
        "-p",
        "shop-gateway",
        "--bin",
        "gateway-bench",
        "--bin",
        "shop-gateway",
    ]);
    if !smoke {
        build.arg("--release");
    }
    run_checked(&mut build)?;
    let binaries = test_support::target_dir().join(profile);
    let binary = |name: &str| binaries.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let mut bench = Command::new(binary("gateway-bench"));
    bench.args(args).current_dir(project_root());
    let command = format!("cargo xtask bench {}", args.join(" "));
    bench.args(["--command", command.trim()]);
    if !args.iter().any(|a| a == "--gateway-binary") {
        bench.arg("--gateway-binary").arg(binary("shop-gateway"));
    }
    if smoke {
        eprintln!(
            "bench: smoke mode uses the dev profile (no release build): the numbers mean nothing"
        );
    } else if !args.iter().any(|a| a == "--out") {
        bench.args(["--out", REPORT]);
    }
    run_checked(&mut bench)
}
