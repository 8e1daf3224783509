//! Database rows and queries. Query functions take `&mut AsyncPgConnection` so callers can run
//! them inside a transaction.

mod models;
mod queries;

pub use models::UserRow;
pub use queries::{find_user, insert_user, users_after};
