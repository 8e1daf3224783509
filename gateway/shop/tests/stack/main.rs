//! The real stack: HTTP client -> gateway (the generated route table) -> users, products,
//! payments and purchases services -> PostgreSQL. The seed walkthrough (README.md), verbatim,
//! every error case of the gRPC -> HTTP table (ARCHITECTURE.md), and the purchase lifecycle
//! (refunds, declines, `Idempotency-Key`) over HTTP; metrics scraped by a real Prometheus.

mod composite;
mod errors;
mod events;
mod helpers;
mod lifecycle;
mod metrics;
mod walkthrough;
