//! Checking values against [`FieldRules`]: one [`Violation`] per broken rule, with
//! protovalidate's rule ids and messages, so a client sees the same answer whoever checked.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, Value};

use crate::Violation;
use crate::rules::{
    Bound, BytesRules, EnumRules, FieldRules, Ignore, MapRules, Num, NumberRules, RepeatedRules,
    StringFormat, StringRules, TypeRules,
};

/// The field path protovalidate prints: names joined by `.`, list indexes `[0]`, map keys
/// `["key"]` (strings quoted, other keys bare).
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

pub(crate) fn key_text(key: &MapKey) -> String {
    match key {
        MapKey::String(s) => format!("{s:?}"),
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
    }
}

fn push(out: &mut Vec<Violation>, field: &str, rule: impl Into<String>, message: String) {
    out.push(Violation {
        field: field.to_owned(),
        rule: rule.into(),
        message,
    });
}

/// Checks the field `field` of `message` (its path is `path`) against `rules`.
pub(crate) fn check_field(
    message: &DynamicMessage,
    field: &FieldDescriptor,
    rules: &FieldRules,
    path: &str,
    out: &mut Vec<Violation>,
) {
    if rules.ignore == Ignore::Always {
        return;
    }
    let populated = message.has_field(field);
    if !populated {
        if rules.required {
            push(out, path, "required", "value is required".to_owned());
            return;
        }
        if field.supports_presence() || rules.ignore == Ignore::IfZeroValue {
            return;
        }
    }
    let value = message.get_field(field);
    check_value(&value, &field.kind(), rules, path, out);
}

/// Checks one value (a whole list or map, or a scalar) against `rules`.
fn check_value(
    value: &Value,
    kind: &Kind,
    rules: &FieldRules,
    path: &str,
    out: &mut Vec<Violation>,
) {
    match (&rules.rules, value) {
        (Some(TypeRules::Repeated(r)), Value::List(items)) => {
            check_list(items, kind, r, path, out);
        }
        (Some(TypeRules::Map(r)), Value::Map(entries)) => check_map(entries, kind, r, path, out),
        (Some(rules), value) => check_scalar(value, kind, rules, path, out),
        (None, _) => {}
    }
}

/// An element, key or value: `ignore` and `required` apply to it as a value of its own.
fn check_element(
    value: &Value,
    kind: &Kind,
    rules: &FieldRules,
    path: &str,
    out: &mut Vec<Violation>,
) {
    if rules.ignore == Ignore::Always || (rules.ignore == Ignore::IfZeroValue && is_zero(value)) {
        return;
    }
    check_value(value, kind, rules, path, out);
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::I32(v) | Value::EnumNumber(v) => *v == 0,
        Value::I64(v) => *v == 0,
        Value::U32(v) => *v == 0,
        Value::U64(v) => *v == 0,
        Value::F32(v) => *v == 0.0,
        Value::F64(v) => *v == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Message(_) => false,
    }
}

fn check_list(
    items: &[Value],
    kind: &Kind,
    rules: &RepeatedRules,
    path: &str,
    out: &mut Vec<Violation>,
) {
    let count = items.len() as u64;
    if let Some(min) = rules.min_items
        && count < min
    {
        push(
            out,
            path,
            "repeated.min_items",
            format!("must contain at least {min} item(s)"),
        );
    }
    if let Some(max) = rules.max_items
        && count > max
    {
        push(
            out,
            path,
            "repeated.max_items",
            format!("must contain no more than {max} item(s)"),
        );
    }
    if rules.unique {
        let duplicate = items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].iter().any(|b| a == b));
        if duplicate {
            push(
                out,
                path,
                "repeated.unique",
                "repeated value must contain unique items".to_owned(),
            );
        }
    }
    if let Some(item_rules) = &rules.items {
        for (i, item) in items.iter().enumerate() {
            check_element(item, kind, item_rules, &format!("{path}[{i}]"), out);
        }
    }
}

