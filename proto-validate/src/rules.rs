//! The `buf.validate.field` rules of one field, read from its descriptor options into plain
//! values: what the generator maps to JSON Schema and what [`crate::MessageRules`] checks.
//!
//! Only the standard rules listed in the crate docs are read; any other rule that is set (CEL,
//! `string.hostname`, timestamp rules, ...) is named in [`FieldRules::unsupported`] so that
//! callers can say what they leave to someone else instead of silently accepting it.

use std::borrow::Cow;

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, ReflectMessage as _, Value};

use crate::RuleError;

/// The extension holding a field's rules.
pub const FIELD_EXTENSION: &str = "buf.validate.field";
/// The extension holding a message's rules.
pub const MESSAGE_EXTENSION: &str = "buf.validate.message";
/// The extension holding a oneof's rules.
pub const ONEOF_EXTENSION: &str = "buf.validate.oneof";

/// When a field's rules are skipped (`buf.validate.Ignore`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ignore {
    /// Rules apply unless the field tracks presence and is unset.
    #[default]
    Unspecified,
    /// Rules are skipped when the field is unset or holds its zero value.
    IfZeroValue,
    /// Rules are never applied.
    Always,
}

/// A numeric rule value: integers of every width fit `i128`. Equality is bitwise for floats
/// (so rules are `Eq`); comparisons with values are in `eval`.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    /// An integer rule or value (int32 .. uint64).
    Int(i128),
    /// A float or double rule or value.
    Float(f64),
}

impl Num {
    /// The value as a float, for comparisons between a float field and its rules.
    pub fn as_f64(self) -> f64 {
        match self {
            // Precision loss is irrelevant for rule values written in a .proto.
            #[allow(clippy::cast_precision_loss)]
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a == b,
            (Num::Float(a), Num::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl Eq for Num {}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// One end of a numeric range (`gt`/`gte`, `lt`/`lte`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The rule's value.
    pub value: Num,
    /// `gte`/`lte` (true) or `gt`/`lt` (false).
    pub inclusive: bool,
}

/// Rules on a number (any of the integer kinds, float, double).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NumberRules {
    /// The rule message's name in `FieldRules.type` (`int64`, `double`, ...), the prefix of
    /// rule ids.
    pub type_name: &'static str,
    /// `const`.
    pub constant: Option<Num>,
    /// `gt` or `gte`.
    pub lower: Option<Bound>,
    /// `lt` or `lte`.
    pub upper: Option<Bound>,
    /// `in`.
    pub r#in: Vec<Num>,
    /// `not_in`.
    pub not_in: Vec<Num>,
    /// `finite` (float and double only): NaN and the infinities are rejected.
    pub finite: bool,
}

impl NumberRules {
    /// `gt: 10, lt: 5`: the value must lie outside the range, not inside it.
    pub fn is_exclusive_range(&self) -> bool {
        match (self.lower, self.upper) {
            (Some(lower), Some(upper)) => lower.value.as_f64() > upper.value.as_f64(),
            _ => false,
        }
    }
}

/// The well-known string formats this crate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFormat {
    /// `email`: an address as the WHATWG HTML spec's `valid e-mail address`.
    Email,
    /// `uuid`: RFC 4122 text form, any version, either case.
    Uuid,
}

/// A `string.pattern`, compiled once.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern as written (RE2 syntax).
    pub source: String,
    /// Its compiled form.
    pub regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

/// Rules on a string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StringRules {
    /// `const`.
    pub constant: Option<String>,
    /// `len` (in characters).
    pub len: Option<u64>,
    /// `min_len` (in characters).
    pub min_len: Option<u64>,
    /// `max_len` (in characters).
    pub max_len: Option<u64>,
    /// `len_bytes`.
    pub len_bytes: Option<u64>,
    /// `min_bytes`.
    pub min_bytes: Option<u64>,
    /// `max_bytes`.
    pub max_bytes: Option<u64>,
    /// `pattern`.
    pub pattern: Option<Pattern>,
    /// `prefix`.
    pub prefix: Option<String>,
    /// `suffix`.
    pub suffix: Option<String>,
    /// `contains`.
    pub contains: Option<String>,
    /// `not_contains`.
    pub not_contains: Option<String>,
    /// `in`.
    pub r#in: Vec<String>,
    /// `not_in`.
    pub not_in: Vec<String>,
    /// `email`, `uuid`.
    pub format: Option<StringFormat>,
}

