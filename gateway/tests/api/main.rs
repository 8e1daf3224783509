//! End-to-end tests over real sockets: HTTP client -> gateway -> echo gRPC server.

mod binary;
mod compose;
mod conformance;
mod docs;
mod errors;
mod headers;
mod helpers;
mod startup;
mod transcode;

/// The contract, under the path the generated code names (`crate::spec`).
mod spec {
    pub use gateway::spec::*;
}

/// The generator's golden output for its conformance fixture (build-support owns it): the
/// runtime must serve exactly what the generator emits.
#[path = "../../../build-support/tests/golden/routes/mod.rs"]
#[rustfmt::skip]
#[allow(dead_code)]
mod golden;
