//! The service's one error type, mapped to a gRPC status in one place.

use diesel::result::Error as DieselError;
use shop_common::{DbError, FieldError, IdempotencyKey};
use tonic::{Code, Status};

use crate::upstream::CallError;

/// Everything a purchases RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PurchaseError {
    /// A request field (or the `Idempotency-Key`) is invalid.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// A user, product or purchase does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// `user`, `product` or `purchase`.
        entity: &'static str,
        /// The id asked for.
        id: i64,
    },
    /// An upstream service could not be reached or did not answer in time.
    #[error("the {service} is unavailable, try again later")]
    UpstreamUnavailable {
        /// Logical service name.
        service: &'static str,
        /// What went wrong, for the log.
        cause: String,
    },
    /// An upstream service answered with an unexpected error or message.
    #[error("the {service} failed: {cause}")]
    UpstreamFailed {
        /// Logical service name.
        service: &'static str,
        /// What went wrong, for the log.
        cause: String,
    },
    /// The product's price cannot be charged exactly (more than two decimals, or too large).
    #[error("product {product_id} costs {price}, which is not a whole number of cents")]
    UnchargeablePrice {
        /// The product.
        product_id: i64,
        /// Its price.
        price: f64,
    },
    /// Payments took the charge request but its answer never came: the purchase stays PENDING
    /// until it is settled against the payments ledger.
    #[error(
        "the payments-service did not answer; purchase {0} stays PENDING until its payment is settled"
    )]
    PaymentPending(i64),
    /// The purchase is not in a state that can be refunded.
    #[error("purchase {id} cannot be refunded: {why}")]
    NotRefundable {
        /// The purchase.
        id: i64,
        /// Why not, for the client.
        why: &'static str,
    },
    /// The idempotency key already names a different request.
    #[error(
        "Idempotency-Key \"{0}\" was already used for a different request; use a new key for a new request"
    )]
    KeyConflict(IdempotencyKey),
    /// A request with this idempotency key is still being processed.
    #[error(
        "a request with Idempotency-Key \"{0}\" is still being processed; retry it later for its answer"
    )]
    KeyInProgress(IdempotencyKey),
    /// No database connection could be had.
    #[error(transparent)]
    Unavailable(#[from] DbError),
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] DieselError),
    /// Stored data breaks an invariant (e.g. an unknown status), or a task died.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The purchase event stream (NATS JetStream) cannot be read: not configured, or down.
    #[error("the purchase event stream is unavailable, try again later")]
    EventsUnavailable {
        /// What the client or server said, for the log only.
        cause: String,
    },
}

impl PurchaseError {
    /// Classifies a failed call to `service` fetching `entity` `id`.
    pub fn from_call(service: &'static str, entity: &'static str, id: i64, err: CallError) -> Self {
        match err {
            CallError::Answer(status) if status.code() == Code::NotFound => {
                Self::NotFound { entity, id }
            }
            CallError::Answer(status) => Self::UpstreamFailed {
                service,
                cause: format!("{:?}: {}", status.code(), status.message()),
            },
            CallError::Unavailable { cause, .. } => Self::UpstreamUnavailable { service, cause },
        }
    }
}

impl From<PurchaseError> for Status {
    fn from(err: PurchaseError) -> Self {
        match err {
            PurchaseError::InvalidArgument(field) => field.into(),
            PurchaseError::NotFound { .. } => Status::not_found(err.to_string()),
            PurchaseError::UpstreamUnavailable { ref cause, .. } => {
                tracing::warn!(%cause, "{err}");
                Status::unavailable(err.to_string())
            }
            PurchaseError::EventsUnavailable { ref cause } => {
                tracing::warn!(%cause, "{err}");
                Status::unavailable(err.to_string())
            }
            PurchaseError::PaymentPending(_) => {
                tracing::warn!("{err}");
                Status::unavailable(err.to_string())
            }
            PurchaseError::UnchargeablePrice { .. } | PurchaseError::NotRefundable { .. } => {
                Status::failed_precondition(err.to_string())
            }
            PurchaseError::KeyConflict(_) => Status::already_exists(err.to_string()),
            PurchaseError::KeyInProgress(_) => Status::aborted(err.to_string()),
            PurchaseError::Unavailable(db) => db.into(),
            PurchaseError::UpstreamFailed { .. }
            | PurchaseError::Query(_)
            | PurchaseError::Corrupt(_) => {
                tracing::error!(error = %err, "purchases request failed");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_code_and_no_internals() {
        let key = IdempotencyKey::parse("k-1", "key").expect("valid");
        let conflict = Status::from(PurchaseError::KeyConflict(key.clone()));
        assert_eq!(conflict.code(), Code::AlreadyExists);
        assert!(conflict.message().contains("\"k-1\""), "{conflict:?}");
        assert_eq!(
            Status::from(PurchaseError::KeyInProgress(key)).code(),
            Code::Aborted
        );
        let refund = Status::from(PurchaseError::NotRefundable {
            id: 7,
            why: "it is already REFUNDED",
        });
        assert_eq!(refund.code(), Code::FailedPrecondition);
        assert_eq!(
            refund.message(),
            "purchase 7 cannot be refunded: it is already REFUNDED"
        );
        assert_eq!(
            Status::from(PurchaseError::PaymentPending(3)).code(),
            Code::Unavailable
        );
        let internal = Status::from(PurchaseError::Query(DieselError::NotFound));
        assert_eq!(internal.code(), Code::Internal);
        assert_eq!(internal.message(), "internal error");
    }

    #[test]
    fn call_errors_classify_by_answer() {
        let not_found = PurchaseError::from_call(
            "users-service",
            "user",
            9,
            CallError::Answer(Status::not_found("x")),
        );
        assert_eq!(not_found.to_string(), "user 9 not found");
        let down = PurchaseError::from_call(
            "users-service",
            "user",
            9,
            CallError::Unavailable {
                cause: "refused".into(),
                outcome_unknown: false,
            },
        );
        assert!(matches!(down, PurchaseError::UpstreamUnavailable { .. }));
    }
}
