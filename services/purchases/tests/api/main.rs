//! Purchases service API tests: real users and products services, each on its own fresh
//! PostgreSQL database, real sockets, tonic clients.

mod create_purchase;
mod get_purchase;
mod get_user_purchases;
mod helpers;
mod infra;
