//! `cargo xtask e2e`: the ways people use the project, each driven by its real tool.
//!
//! 1. `npm ci` in `clients/ts` (every tool below comes from its lock file);
//! 2. `buf lint` on the protos (STANDARD rules, `buf.yaml`);
//! 3. `redocly lint` on `openapi/openapi.json` (`openapi/redocly.yaml`), no errors allowed;
//! 4. `tsc` on the generated TypeScript client and its tests (strict);
//! 5. the whole stack on free loopback ports (the same processes as `cargo xtask up`, with the
//!    databases that `USERS_DATABASE_URL`, `PRODUCTS_DATABASE_URL`, `PURCHASES_DATABASE_URL` and
//!    `PAYMENTS_DATABASE_URL` do not name on a throwaway PostgreSQL cluster), then node's test runner on
//!    `clients/ts/test`: the seed walkthrough through the generated client, Swagger UI in headless Chromium, and
//!    `buf curl` through server reflection. The stack is stopped however the tests end.
//!
//! With `GATEWAY_URL`, `USERS_GRPC_URL`, `PRODUCTS_GRPC_URL`, `PURCHASES_GRPC_URL` and
//! `PAYMENTS_GRPC_URL` all set, the tests run against that stack instead (e.g. one started by
//! `cargo xtask up`).
//!
//! A missing tool (Node.js, npm, Chromium) fails with one line saying how to install it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};

use crate::databases::{ClusterKind, Databases};
use crate::up::{self, Ports, Stack};
use crate::{project_root, run_checked, ts_client};

const USAGE: &str = "usage: cargo xtask e2e";

/// The variables the node tests read, in the order they are printed.
const STACK_ENV: [&str; 5] = [
    "GATEWAY_URL",
    "USERS_GRPC_URL",
    "PRODUCTS_GRPC_URL",
    "PURCHASES_GRPC_URL",
    "PAYMENTS_GRPC_URL",
];

/// Debian's Chromium, which the Swagger UI test drives (`CHROMIUM` overrides the path).
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// `cargo xtask e2e`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if let Some(arg) = args.first() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            return Ok(());
        }
        bail!("unknown argument `{arg}`\n{USAGE}");
    }
    ts_client::require_node()?;
    let chromium = require_chromium()?;
    ts_client::npm_ci()?;
    lint()?;
    compile_client()?;

    let given: Vec<(&str, String)> = STACK_ENV
        .iter()
        .filter_map(|name| Some((*name, std::env::var(name).ok().filter(|v| !v.is_empty())?)))
        .collect();
    if given.len() == STACK_ENV.len() {
        eprintln!("running against the stack given in the environment");
        return node_tests(&given, &chromium);
    }
    run_checked(&mut up::build_command())?;
    let ports = Ports::free()?;
    let (databases, _cluster) =
        Databases::given_or_on_cluster(ports.postgres(), ClusterKind::Throwaway)?;
    let nats = up::Nats::private()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(with_stack(ports, &databases, &nats.url(), &chromium))
}

/// Lints what we publish: the protos with buf, the OpenAPI document with Redocly.
fn lint() -> anyhow::Result<()> {
    run_checked(ts_client::npm_bin("buf").current_dir(project_root()).args([
        "lint",
        "--error-format",
        "text",
    ]))?;
    eprintln!("buf lint: no problems in proto/proto and build-support/proto");
    crate::contract::check()?;
    run_checked(
        ts_client::npm_bin("redocly")
            // No telemetry and no update check: nothing but the registry is reachable in CI.
            .env("REDOCLY_TELEMETRY", "off")
            .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
            .args([
                "lint",
                "--config",
                "../../openapi/redocly.yaml",
                "--format",
                "stylish",
                "../../openapi/openapi.json",
            ]),
    )
}

/// Type-checks (strict, from `tsconfig.json`) and compiles the client and its tests to `dist/`.
fn compile_client() -> anyhow::Result<()> {
    let dist = ts_client::dir().join("dist");
    if dist.exists() {
        // No test compiled from a file that no longer exists.
        std::fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    run_checked(ts_client::npm_bin("tsc").args(["-p", ".", "--strict"]))
}

/// The Chromium binary, or an error saying how to install it.
fn require_chromium() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("CHROMIUM").map_or_else(|| DEFAULT_CHROMIUM.into(), PathBuf::from);
    let works = Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    ensure!(
        works,
        "Chromium is missing at {}: run `apt-get install -y chromium chromium-driver` (or set CHROMIUM)",
        path.display()
    );
    Ok(path)
}

