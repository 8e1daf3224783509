//! `cargo xtask gen [--check] [--lenient] [--proto-dir DIR]... [--file FILE]... [--out DIR]
//! [--openapi-out DIR] [--title T] [--license SPDX]`:
//! regenerate the checked-in artefacts from the protos.
//!
//! Defaults are the shop's ([`shop_generator`]): protos under `proto/proto` (every file except
//! `google/**`), the OpenAPI document into `openapi/`, and, when the document goes to `openapi/`,
//! the TypeScript client's types into `clients/ts/src/generated/` (needs Node.js; see
//! `ts_client`). The shop's route table is not checked in: `gateway/shop/build.rs` generates it on
//! every build. `--out DIR` also writes a route table (`gateway_routes.rs` + `.bin`) for a
//! project that wants one checked in. Relative paths are taken from the workspace root.
//!
//! The generator is strict (any binding the gateway cannot serve fails the run); `--lenient`
//! leaves such bindings out instead. Either way its warnings are printed, one line each.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::project_root;

const USAGE: &str = "usage: cargo xtask gen [--check] [--lenient] [--proto-dir DIR]... \
                     [--file FILE]... [--out DIR] [--openapi-out DIR] [--title T] [--license SPDX]";

/// Regenerates everything, or with `--check` fails listing the stale files.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let root = project_root();
    let mut check = false;
    let mut lenient = false;
    let mut proto_dirs: Vec<PathBuf> = Vec::new();
    let mut files: Vec<String> = Vec::new();
    let mut out: Option<PathBuf> = None;
    let mut openapi_out = root.join("openapi");
    let mut title: Option<String> = None;
    let mut license: Option<String> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("`{flag}` needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--check" => check = true,
            "--lenient" => lenient = true,
            "--proto-dir" => proto_dirs.push(root.join(value(arg)?)),
            "--file" => files.push(value(arg)?),
            "--out" => out = Some(root.join(value(arg)?)),
            "--openapi-out" => openapi_out = root.join(value(arg)?),
            "--title" => title = Some(value(arg)?),
            "--license" => license = Some(value(arg)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    let ts_client = openapi_out == root.join("openapi");
    let mut generator = if proto_dirs.is_empty() {
        shop_generator(&root)
    } else {
        proto_dirs
            .into_iter()
            .fold(build_support::Generator::new(), |generator, dir| {
                generator.proto_dir(dir)
            })
    }
    .openapi_out(openapi_out.clone())
    .strict(!lenient);
    if let Some(title) = title {
        generator = generator.title(title);
    }
    if let Some(license) = license {
        generator = generator.license(license);
    }
    if let Some(out) = out {
        generator = generator.routes_out(out);
    }
    if !files.is_empty() {
        generator = generator.files(files);
    }
    let mut output = generator.generate()?;
    for warning in &output.warnings {
        eprintln!("warning [{}]: {warning}", warning.kind);
    }
    if ts_client {
        crate::ts_client::add_generated(&mut output, &openapi_out)?;
    }

    let show = |path: &PathBuf| {
        path.strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    if check {
        let stale = output.check();
        if stale.is_empty() {
            eprintln!("generated files are up to date");
            return Ok(());
        }
        let list: Vec<String> = stale.iter().map(|p| format!("  {}", show(p))).collect();
        bail!(
            "stale generated files:\n{}\nrun `cargo xtask gen` and commit",
            list.join("\n")
        );
    }
    let written = output.write()?;
    if written.is_empty() {
        eprintln!("generated files are up to date");
    }
    for path in written {
        eprintln!("wrote {}", show(&path));
    }
    Ok(())
}

/// The shop's generator configuration, in one place for `gen`, `gen --check` and the freshness
/// test below: every proto under `proto/proto`, the document titled and licensed as the shop.
pub fn shop_generator(root: &Path) -> build_support::Generator {
    build_support::Generator::new()
        .title("Shop API")
        .license("MIT OR Apache-2.0")
        .proto_dir(root.join("proto/proto"))
        .openapi_out(root.join("openapi"))
}

#[cfg(test)]
mod tests {
    /// The check `cargo xtask gen --check` makes (without the TypeScript types, which need
    /// Node.js), so plain `cargo test` catches an OpenAPI document stale against the protos.
    #[test]
    fn checked_in_openapi_is_fresh() {
        let output = super::shop_generator(&crate::project_root())
            .generate()
            .expect("the shop's protos generate");
        let stale = output.check();
        assert!(
            stale.is_empty(),
            "stale generated files: {stale:?}\nrun `cargo xtask gen` and commit"
        );
    }
}
