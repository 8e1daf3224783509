//! The same check as `cargo xtask gen --check`, so plain `cargo test` catches generated files that
//! are stale against the protos. Keep the configuration in step with `xtask/src/gen.rs`.

use std::path::PathBuf;

#[test]
fn checked_in_generated_files_are_fresh() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = build_support::Generator::new()
        .title("Shop API")
        .license("MIT OR Apache-2.0")
        .proto_dir(root.join("proto/proto"))
        .routes_out(root.join("gateway/src/generated"))
        .openapi_out(root.join("openapi"))
        .generate()
        .expect("our protos generate");
    let stale = output.check();
    assert!(
        stale.is_empty(),
        "stale generated files: {stale:?}\nrun `cargo xtask gen` and commit"
    );
}
