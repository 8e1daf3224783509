//! The report as a Markdown document (`docs/perf/latest.md`): the chart, the table, the
//! overload scenario, and what it takes to read them later: when, on what machine, with which
//! build, tools and load, by which command.

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

/// The document: a header (date, command, build, machine, tools, load), the chart (`chart`:
/// its path relative to the document, when one was written beside it), the table, the
/// overload scenario, and how to read them.
pub fn render(
    report: &Report,
    config: &BenchConfig,
    command: &str,
    smoke: bool,
    chart: Option<&str>,
) -> String {
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
        "- load: {} requests per variant, binding and concurrency ({} with PostgreSQL, {} for \
         `POST /api/purchases`) after up to {} warm-up (at most a quarter of them), at {} in \
         flight, in {} interleaved rounds; req/s is the median of the rounds, p50/p99 over all \
         of them\n",
        config.requests,
        config.postgres_requests,
        config.purchase_requests,
        config.warmup,
        concurrencies.join(" and "),
        config.rounds
    );
    if let Some(chart) = chart {
        let _ = writeln!(
            out,
            "![Throughput and p99 per variant, binding, upstream and requests in flight]({chart})\n"
        );
    }
    out.push_str(&report.table());
    if let Some(overload) = &report.overload {
        out.push_str("\n## Overload\n\n");
        out.push_str(&overload.table());
        out.push_str(
            "\nHow to read it: past the limit the gateway refuses at once instead of queueing. \
             Clients that honour `Retry-After` come back a second after a refusal, so the \
             machine has CPU to spare: the **admitted** p50 is the upstream's delay plus the \
             gateway's own share, and the **503** p50 is what a refusal costs (no upstream call, \
             no wait for a slot); their p99s are the waves of clients arriving together (every \
             client at the start, the refused ones again each second). \
             Clients that resend at once (in-process and h2load) are a retry storm: most answers \
             are 503s, the shed count measures how fast the gateway refuses, and on a small \
             machine the storm also takes the CPU the admitted requests need, so their latency \
             grows by that wait, not by a queue in the gateway. `gateway counted shed` is the \
             gateway's own `gateway_http_requests_shed_total` over the same run (h2load's log \
             leaves out the requests still open when its time is up). **Peak RSS** is the \
             gateway process's high-water mark so far (`VmHWM`), so each row includes the rows \
             above it: what the connections and a full limit cost it.\n",
        );
    }
    out.push_str(
        "\n## Reading it\n\n\
         - **vs DB**: over pgbench running the users service's own statement (prepared: its \
         SELECT on random existing ids for the GET, its INSERT ... RETURNING with a fresh email \
         into the same table and unique index for the POST) on the same database at the same \
         concurrency: how much of what PostgreSQL can answer survives the service, and then the \
         HTTP layer (`direct gRPC` vs DB is the service's share).\n\
         - **vs gRPC**: over calling the service directly with the generated tonic client \
         (HTTP/1.1 and JSON keep both HTTP variants below 1).\n\
         - **vs axum**: over the hand-written axum handler doing the same binding, driven the \
         same way (in-process client, or h2load for the h2load rows); 1.00 = as fast as \
         hand-written code, the project's goal.\n\
         - The h2load rows drive the same servers from another process over HTTP/1.1 \
         keep-alive: a second opinion on the in-process client's numbers.\n\
         - `memory` answers from a map (the HTTP layer alone); `postgres` is the real users \
         service on PostgreSQL (what a deployment sees; the database dominates).\n\
         - `POST /api/purchases` runs on the real shop: purchases calls users and products, \
         charges through payments, and writes the purchase, the ledger, the outbox and the \
         idempotency key (a fresh `Idempotency-Key` per request), each service on its own \
         PostgreSQL database; pgbench has no row there (several services' transactions are not \
         one statement). The heavier the upstream's work, the smaller the HTTP layer's share: \
         compare its `vs gRPC` with the users bindings'.\n",
    );
    out
}
