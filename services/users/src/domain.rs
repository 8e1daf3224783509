//! A user to create, from a request that kept its `buf.validate` rules.
//!
//! The rules themselves (a name of 1 to 200 characters that is not only spaces, an email
//! address of at most 254 characters) are declared once, in `users.proto`, and checked before
//! a handler runs (`shop_common::validation`); the gateway and the OpenAPI document read the
//! same annotations. What is left here is what a proto cannot say: how a name is stored.

use proto::users::v1::CreateUserRequest;

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Display name, surrounding spaces trimmed.
    pub name: String,
    /// Email address, as given.
    pub email: String,
}

impl NewUser {
    /// The user `request` asks for; `request` has kept its rules (`validation::check`).
    pub fn from_checked(request: CreateUserRequest) -> Self {
        Self {
            name: request.name.trim().to_owned(),
            email: request.email,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stored_trimmed_and_emails_as_given() {
        let user = NewUser::from_checked(CreateUserRequest {
            name: "  John Doe ".into(),
            email: "John.Doe+shop@Mail.Example.org".into(),
        });
        assert_eq!(user.name, "John Doe");
        assert_eq!(user.email, "John.Doe+shop@Mail.Example.org");
    }
}
