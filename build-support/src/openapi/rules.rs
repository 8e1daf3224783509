//! `buf.validate` rules as JSON Schema keywords, so that the document states what the services
//! (and the gateway's pre-validation) accept: a request valid by the schema passes the rules
//! this maps, and one the rules reject is invalid by the schema wherever JSON Schema can say so.
//!
//! Mapped: string `len`/`min_len`/`max_len` -> `minLength`/`maxLength`, `pattern` (or a
//! `prefix` as an anchored pattern when there is none), `email`/`uuid` -> `format`, `const`/`in`
//! -> `enum`; numbers `gt`/`gte`/`lt`/`lte` -> `exclusiveMinimum`/`minimum`/`exclusiveMaximum`/
//! `maximum` (OpenAPI 3.1 numeric forms), `const`/`in` -> `enum`, `finite` -> the `NaN`/
//! `Infinity` strings are no longer offered (nor those a bound rules out); integers are bounded
//! by their type's range narrowed by the rules: int32/uint32 (JSON numbers) as inclusive
//! `minimum`/`maximum`, int64/uint64 (JSON strings) as a `pattern` matching exactly the
//! canonical decimal strings of that range ([`integers`]); repeated
//! `min_items`/`max_items`/`unique` and `items`; map `min_pairs`/`max_pairs` and `values`;
//! bool `const`. `required` is the object's `required` list (see `message_schema`). The rest is
//! not expressible (or not worth it) and is checked, not documented.

use proto_validate::FieldRules;
use proto_validate::rules::{Bound, Num, NumberRules, StringFormat, TypeRules};
use utoipa::Number;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaFormat};

use crate::model::FieldType;

use super::integers;

/// The integers a field of integer type `ty` can hold, `None` for other types.
pub(super) fn type_range(ty: &FieldType) -> Option<(i128, i128)> {
    match ty {
        FieldType::Int32 => Some((i32::MIN.into(), i32::MAX.into())),
        FieldType::Uint32 => Some((0, u32::MAX.into())),
        FieldType::Int64 => Some((i64::MIN.into(), i64::MAX.into())),
        FieldType::Uint64 => Some((0, u64::MAX.into())),
        _ => None,
    }
}

/// The type's range narrowed by the rules' bounds (an integer `gt: 0` is `>= 1`). A range the
/// bounds empty, or an exclusive range (`gt: 10, lt: 5`, outside an interval), keeps the type's
/// range: such rules are checked, not documented.
fn narrowed((lo, hi): (i128, i128), r: &NumberRules) -> (i128, i128) {
    if r.is_exclusive_range() {
        return (lo, hi);
    }
    let mut range = (lo, hi);
    if let Some(Bound {
        value: Num::Int(v),
        inclusive,
    }) = r.lower
    {
        range.0 = range.0.max(if inclusive { v } else { v.saturating_add(1) });
    }
    if let Some(Bound {
        value: Num::Int(v),
        inclusive,
    }) = r.upper
    {
        range.1 = range.1.min(if inclusive { v } else { v.saturating_sub(1) });
    }
    if range.0 > range.1 { (lo, hi) } else { range }
}

/// The decimal-string pattern of an int64/uint64 holding `lo..=hi`.
pub(super) fn decimal_pattern((lo, hi): (i128, i128)) -> Option<String> {
    integers::range_pattern(lo, hi)
}

pub(super) fn number(n: Num) -> Number {
    match n {
        Num::Int(i) => match isize::try_from(i) {
            Ok(i) => Number::Int(i),
            // Beyond isize: as a float (the schema is documentation, the check is exact).
            #[allow(clippy::cast_precision_loss)]
            Err(_) => Number::Float(i as f64),
        },
        Num::Float(f) => Number::Float(f),
    }
}

fn json_number(n: Num) -> serde_json::Value {
    match n {
        Num::Int(i) => i64::try_from(i)
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| serde_json::Value::from(i.to_string())),
        Num::Float(f) => serde_json::Value::from(f),
    }
}

/// Applies a whole field's rules (lists and maps included) to its schema.
pub(super) fn apply(
    schema: RefOr<Schema>,
    ty: &FieldType,
    rules: Option<&FieldRules>,
) -> RefOr<Schema> {
    let Some(rules) = rules.filter(|r| !r.is_empty()) else {
        return schema;
    };
    match (&rules.rules, schema) {
        (Some(TypeRules::Repeated(r)), RefOr::T(Schema::Array(mut array))) => {
            array.min_items = r.min_items.and_then(|n| usize::try_from(n).ok());
            array.max_items = r.max_items.and_then(|n| usize::try_from(n).ok());
            array.unique_items = r.unique;
            if let Some(items) = &r.items
                && let ArrayItems::RefOrSchema(element) = array.items
            {
                array.items = ArrayItems::RefOrSchema(Box::new(apply(*element, ty, Some(items))));
            }
            RefOr::T(Schema::Array(array))
        }
        (Some(TypeRules::Map(r)), RefOr::T(Schema::Object(mut object))) => {
            object.min_properties = r.min_pairs.and_then(|n| usize::try_from(n).ok());
            object.max_properties = r.max_pairs.and_then(|n| usize::try_from(n).ok());
            if let Some(values) = &r.values
                && let Some(additional) = object.additional_properties.take()
            {
                object.additional_properties = Some(Box::new(match *additional {
                    AdditionalProperties::RefOr(element) => {
                        AdditionalProperties::RefOr(apply(element, ty, Some(values)))
                    }
                    other => other,
                }));
            }
            RefOr::T(Schema::Object(object))
        }
        (Some(rules), schema) => element(schema, ty, rules),
        (None, schema) => schema,
    }
}

