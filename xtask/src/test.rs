//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use crate::{cargo, run_checked};

/// Format, lints (warnings are errors), generated files fresh, the ops files (alert rules,
/// Prometheus config, Grafana dashboard), every test in the workspace, a smoke run of
/// `cargo xtask bench` (about a minute), the
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
    check_ops()?;
    run_checked(cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
    // Every benchmark path runs (dev profile, a few requests; prints ratios, asserts no speed).
    crate::bench::run(&["--smoke".to_owned()])?;
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

/// Checks `ops/`: the alert rules and the Prometheus config with `promtool` (Debian's
/// `prometheus` package), the rules' unit tests (`promtool test rules`), and the Grafana
/// dashboard's shape (`ops/grafana/check_dashboard.py`).
fn check_ops() -> anyhow::Result<()> {
    let installed = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    anyhow::ensure!(
        installed,
        "promtool is missing: install the `prometheus` package (`apt-get install prometheus`)"
    );
    let promtool = |args: &[&str]| {
        let mut cmd = std::process::Command::new("promtool");
        cmd.current_dir(crate::project_root()).args(args);
        run_checked(&mut cmd)
    };
    promtool(&["check", "rules", "ops/prometheus/alerts.yml"])?;
    promtool(&["check", "config", "ops/prometheus/prometheus.yml"])?;
    promtool(&["test", "rules", "ops/prometheus/alerts_test.yml"])?;
    run_checked(
        std::process::Command::new("python3")
            .current_dir(crate::project_root())
            .arg("ops/grafana/check_dashboard.py"),
    )
}
