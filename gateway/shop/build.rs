//! Generates the shop's route table from its protos (`gateway::include_routes!()` in `main.rs`),
//! the way tonic-build generates clients: the protos are the source, the routes follow them on
//! every build, and nothing generated is checked in for the binary.

use std::path::PathBuf;

/// The annotated protos whose bindings the shop's gateway serves (their imports come along).
const PROTOS: &[&str] = &[
    "products/v1/products.proto",
    "purchases/v1/purchase_query.proto",
    "purchases/v1/purchases.proto",
    "users/v1/users.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto/proto");
    build_support::configure().compile(PROTOS, &[protos])?;
    Ok(())
}
