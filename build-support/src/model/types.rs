//! Stage 2, schemas: field types and the messages and enums reachable from the API.
//!
//! Folds descriptor kinds into [`FieldType`] and [`Label`], reads `google.api.field_behavior`
//! (REQUIRED, OUTPUT_ONLY), resolves field paths to [`FieldRef`]s for the binding and composition
//! stages, and collects every message and enum a bound method can reach so the OpenAPI emitter has
//! a schema for each. Well-known types are left to their special JSON mappings.

use std::collections::BTreeMap;

use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value};

use super::{Context, Enum, Field, FieldRef, FieldType, Label, Message, is_well_known};

/// `google.api.FieldBehavior.REQUIRED`.
const FIELD_BEHAVIOR_REQUIRED: i32 = 2;
/// `google.api.FieldBehavior.OUTPUT_ONLY`.
const FIELD_BEHAVIOR_OUTPUT_ONLY: i32 = 3;

impl Context {
    /// Walks a field path from `root`: every step but the last must be a singular message field.
    pub(super) fn resolve(
        &self,
        root: &MessageDescriptor,
        path: &[String],
    ) -> Result<FieldRef, String> {
        let mut message = root.clone();
        for (i, name) in path.iter().enumerate() {
            let Some(field) = message.get_field_by_name(name) else {
                return Err(format!("{} has no field `{name}`", message.full_name()));
            };
            if i + 1 == path.len() {
                let (required, _) = self.behaviors(&field);
                return Ok(FieldRef {
                    path: path.to_vec(),
                    ty: field_type(&field),
                    label: label(&field),
                    description: self.comments.get(field.parent_file().name(), field.path()),
                    required,
                    rules: field_rules(&field).map(Box::new),
                });
            }
            match field.kind() {
                Kind::Message(sub)
                    if !field.is_list() && !field.is_map() && !is_well_known(sub.full_name()) =>
                {
                    message = sub;
                }
                _ => {
                    return Err(format!(
                        "`{name}` in {} is not a singular message field, so it cannot be traversed",
                        message.full_name()
                    ));
                }
            }
        }
        Err("empty field path".to_owned())
    }

    /// (REQUIRED, OUTPUT_ONLY) from `google.api.field_behavior`.
    pub(super) fn behaviors(&self, field: &FieldDescriptor) -> (bool, bool) {
        let Some(ext) = &self.field_behavior else {
            return (false, false);
        };
        let options = field.options();
        if !options.has_extension(ext) {
            return (false, false);
        }
        let value = options.get_extension(ext);
        let numbers: Vec<i32> = match value.as_ref() {
            Value::List(items) => items.iter().filter_map(Value::as_enum_number).collect(),
            Value::EnumNumber(n) => vec![*n],
            _ => Vec::new(),
        };
        (
            numbers.contains(&FIELD_BEHAVIOR_REQUIRED),
            numbers.contains(&FIELD_BEHAVIOR_OUTPUT_ONLY),
        )
    }

    /// Adds `desc` and every message and enum its fields reach to `messages` and `enums`;
    /// well-known types and messages already present are skipped.
    pub(super) fn collect(
        &self,
        desc: &MessageDescriptor,
        messages: &mut BTreeMap<String, Message>,
        enums: &mut BTreeMap<String, Enum>,
    ) {
        if is_well_known(desc.full_name()) || messages.contains_key(desc.full_name()) {
            return;
        }
        // Inserted before recursing so that recursive messages terminate.
        messages.insert(
            desc.full_name().to_owned(),
            Message {
                full_name: desc.full_name().to_owned(),
                description: self.comments.get(desc.parent_file().name(), desc.path()),
                fields: Vec::new(),
            },
        );
        let mut fields = Vec::new();
        for field in desc.fields() {
            let (required, output_only) = self.behaviors(&field);
            let ty = field_type(&field);
            match field.kind() {
                Kind::Message(sub) => {
                    let target = if field.is_map() {
                        sub.map_entry_value_field().kind()
                    } else {
                        Kind::Message(sub)
                    };
                    match target {
                        Kind::Message(m) => self.collect(&m, messages, enums),
                        Kind::Enum(e) => self.collect_enum(&e, enums),
                        _ => {}
                    }
                }
                Kind::Enum(e) => self.collect_enum(&e, enums),
                _ => {}
            }
            fields.push(Field {
                name: field.name().to_owned(),
                json_name: field.json_name().to_owned(),
                description: self.comments.get(field.parent_file().name(), field.path()),
                ty,
                label: label(&field),
                required,
                output_only,
                rules: field_rules(&field),
            });
        }
        if let Some(message) = messages.get_mut(desc.full_name()) {
            message.fields = fields;
        }
    }

    /// Adds `desc` to `enums` unless it is already there.
    fn collect_enum(&self, desc: &EnumDescriptor, enums: &mut BTreeMap<String, Enum>) {
        if enums.contains_key(desc.full_name()) {
            return;
        }
        let file = desc.parent_file();
        enums.insert(
            desc.full_name().to_owned(),
            Enum {
                full_name: desc.full_name().to_owned(),
                description: self.comments.get(file.name(), desc.path()),
                values: desc
                    .values()
                    .map(|v| {
                        (
                            v.name().to_owned(),
                            self.comments.get(file.name(), v.path()),
                        )
                    })
                    .collect(),
            },
        );
    }
}

/// Singular, repeated, or a map with its key type.
fn label(field: &FieldDescriptor) -> Label {
    if field.is_map()
        && let Kind::Message(entry) = field.kind()
    {
        return Label::Map(kind_type(&entry.map_entry_key_field().kind()));
    }
    if field.cardinality() == Cardinality::Repeated {
        Label::Repeated
    } else {
        Label::Singular
    }
}

/// The element type; for a map, the value type.
pub(super) fn field_type(field: &FieldDescriptor) -> FieldType {
    match field.kind() {
        Kind::Message(entry) if field.is_map() => kind_type(&entry.map_entry_value_field().kind()),
        kind => kind_type(&kind),
    }
}

/// A descriptor kind folded into its JSON meaning.
fn kind_type(kind: &Kind) -> FieldType {
    match kind {
        Kind::Double => FieldType::Double,
        Kind::Float => FieldType::Float,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => FieldType::Int32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => FieldType::Int64,
        Kind::Uint32 | Kind::Fixed32 => FieldType::Uint32,
        Kind::Uint64 | Kind::Fixed64 => FieldType::Uint64,
        Kind::Bool => FieldType::Bool,
        Kind::String => FieldType::String,
        Kind::Bytes => FieldType::Bytes,
        Kind::Message(m) => FieldType::Message(m.full_name().to_owned()),
        Kind::Enum(e) => FieldType::Enum(e.full_name().to_owned()),
    }
}

/// A field's `buf.validate` rules for the schema. Rules that do not compile (a bad pattern,
/// rules for another type) are left out of the document here: the gateway refuses to start on
/// them, naming the field, and the service's own check fails the same way.
pub(super) fn field_rules(field: &FieldDescriptor) -> Option<proto_validate::FieldRules> {
    proto_validate::FieldRules::of(field).ok().flatten()
}
