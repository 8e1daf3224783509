//! Compiles `proto/greeter/v1/greeter.proto` twice over, both in-process (no system `protoc`):
//!
//! * protox + tonic-prost-build: the prost messages and the tonic server and client
//!   (`$OUT_DIR/greeter.v1.rs`, included by `src/lib.rs`);
//! * the gateway generator (`build_support::configure()`): the route table
//!   (`$OUT_DIR/gateway_routes.rs` + `.bin`, for `gateway::include_routes!()`) and the OpenAPI
//!   document (`$OUT_DIR/openapi.json` + `.yaml`, embedded for Swagger UI).

use std::path::PathBuf;

/// The annotated protos, relative to `proto/`; their imports come along.
const PROTOS: &[&str] = &["greeter/v1/greeter.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let protos = manifest_dir.join("proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    // tonic: the annotation protos (`google/api/annotations.proto`, ...) ship with the generator,
    // so protox needs `build_support::PROTO_INCLUDE` next to our own directory.
    println!("cargo::rerun-if-changed={}", protos.display());
    let mut compiler =
        protox::Compiler::new([protos.as_path(), build_support::PROTO_INCLUDE.as_ref()])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;

    // The gateway: routes into $OUT_DIR (plus rerun-if-changed for every proto read), and the
    // OpenAPI document next to them.
    build_support::configure()
        .openapi_out(&out_dir)
        .title("Greeter API")
        .api_version(std::env::var("CARGO_PKG_VERSION")?)
        .compile(PROTOS, &[&protos])?;
    Ok(())
}
