//! The REST/JSON gateway: serves the routes generated from `google.api.http` annotations,
//! transcodes JSON to protobuf and back, and calls the upstream gRPC services.

// Written by `cargo xtask gen` (prettyplease output, not rustfmt's): `--check` compares it byte
// for byte, so rustfmt must not rewrite it.
#[rustfmt::skip]
pub mod generated;
pub mod spec;
