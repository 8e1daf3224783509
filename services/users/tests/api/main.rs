//! Users service API tests: a real PostgreSQL database per test, a real server on a loopback
//! port, tonic clients.

mod create_user;
mod get_user;
mod helpers;
mod infra;
mod list_users;
