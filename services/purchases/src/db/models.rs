//! Rows of the `purchases` table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::purchases;

/// A stored purchase.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = purchases, check_for_backend(diesel::pg::Pg))]
pub struct PurchaseRow {
    /// Server-assigned id.
    pub id: i64,
    /// The buyer.
    pub user_id: i64,
    /// The product bought.
    pub product_id: i64,
    /// Price paid.
    pub amount: f64,
    /// Status column value.
    pub status: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// The columns an insert sets (`created_at` defaults to `now()`).
#[derive(Debug, Insertable)]
#[diesel(table_name = purchases)]
pub(crate) struct NewPurchaseRow {
    pub user_id: i64,
    pub product_id: i64,
    pub amount: f64,
    pub status: &'static str,
}
