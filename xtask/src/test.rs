//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use crate::{cargo, run_checked};

/// Format, lints (warnings are errors), generated files fresh, every test in the workspace, the
/// googleapis corpus (`cargo xtask corpus`), then the end-to-end checks of `cargo xtask e2e`.
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
    validate_openapi()?;
    run_checked(cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
    // The generator on every annotated directory of googleapis (pinned), every document
    // validated: about a minute and a half on two cores.
    crate::corpus::run(&[])?;
    // The ways people use the project, with their real tools (Node.js, Chromium, buf, Redocly).
    crate::e2e::run(&[])
}

/// Checks the published OpenAPI document with an independent validator (PyPI's
/// `openapi-spec-validator`), so a document our own emitter believes valid is proven so.
fn validate_openapi() -> anyhow::Result<()> {
    let installed = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .status()
        .is_ok_and(|status| status.success());
    anyhow::ensure!(
        installed,
        "the OpenAPI validator is missing: run `python3 -m pip install openapi-spec-validator`"
    );
    run_checked(
        std::process::Command::new("python3")
            .current_dir(crate::project_root())
            .args([
                "-m",
                "openapi_spec_validator",
                "openapi/openapi.json",
                "openapi/openapi.yaml",
            ]),
    )
}
