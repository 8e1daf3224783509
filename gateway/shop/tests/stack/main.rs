//! The real stack: HTTP client -> gateway (the generated route table) -> users, products and
//! purchases services -> PostgreSQL. DESIGN.md's seed walkthrough, verbatim, and every error
//! case of its table.

mod composite;
mod errors;
mod helpers;
mod walkthrough;