/// Rules on bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BytesRules {
    /// `len`.
    pub len: Option<u64>,
    /// `min_len`.
    pub min_len: Option<u64>,
    /// `max_len`.
    pub max_len: Option<u64>,
}

/// Rules on an enum.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnumRules {
    /// `const`.
    pub constant: Option<i32>,
    /// `defined_only`: numbers the enum does not declare are rejected.
    pub defined_only: bool,
    /// `in`.
    pub r#in: Vec<i32>,
    /// `not_in`.
    pub not_in: Vec<i32>,
}

/// Rules on a repeated field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepeatedRules {
    /// `min_items`.
    pub min_items: Option<u64>,
    /// `max_items`.
    pub max_items: Option<u64>,
    /// `unique` (scalars only).
    pub unique: bool,
    /// `items`: the rules of every element.
    pub items: Option<Box<FieldRules>>,
}

/// Rules on a map field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MapRules {
    /// `min_pairs`.
    pub min_pairs: Option<u64>,
    /// `max_pairs`.
    pub max_pairs: Option<u64>,
    /// `keys`: the rules of every key.
    pub keys: Option<Box<FieldRules>>,
    /// `values`: the rules of every value.
    pub values: Option<Box<FieldRules>>,
}

/// The type-specific part of a field's rules (`FieldRules.type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRules {
    /// `string`.
    String(StringRules),
    /// `bytes`.
    Bytes(BytesRules),
    /// `bool.const`.
    Bool(Option<bool>),
    /// Any integer kind, `float` or `double`.
    Number(NumberRules),
    /// `enum`.
    Enum(EnumRules),
    /// `repeated`.
    Repeated(RepeatedRules),
    /// `map`.
    Map(MapRules),
}

/// The standard rules of one field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldRules {
    /// `required`: a field with presence must be set; a field without, non-zero; a list or map,
    /// non-empty.
    pub required: bool,
    /// `ignore`.
    pub ignore: Ignore,
    /// The type-specific rules.
    pub rules: Option<TypeRules>,
    /// Rules that are set but that this crate does not check (`cel`, `string.hostname`, ...),
    /// as `<type>.<rule>` names. Whoever owns the field (the service) has to check them.
    pub unsupported: Vec<String>,
}

impl FieldRules {
    /// The rules of `field`, `None` when it has none (or the pool does not know
    /// `buf.validate`). An error when a rule cannot apply to the field's type or a pattern does
    /// not compile.
    pub fn of(field: &FieldDescriptor) -> Result<Option<FieldRules>, RuleError> {
        let Some(extension) = field.parent_pool().get_extension_by_name(FIELD_EXTENSION) else {
            return Ok(None);
        };
        let options = field.options();
        if !options.has_extension(&extension) {
            return Ok(None);
        }
        let value = options.get_extension(&extension);
        let Some(message) = value.as_message() else {
            return Ok(None);
        };
        let at = || field.full_name().to_owned();
        let rules = parse_field_rules(message, &Target::of(field), &at)?;
        Ok(Some(rules))
    }

    /// Whether nothing is checked (no rule, or `ignore: IGNORE_ALWAYS`).
    pub fn is_empty(&self) -> bool {
        self.ignore == Ignore::Always || (!self.required && self.rules.is_none())
    }
}

/// What a set of rules applies to: the field itself, or its elements, keys or values.
#[derive(Debug, Clone)]
enum Target {
    List(Kind),
    Map(Kind, Kind),
    Single(Kind),
}

