//! The rules of the generator's echo fixture (`Validated`), read from descriptors that protox
//! compiles here, and checked on dynamic messages.

use prost_reflect::{DescriptorPool, DynamicMessage};
use proto_validate::rules::{Bound, Num, TypeRules};
use proto_validate::{FieldRules, MessageRules, Validator};

fn pool() -> DescriptorPool {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let encoded = protox::Compiler::new([
        format!("{root}/build-support/tests/fixtures"),
        format!("{root}/build-support/proto"),
    ])
    .expect("includes")
    .include_imports(true)
    .open_file("echo/v1/echo.proto")
    .expect("the fixture compiles")
    .encode_file_descriptor_set();
    DescriptorPool::decode(encoded.as_slice()).expect("decodes")
}

fn message(pool: &DescriptorPool, json: &str) -> DynamicMessage {
    let desc = pool
        .get_message_by_name("echo.v1.Validated")
        .expect("known");
    let mut de = serde_json::Deserializer::from_str(json);
    DynamicMessage::deserialize(desc, &mut de).expect("valid JSON")
}

#[test]
fn rules_are_read_from_options() {
    let pool = pool();
    let desc = pool
        .get_message_by_name("echo.v1.Validated")
        .expect("known");
    let rules = |name: &str| {
        FieldRules::of(&desc.get_field_by_name(name).expect("field")).expect("compiles")
    };
    let Some(TypeRules::Number(id)) = rules("user_id").and_then(|r| r.rules) else {
        panic!("int64 rules");
    };
    assert_eq!(
        id.lower,
        Some(Bound {
            value: Num::Int(0),
            inclusive: false
        })
    );
    assert!(rules("part").is_some_and(|r| r.required));
    assert!(rules("created").is_none());
}

#[test]
fn every_broken_rule_is_reported_with_its_path() {
    let pool = pool();
    let validator = Validator::new(pool.clone()).expect("compiles");
    assert!(
        validator
            .rules("echo.v1.Validated")
            .is_some_and(|r| r.unsupported().is_empty())
    );
    let valid = r#"{"user_id":"7","name":"Ann","email":"ann@example.com","price":1.5,
        "tags":["a","b"],"part":{"name":"p"},"kind":"KIND_LOUD","count":"3","code":"a"}"#;
    assert_eq!(validator.validate(&message(&pool, valid)), Ok(()));

    let invalid = r#"{"user_id":"0","name":"","email":"nope","price":"NaN",
        "tags":["a","a","B"],"part":{},"kind":9,"ref":"x","count":"0","code":"c"}"#;
    let violations = validator
        .validate(&message(&pool, invalid))
        .expect_err("invalid");
    let got: Vec<(&str, &str)> = violations
        .0
        .iter()
        .map(|v| (v.field.as_str(), v.rule.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("user_id", "int64.gt"),
            ("name", "string.min_len"),
            ("email", "string.email"),
            ("price", "double.finite"),
            ("price", "double.gte"),
            ("tags", "repeated.unique"),
            ("tags[2]", "string.pattern"),
            ("part.name", "string.min_len"),
            ("kind", "enum.defined_only"),
            ("ref", "string.uuid"),
            ("count", "uint64.gte_lte"),
            ("code", "string.in"),
        ]
    );
    assert_eq!(violations.0[0].message, "must be greater than 0");
    assert_eq!(
        violations.0[10].message,
        "must be greater than or equal to 1 and less than or equal to 100"
    );

    // A missing required message; rules of unset optional fields are skipped.
    let missing = r#"{"user_id":"1","name":"a","email":"a@b.c","count":"1","code":"b"}"#;
    let violations = validator
        .validate(&message(&pool, missing))
        .expect_err("invalid");
    assert_eq!(violations.0.len(), 1, "{violations}");
    assert_eq!(
        (
            violations.0[0].field.as_str(),
            violations.0[0].rule.as_str()
        ),
        ("part", "required")
    );
}

#[test]
fn messages_without_rules_compile_empty() {
    let pool = pool();
    let desc = pool.get_message_by_name("echo.v1.Upload").expect("known");
    assert!(MessageRules::compile(&desc).expect("compiles").is_empty());
}
