//! The service's one error type, mapped to a gRPC status in one place.

use diesel::result::Error as DieselError;
use shop_common::{DbError, FieldError, IdempotencyKey};
use tonic::Status;

/// Everything a payments RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// A request field is invalid.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// The idempotency key already names a different charge or refund.
    #[error("idempotency key \"{key}\" was already used for {stored}; this request asks {asked}")]
    KeyConflict {
        /// The key.
        key: IdempotencyKey,
        /// What the key names in the ledger.
        stored: String,
        /// What this request asked for.
        asked: String,
    },
    /// No approved charge has the key.
    #[error("no approved charge under idempotency key \"{0}\"")]
    ChargeNotFound(IdempotencyKey),
    /// A refund would take more than what is left of the charge.
    #[error(
        "refund of {requested} minor units exceeds what is left of charge \"{charge_key}\" ({remaining} of {charged} minor units)"
    )]
    RefundExceedsCharge {
        /// The charge's key.
        charge_key: IdempotencyKey,
        /// The refund asked for.
        requested: i64,
        /// What the earlier refunds left.
        remaining: i64,
        /// The charge's amount.
        charged: i64,
    },
    /// The failure rule (`--failure-rate`) picked this call; nothing was written.
    #[error("simulated payments failure, nothing was written; try again")]
    SimulatedFailure,
    /// No database connection could be had.
    #[error(transparent)]
    Unavailable(#[from] DbError),
    /// A query failed. The cause is logged, never sent to the client.
    #[error("query failed: {0}")]
    Query(#[from] DieselError),
    /// Stored data breaks an invariant. Logged, never sent to the client.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl From<PaymentError> for Status {
    fn from(err: PaymentError) -> Self {
        match err {
            PaymentError::InvalidArgument(field) => field.into(),
            PaymentError::KeyConflict { .. } => Status::already_exists(err.to_string()),
            PaymentError::ChargeNotFound(_) => Status::not_found(err.to_string()),
            PaymentError::RefundExceedsCharge { .. } => {
                Status::failed_precondition(err.to_string())
            }
            PaymentError::SimulatedFailure => Status::unavailable(err.to_string()),
            PaymentError::Unavailable(db) => db.into(),
            PaymentError::Query(_) | PaymentError::Corrupt(_) => {
                tracing::error!(error = %err, "payments request failed");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn key(value: &str) -> IdempotencyKey {
        IdempotencyKey::parse(value, "key").expect("valid key")
    }

    #[test]
    fn each_error_has_its_code_and_no_database_text() {
        let conflict = Status::from(PaymentError::KeyConflict {
            key: key("purchase-1"),
            stored: "a charge of 100 minor units".into(),
            asked: "a charge of 200 minor units".into(),
        });
        assert_eq!(conflict.code(), Code::AlreadyExists);
        assert!(
            conflict.message().contains("\"purchase-1\""),
            "{conflict:?}"
        );
        assert_eq!(
            Status::from(PaymentError::ChargeNotFound(key("k"))).code(),
            Code::NotFound
        );
        let exceeds = Status::from(PaymentError::RefundExceedsCharge {
            charge_key: key("purchase-1"),
            requested: 5,
            remaining: 4,
            charged: 10,
        });
        assert_eq!(exceeds.code(), Code::FailedPrecondition);
        assert_eq!(
            Status::from(PaymentError::SimulatedFailure).code(),
            Code::Unavailable
        );
        let internal = Status::from(PaymentError::Query(DieselError::NotFound));
        assert_eq!(internal.code(), Code::Internal);
        assert_eq!(internal.message(), "internal error");
    }
}
