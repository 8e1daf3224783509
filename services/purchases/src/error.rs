//! The service's one error type, mapped to a gRPC status in one place.

use diesel::result::Error as DieselError;
use shop_common::{DbError, FieldError};
use tonic::{Code, Status};

/// Everything a purchases RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PurchaseError {
    /// A request field is invalid.
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
    /// No database connection could be had.
    #[error(transparent)]
    Unavailable(#[from] DbError),
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] DieselError),
    /// Stored data breaks an invariant (e.g. an unknown status).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl PurchaseError {
    /// Classifies an upstream `status` received while fetching `entity` `id` from `service`.
    pub fn from_upstream(
        service: &'static str,
        entity: &'static str,
        id: i64,
        status: Status,
    ) -> Self {
        let cause = format!("{:?}: {}", status.code(), status.message());
        match status.code() {
            Code::NotFound => Self::NotFound { entity, id },
            // Transport failures (refused connection, reset stream) surface as UNKNOWN or
            // UNAVAILABLE depending on where they happen; CANCELLED and DEADLINE_EXCEEDED mean
            // no answer in time. For our caller all of these are "try again later".
            Code::Unavailable | Code::Unknown | Code::DeadlineExceeded | Code::Cancelled => {
                Self::UpstreamUnavailable { service, cause }
            }
            _ => Self::UpstreamFailed { service, cause },
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
