//! The service's one error type, mapped to a gRPC status in one place.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use shop_common::{DbError, FieldError};
use tonic::Status;

/// Everything a users RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A request field is invalid.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// No user has the id.
    #[error("user {0} not found")]
    NotFound(i64),
    /// Another user already has the email (compared case-insensitively).
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    /// No database connection could be had.
    #[error(transparent)]
    Unavailable(#[from] DbError),
    /// A query failed for another reason. The cause is logged, never sent to the client.
    #[error("query failed: {0}")]
    Query(#[source] DieselError),
}

impl UserError {
    /// Classifies a failed insert: a unique violation is a taken email, anything else internal.
    pub fn from_insert(err: DieselError, email: &str) -> Self {
        match err {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::EmailTaken(email.to_owned())
            }
            other => Self::Query(other),
        }
    }
}

impl From<UserError> for Status {
    fn from(err: UserError) -> Self {
        match err {
            UserError::InvalidArgument(field) => field.into(),
            UserError::NotFound(_) => Status::not_found(err.to_string()),
            UserError::EmailTaken(_) => Status::already_exists(err.to_string()),
            UserError::Unavailable(db) => db.into(),
            UserError::Query(cause) => {
                tracing::error!(error = %cause, "users query failed");
                Status::internal("internal error")
            }
        }
    }
}
