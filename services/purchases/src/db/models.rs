//! Rows of the `purchases` and `idempotency_keys` tables.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::{idempotency_keys, purchases};

/// A stored purchase.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = purchases, check_for_backend(diesel::pg::Pg))]
pub struct PurchaseRow {
    /// Server-assigned id.
    pub id: i64,
    /// The buyer.
    pub user_id: i64,
    /// The product bought.
    pub product_id: i64,
    /// Price paid, in minor units.
    pub amount_minor: i64,
    /// Status column value.
    pub status: String,
    /// Why it FAILED.
    pub failure_reason: Option<String>,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// The columns an insert sets (`created_at` and `updated_at` default to `now()`).
#[derive(Debug, Insertable)]
#[diesel(table_name = purchases)]
pub(crate) struct NewPurchaseRow {
    pub user_id: i64,
    pub product_id: i64,
    pub amount_minor: i64,
    pub status: &'static str,
}

/// A stored idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
pub struct KeyRow {
    /// SHA-256 of the operation and request it was first used for.
    pub request_hash: Vec<u8>,
    /// The purchase a CreatePurchase key wrote, once written.
    pub purchase_id: Option<i64>,
    /// The encoded answer, once there is one.
    pub response: Option<Vec<u8>>,
    /// The current owner's claim: its fencing token.
    pub claimed_at: DateTime<Utc>,
}
