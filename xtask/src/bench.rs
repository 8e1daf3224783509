//! `cargo xtask bench [flags]`: builds `gateway-bench` (`benches/`) in release mode and runs it,
//! passing the flags through (`--requests N`, `--postgres-requests N`, `--warmup N`,
//! `--concurrency N`, `--rounds N`, `--upstream memory|postgres|both`,
//! `--only grpc|axum|gateway` to run one variant alone, e.g. under a profiler).
//!
//! The report is a Markdown table on stdout: req/s and p50/p99 latency for direct gRPC, a
//! hand-written axum handler and the gateway, with throughput ratios measured in the same run
//! (`vs axum` 1.00 = as fast as the hand-written handler). Absolute numbers depend on the
//! machine; compare the ratios.

use std::process::Command;

use crate::{cargo, project_root, run_checked};

/// Builds and runs the benchmark.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    run_checked(cargo().args([
        "build",
        "--release",
        "-p",
        "gateway-bench",
        "--bin",
        "gateway-bench",
    ]))?;
    let binary = test_support::target_dir()
        .join("release")
        .join(format!("gateway-bench{}", std::env::consts::EXE_SUFFIX));
    run_checked(Command::new(binary).args(args).current_dir(project_root()))
}
