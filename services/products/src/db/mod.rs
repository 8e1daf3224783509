//! Database rows and queries. Query functions take `&mut AsyncPgConnection` so callers can run
//! them inside a transaction.

mod models;
mod queries;

pub use models::ProductRow;
pub use queries::{count_sale_once, find_product, insert_product, products_after};
