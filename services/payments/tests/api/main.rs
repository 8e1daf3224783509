//! Payments service API tests: a real PostgreSQL database per test, a real server on a loopback
//! port, tonic clients. The ledger is read back with SQL to check what was really written.

mod charge;
mod helpers;
mod infra;
mod refund;
