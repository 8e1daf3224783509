//! `cargo xtask gen [--check] [--proto-dir DIR]... [--file FILE]... [--out DIR] [--openapi-out DIR]
//! [--title T] [--license SPDX]`:
//! regenerate the gateway routes and the OpenAPI document from the protos.
//!
//! Defaults are this repository's: protos under `proto/proto` (every file except `google/**`),
//! routes into `gateway/src/generated`, the document into `openapi/`, and, when the document goes
//! to `openapi/`, the TypeScript client's types into `clients/ts/src/generated/` (needs Node.js;
//! see `ts_client`). Relative paths are taken from the workspace root.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::project_root;

const USAGE: &str = "usage: cargo xtask gen [--check] [--proto-dir DIR]... [--file FILE]... \
                     [--out DIR] [--openapi-out DIR] [--title T] [--license SPDX]";

/// Regenerates everything, or with `--check` fails listing the stale files.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let root = project_root();
    let mut check = false;
    let mut proto_dirs: Vec<PathBuf> = Vec::new();
    let mut files: Vec<String> = Vec::new();
    let mut out = root.join("gateway/src/generated");
    let mut openapi_out = root.join("openapi");
    let mut title = "Shop API".to_owned();
    let mut license = "MIT OR Apache-2.0".to_owned();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("`{flag}` needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--check" => check = true,
            "--proto-dir" => proto_dirs.push(root.join(value(arg)?)),
            "--file" => files.push(value(arg)?),
            "--out" => out = root.join(value(arg)?),
            "--openapi-out" => openapi_out = root.join(value(arg)?),
            "--title" => title = value(arg)?,
            "--license" => license = value(arg)?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if proto_dirs.is_empty() {
        proto_dirs.push(root.join("proto/proto"));
    }

    let ts_client = openapi_out == root.join("openapi");
    let mut generator = build_support::Generator::new()
        .title(title)
        .license(license)
        .routes_out(out)
        .openapi_out(openapi_out.clone());
    for dir in proto_dirs {
        generator = generator.proto_dir(dir);
    }
    if !files.is_empty() {
        generator = generator.files(files);
    }
    let mut output = generator.generate()?;
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