impl Target {
    fn of(field: &FieldDescriptor) -> Target {
        if field.is_map()
            && let Kind::Message(entry) = field.kind()
        {
            return Target::Map(
                entry.map_entry_key_field().kind(),
                entry.map_entry_value_field().kind(),
            );
        }
        if field.is_list() {
            return Target::List(field.kind());
        }
        Target::Single(field.kind())
    }
}

/// The `FieldRules.type` name that fits a kind.
fn type_name_of(kind: &Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Enum(_) => "enum",
        Kind::Message(_) => return None,
    })
}

fn field_value<'a>(message: &'a DynamicMessage, name: &str) -> Option<Cow<'a, Value>> {
    let field = message.descriptor().get_field_by_name(name)?;
    message.has_field(&field).then(|| message.get_field(&field))
}

fn parse_field_rules(
    message: &DynamicMessage,
    target: &Target,
    at: &dyn Fn() -> String,
) -> Result<FieldRules, RuleError> {
    let mut out = FieldRules {
        required: field_value(message, "required").and_then(|v| v.as_bool()) == Some(true),
        ignore: match field_value(message, "ignore").and_then(|v| v.as_enum_number()) {
            Some(1) => Ignore::IfZeroValue,
            Some(3) => Ignore::Always,
            _ => Ignore::Unspecified,
        },
        ..FieldRules::default()
    };
    for name in ["cel", "cel_expression"] {
        if field_value(message, name).is_some() {
            out.unsupported.push(name.to_owned());
        }
    }
    let Some((field, value)) = message
        .fields()
        .find(|(f, _)| f.containing_oneof().is_some_and(|o| o.name() == "type"))
    else {
        return Ok(out);
    };
    let Some(rules) = value.as_message() else {
        return Ok(out);
    };
    let rule_type = field.name().to_owned();
    let mismatch = || RuleError::TypeMismatch {
        field: at(),
        rules: rule_type.clone(),
    };
    let parsed = match (rule_type.as_str(), target) {
        ("repeated", Target::List(kind)) => {
            TypeRules::Repeated(parse_repeated(rules, kind, at, &mut out.unsupported)?)
        }
        ("map", Target::Map(key, value)) => {
            TypeRules::Map(parse_map(rules, key, value, at, &mut out.unsupported)?)
        }
        (_, Target::Single(kind)) => match type_name_of(kind) {
            Some(expected) if expected == rule_type => {
                parse_scalar(rules, expected, kind, at, &mut out.unsupported)?
            }
            None if is_unchecked_message_rule(&rule_type) => {
                out.unsupported.push(rule_type.clone());
                return Ok(out);
            }
            _ => return Err(mismatch()),
        },
        _ => return Err(mismatch()),
    };
    out.rules = Some(parsed);
    Ok(out)
}

/// Rule types for message fields (well-known types) that are valid but not checked here.
fn is_unchecked_message_rule(name: &str) -> bool {
    matches!(name, "any" | "duration" | "timestamp" | "field_mask")
}

/// Records every rule set in `rules` that `known` does not list (`example` is documentation).
fn note_unsupported(
    rules: &DynamicMessage,
    prefix: &str,
    known: &[&str],
    unsupported: &mut Vec<String>,
) {
    for (field, _) in rules.fields() {
        let name = field.name();
        if name != "example" && !known.contains(&name) {
            unsupported.push(format!("{prefix}.{name}"));
        }
    }
    // Extensions are predefined (CEL) rules.
    for (extension, _) in rules.extensions() {
        unsupported.push(format!("{prefix}.[{}]", extension.full_name()));
    }
}

fn as_u64(value: Option<Cow<'_, Value>>) -> Option<u64> {
    value.and_then(|v| v.as_u64())
}

fn as_string(value: Option<Cow<'_, Value>>) -> Option<String> {
    value.and_then(|v| v.as_str().map(str::to_owned))
}

