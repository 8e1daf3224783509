//! Rows of the `purchases` and `idempotency_keys` tables.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::{Cents, PurchaseStatus};
use crate::error::PurchaseError;
use crate::schema::{idempotency_keys, outbox, purchases};

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

impl PurchaseRow {
    /// The row's status; a value the migrations' CHECK forbids is corruption.
    pub fn status(&self) -> Result<PurchaseStatus, PurchaseError> {
        PurchaseStatus::from_db(&self.status).ok_or_else(|| {
            PurchaseError::Corrupt(format!("purchase {} has status {:?}", self.id, self.status))
        })
    }

    /// The row as the API's `purchases.v1.Purchase`.
    pub fn into_message(self) -> Result<proto::purchases::v1::Purchase, PurchaseError> {
        let status = self.status()?;
        let amount = Cents::from_minor(self.amount_minor).ok_or_else(|| {
            PurchaseError::Corrupt(format!(
                "purchase {} has amount {}",
                self.id, self.amount_minor
            ))
        })?;
        Ok(proto::purchases::v1::Purchase {
            id: self.id,
            user_id: self.user_id,
            product_id: self.product_id,
            amount: amount.to_price(),
            status: proto::purchases::v1::PurchaseStatus::from(status).into(),
            created_at: Some(timestamp(self.created_at)),
            failure_reason: self.failure_reason.unwrap_or_default(),
        })
    }
}

/// `time` as a protobuf Timestamp (chrono keeps nanoseconds below one second, so the
/// conversion is exact).
pub fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos().min(999_999_999) as i32,
    }
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

/// An event to write into the outbox (`id`, `created_at` and `published_at` are the table's).
#[derive(Debug, Insertable)]
#[diesel(table_name = outbox)]
pub struct NewOutboxRow {
    /// The event's id, also its `Nats-Msg-Id`.
    pub event_id: uuid::Uuid,
    /// The NATS subject.
    pub subject: String,
    /// The encoded `purchases.v1.PurchaseEvent`.
    pub payload: Vec<u8>,
    /// The W3C trace context of the change's request.
    pub traceparent: Option<String>,
}

/// An outbox row still to publish.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
pub struct PendingEvent {
    /// Publication order.
    pub id: i64,
    /// The event's id, also its `Nats-Msg-Id`.
    pub event_id: uuid::Uuid,
    /// The NATS subject.
    pub subject: String,
    /// The encoded `purchases.v1.PurchaseEvent`.
    pub payload: Vec<u8>,
    /// The W3C trace context of the change's request.
    pub traceparent: Option<String>,
    /// When the change committed.
    pub created_at: DateTime<Utc>,
}
