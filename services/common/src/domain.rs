//! Validated values shared by the services: ids and idempotency keys. Parse, don't validate: a
//! value of these types is known good, so code past the gRPC boundary never re-checks.

use std::fmt;

/// A request field that failed validation; becomes INVALID_ARGUMENT with a message naming the
/// field (`"user_id: must be a positive id, got 0"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The proto field name.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl FieldError {
    /// A failure of `field`.
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

impl From<FieldError> for tonic::Status {
    /// INVALID_ARGUMENT with the message `field: problem` and, like a broken `buf.validate`
    /// rule, a `google.rpc.BadRequest` detail naming the field, so a client reads every invalid
    /// request the same way.
    fn from(err: FieldError) -> Self {
        use tonic_types::StatusExt as _;
        let details =
            tonic_types::ErrorDetails::with_bad_request_violation(err.field, &err.problem);
        tonic::Status::with_error_details(tonic::Code::InvalidArgument, err.to_string(), details)
    }
}

/// A row id: a positive 64-bit integer (PostgreSQL `bigserial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(i64);

impl Id {
    /// Accepts `value` as the id in `field` if it is positive.
    pub fn parse(value: i64, field: &'static str) -> Result<Self, FieldError> {
        if value > 0 {
            Ok(Self(value))
        } else {
            Err(FieldError::new(
                field,
                format!("must be a positive id, got {value}"),
            ))
        }
    }

    /// The raw value, for queries and responses.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Longest idempotency key accepted, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// A caller's idempotency key: 1 to [`MAX_IDEMPOTENCY_KEY_CHARS`] printable ASCII characters
/// without spaces (a UUID, a purchase id, ...). Shared because purchases takes one from its
/// clients and gives one to payments, and both must accept the same keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Accepts `value` as the key in `field`.
    pub fn parse(value: &str, field: &'static str) -> Result<Self, FieldError> {
        if value.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if value.len() > MAX_IDEMPOTENCY_KEY_CHARS {
            return Err(FieldError::new(
                field,
                format!(
                    "must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters, got {}",
                    value.len()
                ),
            ));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FieldError::new(
                field,
                "must be printable ASCII without spaces",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The key `<prefix>-<id>`, for keys a service derives from its own rows (purchases
    /// charges purchase 42 as `purchase-42`). `prefix` is a short literal of letters, so the key
    /// is always valid and this cannot fail.
    pub fn derived(prefix: &'static str, id: Id) -> Self {
        debug_assert!(
            !prefix.is_empty()
                && prefix.len() <= 100
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
        Self(format!("{prefix}-{id}"))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive() {
        assert_eq!(Id::parse(1, "id").map(Id::get), Ok(1));
        assert_eq!(
            Id::parse(0, "user_id").map_err(|e| e.to_string()),
            Err("user_id: must be a positive id, got 0".to_owned())
        );
        assert!(Id::parse(-5, "id").is_err());
    }

    #[test]
    fn idempotency_keys_are_bounded_printable_ascii() {
        for ok in [
            "a",
            "purchase-42",
            "8e03978e-40d5-43e8-bc93-6894a57f9324",
            &"k".repeat(200),
        ] {
            assert_eq!(
                IdempotencyKey::parse(ok, "key").map(|k| k.as_str().to_owned()),
                Ok(ok.to_owned())
            );
        }
        let derived = IdempotencyKey::derived("purchase", Id(i64::MAX));
        assert_eq!(
            IdempotencyKey::parse(derived.as_str(), "key"),
            Ok(derived.clone())
        );
        assert_eq!(derived.as_str(), "purchase-9223372036854775807");
        for bad in ["", "a b", "caf\u{e9}", "tab\t", &"k".repeat(201)] {
            let err = IdempotencyKey::parse(bad, "idempotency_key").expect_err(bad);
            assert_eq!(err.field, "idempotency_key", "{bad:?}");
        }
    }
}
