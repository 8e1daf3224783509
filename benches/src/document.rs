//! The report as a Markdown document (`docs/perf/latest.md`): the table, and what it takes to
//! read it later: when, on what machine, with which build, tools and load, by which command.

use std::fmt::Write as _;
use std::process::Command;

use crate::{BenchConfig, Report};

/// The first line of `program args`' standard output, if it runs.
fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// The value of the first `key : value` line of `/proc/<file>` (Linux), if any.
fn proc_value(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{file}")).ok()?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == key).then(|| value.trim().to_owned())
    })
}

/// One line describing the machine: OS, CPU, cores, memory.
pub fn machine() -> String {
    let os = first_line("uname", &["-srm"]).unwrap_or_else(|| std::env::consts::OS.to_owned());
    let cpu = proc_value("cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = proc_value("meminfo", "MemTotal")
        .and_then(|kb| kb.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(
            || "unknown memory".to_owned(),
            |kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0),
        );
    format!("{os}; {cpu}; {cores} cores available; {memory}")
}

/// The document: a header (date, command, build, machine, tools, load), the table, and how to
/// read it.
pub fn render(report: &Report, config: &BenchConfig, command: &str, smoke: bool) -> String {
    let date = first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
    let build = if cfg!(debug_assertions) {
        "dev profile (debug assertions on: the numbers are meaningless)"
    } else {
        "release profile"
    };
    let rustc = first_line("rustc", &["--version"]).unwrap_or_else(|| "unknown".to_owned());
    let tool = |found: &Option<crate::external::Tool>, name: &str| {
        found
            .as_ref()
            .map_or_else(|| format!("{name}: not installed"), |t| t.version.clone())
    };
    let mut out = String::from("# Benchmark: latest run\n\n");
    if smoke {
        out.push_str(
            "**Smoke run** (`--smoke`): a few requests of everything, to show every path \
             works. The numbers mean nothing.\n\n",
        );
    }
    let _ = writeln!(
        out,
        "Written by `{command}`; overwritten by every run. The numbers depend on the machine and \
         its neighbours: compare the **ratios**.\n"
    );
    let _ = writeln!(out, "- date: {date}");
    let _ = writeln!(out, "- build: {build}, {rustc}");
    let _ = writeln!(out, "- machine: {}", machine());
    let _ = writeln!(
        out,
        "- tools: {}; {}",
        tool(&report.tools.pgbench, "pgbench"),
        tool(&report.tools.h2load, "h2load")
    );
    let concurrencies: Vec<String> = config
        .concurrencies
        .iter()
        .map(ToString::to_string)
        .collect();
    let _ = writeln!(
        out,
        "- load: {} requests per variant, binding and concurrency ({} with PostgreSQL) after {} \
         warm-up, at {} in flight, in {} interleaved rounds; req/s is the median of the rounds, \
         p50/p99 over all of them\n",
        config.requests,
        config.postgres_requests,
        config.warmup,
        concurrencies.join(" and "),
        config.rounds
    );
    out.push_str(&report.table());
    out.push_str(
        "\n## Reading it\n\n\
         - **vs DB**: over pgbench running the users service's own query (prepared, random \
         existing ids) on the same database at the same concurrency: how much of what \
         PostgreSQL can answer survives the service, and then the HTTP layer \
         (`direct gRPC` vs DB is the service's share).\n\
         - **vs gRPC**: over calling the service directly with the generated tonic client \
         (HTTP/1.1 and JSON keep both HTTP variants below 1).\n\
         - **vs axum**: over the hand-written axum handler doing the same binding, driven the \
         same way (in-process client, or h2load for the h2load rows); 1.00 = as fast as \
         hand-written code, the project's goal.\n\
         - The h2load rows drive the same servers from another process over HTTP/1.1 \
         keep-alive: a second opinion on the in-process client's numbers.\n\
         - `memory` answers from a map (the HTTP layer alone); `postgres` is the real users \
         service on PostgreSQL (what a deployment sees; the database dominates).\n",
    );
    out
}
