//! Requests checked against the `buf.validate` rules of the shop's protos: the one place the
//! rules live, read from `proto::FILE_DESCRIPTOR_SET` (the gateway reads the same annotations
//! from its descriptors and answers a broken rule the same way before it calls a service).
//!
//! Every handler calls [`check`] first; a broken rule is INVALID_ARGUMENT with a
//! `google.rpc.BadRequest` detail holding one field violation per broken rule. What a proto
//! cannot say (a taken email, a missing row) stays in the services' own code.

use std::sync::LazyLock;

use proto_validate::{RuleError, Validator};

/// The rules of every message the shop's protos define, compiled once.
static RULES: LazyLock<Result<Validator, RuleError>> =
    LazyLock::new(|| Validator::from_file_descriptor_set(proto::FILE_DESCRIPTOR_SET));

/// Compiles the rules now, so a bad rule (a pattern that does not compile) stops the service at
/// start-up instead of failing requests.
pub fn init() -> Result<(), RuleError> {
    RULES.as_ref().map(drop).map_err(Clone::clone)
}

/// `Ok` when `request` keeps its rules; otherwise the INVALID_ARGUMENT status naming each
/// broken rule.
pub fn check<M: prost::Message + prost::Name>(request: &M) -> Result<(), tonic::Status> {
    match RULES.as_ref() {
        Ok(rules) => rules.check(&M::full_name(), request),
        Err(error) => Err(tonic::Status::internal(format!(
            "the request rules do not compile: {error}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use proto::users::v1::{CreateUserRequest, GetUserRequest};
    use tonic_types::StatusExt as _;

    use super::*;

    #[test]
    fn the_shops_rules_compile() {
        init().expect("every rule compiles");
    }

    #[test]
    fn each_broken_rule_is_one_field_violation() {
        let status = check(&CreateUserRequest {
            name: "   ".into(),
            email: "not an address".into(),
        })
        .expect_err("two broken rules");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .expect("a BadRequest detail")
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["name", "email"]);
        assert!(check(&GetUserRequest { id: 1 }).is_ok());
        assert!(check(&GetUserRequest { id: 0 }).is_err());
    }
}
