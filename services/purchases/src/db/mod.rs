//! Database rows and queries. Query functions take `&mut AsyncPgConnection` so callers can run
//! them inside a transaction.

mod models;
mod queries;

pub use models::PurchaseRow;
pub use queries::{find_purchase, insert_purchase, purchases_of_user};