fn strings(value: Option<Cow<'_, Value>>) -> Vec<String> {
    value
        .and_then(|v| {
            v.as_list().map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// A scalar rule value, or a numeric field's value, as a [`Num`].
pub(crate) fn num(value: &Value) -> Option<Num> {
    Some(match value {
        Value::I32(v) => Num::Int(i128::from(*v)),
        Value::I64(v) => Num::Int(i128::from(*v)),
        Value::U32(v) => Num::Int(i128::from(*v)),
        Value::U64(v) => Num::Int(i128::from(*v)),
        Value::F32(v) => Num::Float(f64::from(*v)),
        Value::F64(v) => Num::Float(*v),
        Value::EnumNumber(v) => Num::Int(i128::from(*v)),
        _ => return None,
    })
}

fn nums(value: Option<Cow<'_, Value>>) -> Vec<Num> {
    value
        .and_then(|v| v.as_list().map(|l| l.iter().filter_map(num).collect()))
        .unwrap_or_default()
}

fn parse_scalar(
    rules: &DynamicMessage,
    type_name: &'static str,
    kind: &Kind,
    at: &dyn Fn() -> String,
    unsupported: &mut Vec<String>,
) -> Result<TypeRules, RuleError> {
    let get = |name: &str| field_value(rules, name);
    Ok(match kind {
        Kind::String => {
            let mut format = None;
            for (name, f) in [("email", StringFormat::Email), ("uuid", StringFormat::Uuid)] {
                if get(name).and_then(|v| v.as_bool()) == Some(true) {
                    format = Some(f);
                }
            }
            let pattern = as_string(get("pattern"))
                .map(|source| {
                    regex::Regex::new(&source)
                        .map(|regex| Pattern {
                            source: source.clone(),
                            regex,
                        })
                        .map_err(|e| RuleError::Pattern {
                            field: at(),
                            pattern: source.clone(),
                            reason: e.to_string(),
                        })
                })
                .transpose()?;
            note_unsupported(
                rules,
                "string",
                &[
                    "const",
                    "len",
                    "min_len",
                    "max_len",
                    "len_bytes",
                    "min_bytes",
                    "max_bytes",
                    "pattern",
                    "prefix",
                    "suffix",
                    "contains",
                    "not_contains",
                    "in",
                    "not_in",
                    "email",
                    "uuid",
                ],
                unsupported,
            );
            TypeRules::String(StringRules {
                constant: as_string(get("const")),
                len: as_u64(get("len")),
                min_len: as_u64(get("min_len")),
                max_len: as_u64(get("max_len")),
                len_bytes: as_u64(get("len_bytes")),
                min_bytes: as_u64(get("min_bytes")),
                max_bytes: as_u64(get("max_bytes")),
                pattern,
                prefix: as_string(get("prefix")),
                suffix: as_string(get("suffix")),
                contains: as_string(get("contains")),
                not_contains: as_string(get("not_contains")),
                r#in: strings(get("in")),
                not_in: strings(get("not_in")),
                format,
            })
        }
        Kind::Bytes => {
            note_unsupported(rules, "bytes", &["len", "min_len", "max_len"], unsupported);
            TypeRules::Bytes(BytesRules {
                len: as_u64(get("len")),
                min_len: as_u64(get("min_len")),
                max_len: as_u64(get("max_len")),
            })
        }
        Kind::Bool => {
            note_unsupported(rules, "bool", &["const"], unsupported);
            TypeRules::Bool(get("const").and_then(|v| v.as_bool()))
        }
        Kind::Enum(_) => {
            note_unsupported(
                rules,
                "enum",
                &["const", "defined_only", "in", "not_in"],
                unsupported,
            );
            let ints = |name: &str| {
                get(name)
                    .and_then(|v| {
                        v.as_list()
                            .map(|l| l.iter().filter_map(Value::as_i32).collect())
                    })
                    .unwrap_or_default()
            };
            TypeRules::Enum(EnumRules {
                constant: get("const").and_then(|v| v.as_i32()),
                defined_only: get("defined_only").and_then(|v| v.as_bool()) == Some(true),
                r#in: ints("in"),
                not_in: ints("not_in"),
            })
        }
        Kind::Message(_) => unreachable_message(at)?,
        _ => {
            note_unsupported(
                rules,
                type_name,
                &["const", "gt", "gte", "lt", "lte", "in", "not_in", "finite"],
                unsupported,
            );
            let bound = |exclusive: &str, inclusive: &str| {
                get(exclusive)
                    .and_then(|v| num(&v))
                    .map(|value| Bound {
                        value,
                        inclusive: false,
                    })
                    .or_else(|| {
                        get(inclusive).and_then(|v| num(&v)).map(|value| Bound {
                            value,
                            inclusive: true,
                        })
                    })
            };
            TypeRules::Number(NumberRules {
                type_name,
                constant: get("const").and_then(|v| num(&v)),
                lower: bound("gt", "gte"),
                upper: bound("lt", "lte"),
                r#in: nums(get("in")),
                not_in: nums(get("not_in")),
                finite: get("finite").and_then(|v| v.as_bool()) == Some(true),
            })
        }
    })
}

/// Message kinds never reach [`parse_scalar`] (they have no `type_name_of`); kept as an
/// error rather than a panic.
fn unreachable_message(at: &dyn Fn() -> String) -> Result<TypeRules, RuleError> {
    Err(RuleError::TypeMismatch {
        field: at(),
        rules: "scalar".to_owned(),
    })
}

fn nested(
    rules: &DynamicMessage,
    name: &str,
    kind: &Kind,
    at: &dyn Fn() -> String,
) -> Result<Option<Box<FieldRules>>, RuleError> {
    let Some(value) = field_value(rules, name) else {
        return Ok(None);
    };
    let Some(message) = value.as_message() else {
        return Ok(None);
    };
    let inner = parse_field_rules(message, &Target::Single(kind.clone()), at)?;
    Ok(Some(Box::new(inner)))
}

fn parse_repeated(
    rules: &DynamicMessage,
    kind: &Kind,
    at: &dyn Fn() -> String,
    unsupported: &mut Vec<String>,
) -> Result<RepeatedRules, RuleError> {
    note_unsupported(
        rules,
        "repeated",
        &["min_items", "max_items", "unique", "items"],
        unsupported,
    );
    let items = nested(rules, "items", kind, at)?;
    if let Some(items) = &items {
        unsupported.extend(
            items
                .unsupported
                .iter()
                .map(|r| format!("repeated.items.{r}")),
        );
    }
    Ok(RepeatedRules {
        min_items: as_u64(field_value(rules, "min_items")),
        max_items: as_u64(field_value(rules, "max_items")),
        unique: field_value(rules, "unique").and_then(|v| v.as_bool()) == Some(true),
        items,
    })
}

fn parse_map(
    rules: &DynamicMessage,
    key: &Kind,
    value: &Kind,
    at: &dyn Fn() -> String,
    unsupported: &mut Vec<String>,
) -> Result<MapRules, RuleError> {
    note_unsupported(
        rules,
        "map",
        &["min_pairs", "max_pairs", "keys", "values"],
        unsupported,
    );
    let keys = nested(rules, "keys", key, at)?;
    let values = nested(rules, "values", value, at)?;
    for (what, inner) in [("keys", &keys), ("values", &values)] {
        if let Some(inner) = inner {
            unsupported.extend(inner.unsupported.iter().map(|r| format!("map.{what}.{r}")));
        }
    }
    Ok(MapRules {
        min_pairs: as_u64(field_value(rules, "min_pairs")),
        max_pairs: as_u64(field_value(rules, "max_pairs")),
        keys,
        values,
    })
}