fn check_map(
    entries: &std::collections::HashMap<MapKey, Value>,
    kind: &Kind,
    rules: &MapRules,
    path: &str,
    out: &mut Vec<Violation>,
) {
    let count = entries.len() as u64;
    if let Some(min) = rules.min_pairs
        && count < min
    {
        push(
            out,
            path,
            "map.min_pairs",
            format!("map must be at least {min} entries"),
        );
    }
    if let Some(max) = rules.max_pairs
        && count > max
    {
        push(
            out,
            path,
            "map.max_pairs",
            format!("map must be at most {max} entries"),
        );
    }
    let Kind::Message(entry) = kind else {
        return;
    };
    let key_kind = entry.map_entry_key_field().kind();
    let value_kind = entry.map_entry_value_field().kind();
    // Sorted keys: violations come out in the same order every time.
    let mut keys: Vec<&MapKey> = entries.keys().collect();
    keys.sort_by_key(|k| key_text(k));
    for key in keys {
        let at = format!("{path}[{}]", key_text(key));
        if let Some(key_rules) = &rules.keys {
            check_element(&Value::from(key.clone()), &key_kind, key_rules, &at, out);
        }
        if let (Some(value_rules), Some(value)) = (&rules.values, entries.get(key)) {
            check_element(value, &value_kind, value_rules, &at, out);
        }
    }
}

fn check_scalar(
    value: &Value,
    kind: &Kind,
    rules: &TypeRules,
    path: &str,
    out: &mut Vec<Violation>,
) {
    match (rules, value) {
        (TypeRules::String(r), Value::String(s)) => check_string(s, r, path, out),
        (TypeRules::Bytes(r), Value::Bytes(b)) => check_bytes(b, r, path, out),
        (TypeRules::Bool(Some(expected)), Value::Bool(b)) if b != expected => {
            push(out, path, "bool.const", format!("must equal {expected}"));
        }
        (TypeRules::Enum(r), Value::EnumNumber(n)) => check_enum(*n, kind, r, path, out),
        (TypeRules::Number(r), value) => {
            if let Some(n) = crate::rules::num(value) {
                check_number(n, r, path, out);
            }
        }
        _ => {}
    }
}

fn less(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::Int(a), Num::Int(b)) => a < b,
        (a, b) => a.as_f64() < b.as_f64(),
    }
}

fn equal(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::Int(a), Num::Int(b)) => a == b,
        (a, b) => a.as_f64() == b.as_f64(),
    }
}

fn above(value: Num, bound: Bound) -> bool {
    less(bound.value, value) || (bound.inclusive && equal(value, bound.value))
}

fn below(value: Num, bound: Bound) -> bool {
    less(value, bound.value) || (bound.inclusive && equal(value, bound.value))
}

fn list_text<T: std::fmt::Display>(items: &[T]) -> String {
    let inner: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", inner.join(", "))
}

fn check_number(value: Num, rules: &NumberRules, path: &str, out: &mut Vec<Violation>) {
    let t = rules.type_name;
    let nan = matches!(value, Num::Float(f) if f.is_nan());
    if rules.finite && matches!(value, Num::Float(f) if !f.is_finite()) {
        push(
            out,
            path,
            format!("{t}.finite"),
            "must be finite".to_owned(),
        );
    }
    if let Some(c) = rules.constant
        && !equal(value, c)
    {
        push(out, path, format!("{t}.const"), format!("must equal {c}"));
    }
    let word = |b: &Bound, lower: bool| match (lower, b.inclusive) {
        (true, false) => format!("greater than {}", b.value),
        (true, true) => format!("greater than or equal to {}", b.value),
        (false, false) => format!("less than {}", b.value),
        (false, true) => format!("less than or equal to {}", b.value),
    };
    let id = |b: &Bound, lower: bool| match (lower, b.inclusive) {
        (true, false) => "gt",
        (true, true) => "gte",
        (false, false) => "lt",
        (false, true) => "lte",
    };
    match (&rules.lower, &rules.upper) {
        (Some(lo), Some(hi)) => {
            let exclusive = rules.is_exclusive_range();
            let ok = !nan
                && if exclusive {
                    above(value, *lo) || below(value, *hi)
                } else {
                    above(value, *lo) && below(value, *hi)
                };
            if !ok {
                let (joiner, suffix) = if exclusive {
                    ("or", "_exclusive")
                } else {
                    ("and", "")
                };
                push(
                    out,
                    path,
                    format!("{t}.{}_{}{suffix}", id(lo, true), id(hi, false)),
                    format!("must be {} {joiner} {}", word(lo, true), word(hi, false)),
                );
            }
        }
        (Some(lo), None) if nan || !above(value, *lo) => {
            push(
                out,
                path,
                format!("{t}.{}", id(lo, true)),
                format!("must be {}", word(lo, true)),
            );
        }
        (None, Some(hi)) if nan || !below(value, *hi) => {
            push(
                out,
                path,
                format!("{t}.{}", id(hi, false)),
                format!("must be {}", word(hi, false)),
            );
        }
        _ => {}
    }
    if !rules.r#in.is_empty() && !rules.r#in.iter().any(|n| equal(value, *n)) {
        push(
            out,
            path,
            format!("{t}.in"),
            format!("must be in list {}", list_text(&rules.r#in)),
        );
    }
    if rules.not_in.iter().any(|n| equal(value, *n)) {
        push(
            out,
            path,
            format!("{t}.not_in"),
            format!("must not be in list {}", list_text(&rules.not_in)),
        );
    }
}

/// WHATWG HTML's "valid e-mail address", the definition protovalidate uses.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    local_ok && s.len() <= 254 && domain.split('.').all(label_ok)
}

