//! The real stack: HTTP client -> gateway (the generated route table) -> users, products and
//! purchases services -> PostgreSQL. The seed walkthrough (README.md), verbatim, and every error
//! case of the gRPC -> HTTP table (ARCHITECTURE.md).

mod composite;
mod errors;
mod helpers;
mod walkthrough;
