//! Validated user input. A [`NewUser`] can only be built from a request that passed every check.

use proto::users::v1::CreateUserRequest;
use shop_common::{FieldError, Name};

/// Longest email accepted (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

/// A user's display name: 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(Name);

impl UserName {
    /// Accepts `value` as the `name` field.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        Name::parse(value, "name").map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A syntactically valid email address (`local@domain.tld`), trimmed, case kept as given.
///
/// Deliberately simple: one `@`, a non-empty local part, a dotted domain of non-empty labels,
/// no whitespace or control characters. Whether it receives mail is not our question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEmail(String);

impl UserEmail {
    /// Accepts `value` as the `email` field.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let invalid = |problem: &str| FieldError::new("email", problem);
        let email = value.trim();
        if email.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if email.len() > MAX_EMAIL_LEN {
            return Err(invalid("must be at most 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must not contain spaces or control characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid("must be an address like name@example.com"));
        };
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty() || !domain_ok {
            return Err(invalid("must be an address like name@example.com"));
        }
        Ok(Self(email.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Display name.
    pub name: UserName,
    /// Email address.
    pub email: UserEmail,
}

impl TryFrom<CreateUserRequest> for NewUser {
    type Error = FieldError;

    fn try_from(request: CreateUserRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            name: UserName::parse(&request.name)?,
            email: UserEmail::parse(&request.email)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "john@example.com",
            " John.Doe+shop@Mail.Example.org ",
            "a@b.co",
        ] {
            assert!(UserEmail::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_addresses_naming_the_field() {
        for bad in [
            "",
            "john",
            "@example.com",
            "john@",
            "john@example",
            "a@b@c.com",
            "jo hn@example.com",
            "john@.com",
            "john@example..com",
            "john@-x.com",
        ] {
            let err = UserEmail::parse(bad).expect_err(bad);
            assert_eq!(err.field, "email", "{bad}");
        }
    }

    #[test]
    fn request_conversion_checks_both_fields() {
        let request = |name: &str, email: &str| CreateUserRequest {
            name: name.into(),
            email: email.into(),
        };
        assert!(NewUser::try_from(request("John Doe", "john@example.com")).is_ok());
        assert_eq!(
            NewUser::try_from(request("", "john@example.com")).map_err(|e| e.field),
            Err("name")
        );
        assert_eq!(
            NewUser::try_from(request("John", "nope")).map_err(|e| e.field),
            Err("email")
        );
    }
}
