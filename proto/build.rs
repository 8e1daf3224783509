//! Compiles `proto/**/*.proto` with protox (no system `protoc`) and generates prost messages and
//! tonic clients/servers, plus the encoded `FileDescriptorSet` that reflection, the gateway and
//! the generator read.

use std::path::PathBuf;

/// The files we compile; their imports come along.
const PROTOS: &[&str] = &[
    "users/v1/users.proto",
    "products/v1/products.proto",
    "purchases/v1/purchases.proto",
    "payments/v1/payments.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed={}", build_support::PROTO_INCLUDE);

    // The annotation protos (`google/api/*`, `gateway/v1/compose.proto`) ship with the generator.
    let mut compiler =
        protox::Compiler::new([root.as_path(), build_support::PROTO_INCLUDE.as_ref()])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS)?;

    // Encoded by protox itself: re-encoding the prost_types set would drop the
    // `(google.api.http)` extension options, which prost does not keep as unknown fields.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("file_descriptor_set.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // `prost::Name` on every message: the services check a request against its `buf.validate`
    // rules by the message's full name.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds_with_config(compiler.file_descriptor_set(), config)?;
    Ok(())
}
