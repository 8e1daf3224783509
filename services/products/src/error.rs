//! The service's one error type, mapped to a gRPC status in one place.

use diesel::result::Error as DieselError;
use shop_common::{DbError, FieldError};
use tonic::Status;

/// Everything a products RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// A request field is invalid.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// No product has the id.
    #[error("product {0} not found")]
    NotFound(i64),
    /// No database connection could be had.
    #[error(transparent)]
    Unavailable(#[from] DbError),
    /// A query failed. The cause is logged, never sent to the client.
    #[error("query failed: {0}")]
    Query(#[from] DieselError),
    /// The purchase event stream failed (the sold count consumer only; no RPC returns it).
    #[error("event stream: {0}")]
    Events(String),
    /// A purchase event that can never be counted (the sold count consumer only).
    #[error("bad purchase event: {0}")]
    BadEvent(String),
}

impl From<ProductError> for Status {
    fn from(err: ProductError) -> Self {
        match err {
            ProductError::InvalidArgument(field) => field.into(),
            ProductError::NotFound(_) => Status::not_found(err.to_string()),
            ProductError::Unavailable(db) => db.into(),
            ProductError::Query(cause) => {
                tracing::error!(error = %cause, "products query failed");
                Status::internal("internal error")
            }
            ProductError::Events(_) | ProductError::BadEvent(_) => {
                tracing::error!(error = %err, "products request failed");
                Status::internal("internal error")
            }
        }
    }
}
