//! `cargo xtask <command>`: the project's automation, in Rust so that `cargo` is the only tool
//! a contributor needs.
//!
//! - `gen [--check] [--lenient]`: regenerate the gateway routes, the OpenAPI document and the
//!   TypeScript client's types from the protos.
//! - `up`: run the whole stack on this machine (private PostgreSQL cluster, services, gateway).
//! - `test`: everything CI checks (format, lints, generated files fresh, all tests, `corpus`,
//!   then `e2e`).
//! - `e2e`: buf and Redocly lint, then the TypeScript client, Swagger UI in headless Chromium and
//!   `buf curl` against a stack on free ports.
//! - `bench`: the gateway against direct gRPC and a hand-written axum handler, as ratios.
//! - `corpus`: the generator on every annotated directory of googleapis (pinned npm package),
//!   each OpenAPI document validated.
//! - `contract [--update]`: `buf breaking` against the published image `proto/api.binpb`
//!   (`--update` writes it anew after an intended change).

mod bench;
mod contract;
mod corpus;
mod databases;
mod e2e;
mod r#gen;
mod test;
mod ts_client;
mod up;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <gen [--check] [--lenient] | up | test | e2e | bench | corpus | contract [--update]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "bench" => bench::run(rest),
        "contract" => contract::run(rest),
        "corpus" => corpus::run(rest),
        "e2e" => e2e::run(rest),
        "gen" => r#gen::run(rest),
        "test" => test::run(rest),
        "up" => up::run(rest),
        other => {
            eprintln!("unknown command `{other}`\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask {command}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask always works from there, wherever it was started.
///
/// `cargo run` names the manifest directory at run time; that one wins over the directory
/// compiled in, because cargo reuses a binary built from another checkout that shares the
/// target directory (its fingerprint does not include the checkout's path), and the compiled-in
/// path would then point at that other checkout.
fn project_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf)
}

/// `cargo` as the one that runs us (`$CARGO`), so toolchain overrides carry through.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs a command to completion, failing with its command line when it does not succeed.
fn run_checked(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status()?;
    anyhow::ensure!(status.success(), "`{cmd:?}` failed with {status}");
    Ok(())
}