/// Starts the stack, runs the node tests against it, and stops it, also when the tests fail or
/// a process of the stack exits on its own.
async fn with_stack(
    ports: Ports,
    databases: &Databases,
    nats_url: &str,
    chromium: &Path,
) -> anyhow::Result<()> {
    let mut stack = Stack::start(ports, databases, nats_url).await?;
    let addr = |binary: &str| {
        stack
            .addr(binary)
            .map(|addr| format!("http://{addr}"))
            .with_context(|| format!("the stack has no {binary}"))
    };
    let env = [
        ("GATEWAY_URL", addr("shop-gateway")),
        ("USERS_GRPC_URL", addr("users-service")),
        ("PRODUCTS_GRPC_URL", addr("products-service")),
        ("PURCHASES_GRPC_URL", addr("purchases-service")),
        ("PAYMENTS_GRPC_URL", addr("payments-service")),
    ]
    .into_iter()
    .map(|(name, url)| Ok((name, url?)))
    .collect::<anyhow::Result<Vec<_>>>();
    let outcome = match env {
        Ok(env) => {
            let chromium = chromium.to_path_buf();
            let tests = tokio::task::spawn_blocking(move || {
                node_tests(&env, &chromium)?;
                let gateway = env
                    .iter()
                    .find(|(name, _)| *name == "GATEWAY_URL")
                    .map(|(_, url)| url.clone())
                    .context("no GATEWAY_URL")?;
                schemathesis(&gateway)
            });
            tokio::select! {
                result = tests => result.context("the node test runner panicked").and_then(|r| r),
                (name, status) = stack.exited() => {
                    Err(anyhow::anyhow!("{name} exited during the tests ({status})"))
                }
            }
        }
        Err(err) => Err(err),
    };
    stack.stop().await;
    outcome
}

/// The schemathesis release `.ci/run` installs (PyPI); the one this project's document is
/// checked with.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// schemathesis against the live gateway: every operation of its own `/openapi.json`, with data
/// the document calls valid (each must be accepted) and data it calls invalid (each must be
/// refused with a 4xx), every check (no 5xx, response schemas, status codes, content types,
/// `Allow` on 405, ...), and the stateful phase following the document's links (create, then
/// read). Zero failures is the bar; `openapi/schemathesis.toml` lists, with reasons, the two
/// answers no schema can predict (a forged page token, a refund of a purchase in the wrong
/// state). `GET /api/purchases/{id}:watch` is left out: its stream
/// stays open while the purchase may still change, which a request/response fuzzer reads as a
/// timeout; the SSE and NDJSON tests cover it.
fn schemathesis(gateway: &str) -> anyhow::Result<()> {
    let version = Command::new("schemathesis").arg("--version").output();
    let found = version
        .as_ref()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    ensure!(
        found.contains(SCHEMATHESIS_VERSION),
        "schemathesis {SCHEMATHESIS_VERSION} is needed (found {:?}): python3 -m pip install schemathesis=={SCHEMATHESIS_VERSION}",
        found.trim()
    );
    let reports = project_root().join("target/e2e/schemathesis");
    let config = project_root().join("openapi/schemathesis.toml");
    run_checked(Command::new("schemathesis").args([
        "--config-file",
        &config.to_string_lossy(),
        "run",
        &format!("{gateway}/openapi.json"),
        "--checks",
        "all",
        "--mode",
        "all",
        "--max-examples",
        "25",
        "--seed",
        "20261206",
        "--exclude-path-regex",
        ":watch$",
        "--request-timeout",
        "10",
        "--report",
        "junit",
        "--report-dir",
        &reports.to_string_lossy(),
    ]))
}

/// `node --test` on every compiled `*.test.js`, with the stack's addresses in the environment.
fn node_tests(env: &[(&str, String)], chromium: &Path) -> anyhow::Result<()> {
    let test_dir = ts_client::dir().join("dist/test");
    let mut files: Vec<String> = std::fs::read_dir(&test_dir)
        .with_context(|| format!("reading {}", test_dir.display()))?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .filter(|name| name.ends_with(".test.js"))
        .map(|name| format!("dist/test/{name}"))
        .collect();
    files.sort();
    ensure!(
        !files.is_empty(),
        "no compiled tests in {}",
        test_dir.display()
    );
    for (name, value) in env {
        eprintln!("{name}={value}");
    }
    let mut command = Command::new("node");
    command
        .current_dir(ts_client::dir())
        .arg("--test")
        .args(&files)
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .env("CHROMIUM", chromium);
    run_checked(&mut command)
}
