//! Sets `cfg(has_openapi)` when the generated OpenAPI documents exist, so the binary embeds
//! them with `include_str!` without failing to build before `cargo xtask gen` has written them.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_openapi)");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi");
    let json = dir.join("openapi.json");
    let yaml = dir.join("openapi.yaml");
    println!("cargo::rerun-if-changed={}", json.display());
    println!("cargo::rerun-if-changed={}", yaml.display());
    let present = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    if present(&json) && present(&yaml) {
        println!("cargo::rustc-cfg=has_openapi");
    }
}
