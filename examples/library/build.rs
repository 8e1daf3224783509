//! Compiles googleapis' `google/example/library/v1/library.proto` from the pinned corpus
//! (`build-support/corpus`, installed by `npm ci` there; `cargo xtask corpus` and `.ci/run` do
//! it) twice over, both in-process:
//!
//! * protox + tonic-prost-build: the prost messages and the tonic server and client;
//! * the gateway generator (`build_support::configure()`, strict): the route table and the
//!   OpenAPI document.
//!
//! Without the corpus installed the crate builds empty (`cfg(corpus_missing)`, with a cargo
//! warning saying how to install it), so a plain `cargo test --workspace` on a fresh clone still
//! works.

use std::path::PathBuf;

use protox::file::{ChainFileResolver, GoogleFileResolver, IncludeFileResolver};

/// The API, relative to the corpus root.
const LIBRARY: &str = "google/example/library/v1/library.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rustc-check-cfg=cfg(corpus_missing)");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let corpus = manifest_dir.join("../../build-support/corpus/node_modules/google-proto-files");
    let library = corpus.join(LIBRARY);
    // Rerun when the corpus gets installed or reinstalled: every `npm ci` writes this file.
    println!(
        "cargo::rerun-if-changed={}",
        manifest_dir
            .join("../../build-support/corpus/node_modules/.package-lock.json")
            .display()
    );
    println!("cargo::rerun-if-changed={}", library.display());
    if !library.exists() {
        println!(
            "cargo::warning=the googleapis corpus is not installed, so library-example is empty: \
             run `npm ci` in build-support/corpus (or `cargo xtask corpus`)"
        );
        println!("cargo::rustc-cfg=corpus_missing");
        return Ok(());
    }

    // tonic: `google/protobuf/*` from protox's bundled copies (googleapis' own descriptor.proto
    // is newer than protox parses), everything else from the corpus, as the generator does.
    let mut resolver = ChainFileResolver::new();
    resolver.add(GoogleFileResolver::new());
    resolver.add(IncludeFileResolver::new(corpus.clone()));
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    compiler.open_files([LIBRARY])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;

    // The gateway, strict: the library API must generate without a warning.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    build_support::configure()
        .openapi_out(&out_dir)
        .title("Library example")
        .license("Apache-2.0")
        .compile(&[LIBRARY], &[&corpus])?;
    Ok(())
}
