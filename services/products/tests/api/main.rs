//! Products service API tests: a real PostgreSQL database per test, a real server on a loopback
//! port, tonic clients.

mod create_product;
mod get_product;
mod helpers;
mod infra;
mod sold_count;