/// Applies the rules of one value (a singular field, an element, a map value).
fn element(schema: RefOr<Schema>, ty: &FieldType, rules: &TypeRules) -> RefOr<Schema> {
    match (rules, schema) {
        (TypeRules::String(r), RefOr::T(Schema::Object(mut o))) => {
            let len = r.len.and_then(|n| usize::try_from(n).ok());
            o.min_length = r.min_len.and_then(|n| usize::try_from(n).ok()).or(len);
            o.max_length = r.max_len.and_then(|n| usize::try_from(n).ok()).or(len);
            o.pattern = r
                .pattern
                .as_ref()
                .map(|p| p.source.clone())
                .or_else(|| r.prefix.as_ref().map(|p| format!("^{}", regex_escape(p))));
            o.format = match r.format {
                Some(StringFormat::Email) => Some(SchemaFormat::Custom("email".to_owned())),
                Some(StringFormat::Uuid) => Some(SchemaFormat::Custom("uuid".to_owned())),
                None => o.format,
            };
            let allowed: Vec<String> = match &r.constant {
                Some(c) => vec![c.clone()],
                None => r.r#in.clone(),
            };
            if !allowed.is_empty() {
                o.enum_values = Some(allowed.into_iter().map(serde_json::Value::from).collect());
            }
            RefOr::T(Schema::Object(o))
        }
        (TypeRules::Bool(Some(c)), RefOr::T(Schema::Object(mut o))) => {
            o.enum_values = Some(vec![serde_json::Value::from(*c)]);
            RefOr::T(Schema::Object(o))
        }
        (TypeRules::Number(r), schema) => numeric(schema, ty, r),
        (_, schema) => schema,
    }
}

/// Escapes regex metacharacters in a literal prefix.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn numeric(schema: RefOr<Schema>, ty: &FieldType, r: &NumberRules) -> RefOr<Schema> {
    let allowed: Vec<Num> = match r.constant {
        Some(c) => vec![c],
        None => r.r#in.clone(),
    };
    match (ty, schema) {
        // JSON strings: the pattern of exactly the integers the type and the bounds admit.
        (FieldType::Int64 | FieldType::Uint64, RefOr::T(Schema::Object(mut o))) => {
            if let Some(range) = type_range(ty) {
                o.pattern = decimal_pattern(narrowed(range, r)).or(o.pattern);
            }
            if !allowed.is_empty() {
                o.enum_values = Some(
                    allowed
                        .iter()
                        .map(|n| serde_json::Value::from(n.to_string()))
                        .collect(),
                );
            }
            RefOr::T(Schema::Object(o))
        }
        // JSON numbers: `minimum`/`maximum` of the type narrowed by the bounds, exact for integers.
        (FieldType::Int32 | FieldType::Uint32, RefOr::T(Schema::Object(mut o))) => {
            if let Some(range) = type_range(ty) {
                let (lo, hi) = narrowed(range, r);
                o.minimum = Some(number(Num::Int(lo)));
                o.maximum = Some(number(Num::Int(hi)));
            }
            if !allowed.is_empty() {
                o.enum_values = Some(allowed.into_iter().map(json_number).collect());
            }
            RefOr::T(Schema::Object(o))
        }
        (_, RefOr::T(Schema::Object(mut o))) => {
            bounds(&mut o, r);
            if !allowed.is_empty() {
                o.enum_values = Some(allowed.into_iter().map(json_number).collect());
            }
            RefOr::T(Schema::Object(o))
        }
        // float/double: a number, or the non-finite strings that the rules still accept.
        (_, RefOr::T(Schema::OneOf(mut one_of))) => {
            let mut strings: Vec<&str> = Vec::new();
            if !r.finite && allowed.is_empty() {
                if r.lower.is_none() && r.upper.is_none() {
                    strings.push("NaN");
                }
                if r.upper.is_none() {
                    strings.push("Infinity");
                }
                if r.lower.is_none() {
                    strings.push("-Infinity");
                }
            }
            let mut items = std::mem::take(&mut one_of.items).into_iter();
            let Some(RefOr::T(Schema::Object(mut number))) = items.next() else {
                return RefOr::T(Schema::OneOf(one_of));
            };
            bounds(&mut number, r);
            if !allowed.is_empty() {
                number.enum_values = Some(allowed.into_iter().map(json_number).collect());
            }
            if strings.is_empty() {
                number.description = one_of.description.take();
                return RefOr::T(Schema::Object(number));
            }
            one_of.items.push(RefOr::T(Schema::Object(number)));
            if let Some(RefOr::T(Schema::Object(mut text))) = items.next() {
                text.enum_values = Some(strings.into_iter().map(serde_json::Value::from).collect());
                one_of.items.push(RefOr::T(Schema::Object(text)));
            }
            RefOr::T(Schema::OneOf(one_of))
        }
        (_, schema) => schema,
    }
}

fn bounds(o: &mut utoipa::openapi::schema::Object, r: &NumberRules) {
    if r.is_exclusive_range() {
        // `gt: 10, lt: 5` (outside a range) has no single-schema form: checked, not documented.
        return;
    }
    if let Some(b) = r.lower {
        if b.inclusive {
            o.minimum = Some(number(b.value));
        } else {
            o.exclusive_minimum = Some(number(b.value));
        }
    }
    if let Some(b) = r.upper {
        if b.inclusive {
            o.maximum = Some(number(b.value));
        } else {
            o.exclusive_maximum = Some(number(b.value));
        }
    }
}
