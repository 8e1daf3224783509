//! Database rows and queries. Query functions take `&mut AsyncPgConnection` so callers can run
//! them inside a transaction.

mod models;
mod queries;

pub use models::{ChargeRow, RefundRow};
pub use queries::{
    find_charge, find_refund, insert_charge, insert_refund, lock_charge, refunded_total,
};
