//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use crate::{cargo, run_checked};

/// Format, lints (warnings are errors), generated files fresh, then every test in the workspace.
///
/// Tests need a PostgreSQL server: `TEST_DATABASE_URL` if set, otherwise `test-support` starts a
/// throwaway cluster with `initdb`/`pg_ctl`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    anyhow::ensure!(args.is_empty(), "`cargo xtask test` takes no arguments");
    run_checked(cargo().args(["fmt", "--all", "--check"]))?;
    run_checked(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    crate::r#gen::run(&["--check".to_owned()])?;
    run_checked(cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
    Ok(())
}