fn is_uuid(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn check_string(s: &str, rules: &StringRules, path: &str, out: &mut Vec<Violation>) {
    let chars = s.chars().count() as u64;
    let bytes = s.len() as u64;
    if let Some(c) = &rules.constant
        && s != c
    {
        push(out, path, "string.const", format!("must equal `{c}`"));
    }
    if let Some(n) = rules.len
        && chars != n
    {
        push(out, path, "string.len", format!("must be {n} characters"));
    }
    if let Some(n) = rules.min_len
        && chars < n
    {
        push(
            out,
            path,
            "string.min_len",
            format!("must be at least {n} characters"),
        );
    }
    if let Some(n) = rules.max_len
        && chars > n
    {
        push(
            out,
            path,
            "string.max_len",
            format!("must be at most {n} characters"),
        );
    }
    if let Some(n) = rules.len_bytes
        && bytes != n
    {
        push(out, path, "string.len_bytes", format!("must be {n} bytes"));
    }
    if let Some(n) = rules.min_bytes
        && bytes < n
    {
        push(
            out,
            path,
            "string.min_bytes",
            format!("must be at least {n} bytes"),
        );
    }
    if let Some(n) = rules.max_bytes
        && bytes > n
    {
        push(
            out,
            path,
            "string.max_bytes",
            format!("must be at most {n} bytes"),
        );
    }
    if let Some(p) = &rules.pattern
        && !p.regex.is_match(s)
    {
        push(
            out,
            path,
            "string.pattern",
            format!("does not match regex pattern `{}`", p.source),
        );
    }
    if let Some(p) = &rules.prefix
        && !s.starts_with(p.as_str())
    {
        push(
            out,
            path,
            "string.prefix",
            format!("does not have prefix `{p}`"),
        );
    }
    if let Some(p) = &rules.suffix
        && !s.ends_with(p.as_str())
    {
        push(
            out,
            path,
            "string.suffix",
            format!("does not have suffix `{p}`"),
        );
    }
    if let Some(p) = &rules.contains
        && !s.contains(p.as_str())
    {
        push(
            out,
            path,
            "string.contains",
            format!("does not contain substring `{p}`"),
        );
    }
    if let Some(p) = &rules.not_contains
        && s.contains(p.as_str())
    {
        push(
            out,
            path,
            "string.not_contains",
            format!("contains substring `{p}`"),
        );
    }
    let quoted = |items: &[String]| {
        let inner: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
        format!("[{}]", inner.join(", "))
    };
    if !rules.r#in.is_empty() && !rules.r#in.iter().any(|i| i == s) {
        push(
            out,
            path,
            "string.in",
            format!("must be in list {}", quoted(&rules.r#in)),
        );
    }
    if rules.not_in.iter().any(|i| i == s) {
        push(
            out,
            path,
            "string.not_in",
            format!("must not be in list {}", quoted(&rules.not_in)),
        );
    }
    match rules.format {
        Some(StringFormat::Email) if s.is_empty() => push(
            out,
            path,
            "string.email_empty",
            "value is empty, which is not a valid email address".to_owned(),
        ),
        Some(StringFormat::Email) if !is_email(s) => push(
            out,
            path,
            "string.email",
            "must be a valid email address".to_owned(),
        ),
        Some(StringFormat::Uuid) if s.is_empty() => push(
            out,
            path,
            "string.uuid_empty",
            "value is empty, which is not a valid UUID".to_owned(),
        ),
        Some(StringFormat::Uuid) if !is_uuid(s) => {
            push(out, path, "string.uuid", "must be a valid UUID".to_owned());
        }
        _ => {}
    }
}

fn check_bytes(b: &[u8], rules: &BytesRules, path: &str, out: &mut Vec<Violation>) {
    let n = b.len() as u64;
    if let Some(len) = rules.len
        && n != len
    {
        push(out, path, "bytes.len", format!("must be {len} bytes"));
    }
    if let Some(min) = rules.min_len
        && n < min
    {
        push(
            out,
            path,
            "bytes.min_len",
            format!("must be at least {min} bytes"),
        );
    }
    if let Some(max) = rules.max_len
        && n > max
    {
        push(
            out,
            path,
            "bytes.max_len",
            format!("must be at most {max} bytes"),
        );
    }
}

fn check_enum(n: i32, kind: &Kind, rules: &EnumRules, path: &str, out: &mut Vec<Violation>) {
    if let Some(c) = rules.constant
        && n != c
    {
        push(out, path, "enum.const", format!("must equal {c}"));
    }
    if rules.defined_only
        && let Kind::Enum(e) = kind
        && e.get_value(n).is_none()
    {
        push(
            out,
            path,
            "enum.defined_only",
            "must be one of the defined enum values".to_owned(),
        );
    }
    if !rules.r#in.is_empty() && !rules.r#in.contains(&n) {
        push(
            out,
            path,
            "enum.in",
            format!("must be in list {}", list_text(&rules.r#in)),
        );
    }
    if rules.not_in.contains(&n) {
        push(
            out,
            path,
            "enum.not_in",
            format!("must not be in list {}", list_text(&rules.not_in)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_email("john@example.com"));
        assert!(is_email("a.b+c@x-y.example"));
        assert!(!is_email("john"));
        assert!(!is_email("john@"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("john@-example.com"));
        assert!(!is_email("jo hn@example.com"));
        assert!(!is_email("john@exa..mple.com"));
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("8e03978e-40d5-43e8-bc93-6894a57f9324"));
        assert!(is_uuid("8E03978E-40D5-43E8-BC93-6894A57F9324"));
        assert!(!is_uuid("8e03978e40d543e8bc936894a57f9324"));
        assert!(!is_uuid("8e03978e-40d5-43e8-bc93-6894a57f932g"));
    }

    fn int_rules(lower: Option<(i128, bool)>, upper: Option<(i128, bool)>) -> NumberRules {
        let bound = |b: Option<(i128, bool)>| {
            b.map(|(v, inclusive)| Bound {
                value: Num::Int(v),
                inclusive,
            })
        };
        NumberRules {
            type_name: "int64",
            lower: bound(lower),
            upper: bound(upper),
            ..NumberRules::default()
        }
    }

    fn ids(value: Num, rules: &NumberRules) -> Vec<String> {
        let mut out = Vec::new();
        check_number(value, rules, "x", &mut out);
        out.into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn ranges() {
        let gt0 = int_rules(Some((0, false)), None);
        assert_eq!(ids(Num::Int(0), &gt0), ["int64.gt"]);
        assert!(ids(Num::Int(1), &gt0).is_empty());
        let within = int_rules(Some((1, true)), Some((10, false)));
        assert_eq!(ids(Num::Int(10), &within), ["int64.gte_lt"]);
        assert!(ids(Num::Int(1), &within).is_empty());
        let outside = int_rules(Some((10, false)), Some((5, false)));
        assert_eq!(ids(Num::Int(7), &outside), ["int64.gt_lt_exclusive"]);
        assert!(ids(Num::Int(11), &outside).is_empty());
        assert!(ids(Num::Int(4), &outside).is_empty());
        let mut finite = int_rules(Some((0, true)), None);
        finite.type_name = "double";
        finite.lower = Some(Bound {
            value: Num::Float(0.0),
            inclusive: true,
        });
        finite.finite = true;
        assert_eq!(
            ids(Num::Float(f64::NAN), &finite),
            ["double.finite", "double.gte"]
        );
        assert_eq!(ids(Num::Float(f64::INFINITY), &finite), ["double.finite"]);
        assert_eq!(ids(Num::Float(-0.5), &finite), ["double.gte"]);
        assert!(ids(Num::Float(0.0), &finite).is_empty());
    }

    #[test]
    fn strings_count_characters() {
        let rules = StringRules {
            min_len: Some(2),
            max_len: Some(3),
            ..StringRules::default()
        };
        let check = |s: &str| {
            let mut out = Vec::new();
            check_string(s, &rules, "name", &mut out);
            out.into_iter().map(|v| v.rule).collect::<Vec<_>>()
        };
        assert!(check("äö").is_empty());
        assert_eq!(check("ä"), ["string.min_len"]);
        assert_eq!(check("abcd"), ["string.max_len"]);
    }
}
