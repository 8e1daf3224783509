//! `cargo xtask contract [--update]`: the published contract as a lock file.
//!
//! `proto/api.binpb` is the buf image (`buf build proto/proto`) of the shop's protos as last
//! published. `cargo xtask
//! contract` (run by `cargo xtask e2e`, so by CI) checks the protos against it with
//! `buf breaking` (the `FILE` rules of `buf.yaml`): a renumbered enum value, a retyped or
//! renamed field, a removed method fails with buf's message naming file and line. After an
//! intended change, `cargo xtask contract --update` writes the image anew, and the commit shows
//! it changed, as a lock file would.

use std::path::PathBuf;

use anyhow::bail;

use crate::{project_root, run_checked, ts_client};

const USAGE: &str = "usage: cargo xtask contract [--update]";

/// The image of the published contract, relative to the workspace root.
pub(crate) const IMAGE: &str = "proto/api.binpb";

/// The buf module the contract is: the shop's protos (the generator's option protos under
/// `build-support/proto` come along as imports, not as the contract).
const MODULE: &str = "proto/proto";

/// `cargo xtask contract`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    match args {
        [] => check(),
        [flag] if flag == "--update" => update(),
        _ => bail!("{USAGE}"),
    }
}

fn image() -> PathBuf {
    project_root().join(IMAGE)
}

/// `buf breaking` of the workspace's protos against the published image.
pub(crate) fn check() -> anyhow::Result<()> {
    if !image().exists() {
        bail!("{IMAGE} is missing: write it with `cargo xtask contract --update`");
    }
    run_checked(ts_client::npm_bin("buf").current_dir(project_root()).args([
        "breaking",
        MODULE,
        "--error-format",
        "text",
        "--against",
        IMAGE,
    ]))?;
    eprintln!("buf breaking: no wire- or source-incompatible change against {IMAGE}");
    Ok(())
}

/// Writes the image of the protos as they are now.
fn update() -> anyhow::Result<()> {
    run_checked(
        ts_client::npm_bin("buf")
            .current_dir(project_root())
            .args(["build", MODULE, "-o", IMAGE]),
    )?;
    eprintln!("wrote {IMAGE}: commit it with the change it publishes");
    Ok(())
}
