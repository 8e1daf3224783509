//! Purchases service API tests: real users, products and payments services, each on its own
//! fresh PostgreSQL database, real sockets, tonic clients; `crash` kills the real binary.

mod crash;
mod create_purchase;
mod events;
mod get_purchase;
mod get_user_purchases;
mod helpers;
mod idempotency;
mod infra;
mod lifecycle;
mod resilience;
mod sweeper;
