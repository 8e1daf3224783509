//! Rows of the `charges` and `refunds` tables.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::{charges, refunds};

/// An approved charge.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = charges, check_for_backend(diesel::pg::Pg))]
pub struct ChargeRow {
    /// Ledger id.
    pub id: i64,
    /// The caller's key.
    pub idempotency_key: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// When written.
    pub created_at: DateTime<Utc>,
}

/// A refund of a charge.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = refunds, check_for_backend(diesel::pg::Pg))]
pub struct RefundRow {
    /// Ledger id.
    pub id: i64,
    /// The caller's key.
    pub idempotency_key: String,
    /// The charge refunded.
    pub charge_id: i64,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// When written.
    pub created_at: DateTime<Utc>,
}

/// The columns a charge insert sets.
#[derive(Debug, Insertable)]
#[diesel(table_name = charges)]
pub(crate) struct NewChargeRow<'a> {
    pub idempotency_key: &'a str,
    pub amount_minor: i64,
}

/// The columns a refund insert sets.
#[derive(Debug, Insertable)]
#[diesel(table_name = refunds)]
pub(crate) struct NewRefundRow<'a> {
    pub idempotency_key: &'a str,
    pub charge_id: i64,
    pub amount_minor: i64,
}
