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
        }
    }
}
