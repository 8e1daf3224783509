//! Stage 2, composition: the gateway's own `gateway.v1` options.
//!
//! A service marked `(gateway.v1.gateway_implemented)` has no upstream; each of its methods is
//! `(gateway.v1.compose)`: the gateway answers it by calling other (upstream) RPCs and filling one
//! top-level response field from each. This file decides each method's [`Role`] from those options
//! and resolves and type-checks a composition's parts against the request and response messages.

use std::collections::BTreeSet;

use prost_reflect::{DynamicMessage, MethodDescriptor, ServiceDescriptor, Value};

use super::{Composition, Context, FieldMapping, FieldRef, FieldType, Label, Part};

/// The service option marking a service the gateway implements itself.
pub(super) const GATEWAY_IMPLEMENTED: &str = "gateway.v1.gateway_implemented";
/// The method option declaring a composite method.
pub(super) const COMPOSE: &str = "gateway.v1.compose";

/// How a method takes part in the gateway, from its options and its service's.
pub(super) enum Role {
    /// Neither bound nor composed: the gateway ignores it.
    Unbound,
    /// Bound by `google.api.http` and served by the upstream.
    Proxied,
    /// Bound and `(gateway.v1.compose)`: the option's value, checked by [`Context::composition`].
    Composite(Value),
}

impl Context {
    /// Whether the service is marked `(gateway.v1.gateway_implemented) = true`.
    pub(super) fn gateway_implemented(&self, service: &ServiceDescriptor) -> bool {
        let Some(ext) = &self.gateway_implemented else {
            return false;
        };
        let options = service.options();
        options.has_extension(ext) && options.get_extension(ext).as_bool() == Some(true)
    }

    /// The method's [`Role`]; rejects the option combinations the gateway cannot serve.
    pub(super) fn role(
        &self,
        service: &ServiceDescriptor,
        method: &MethodDescriptor,
    ) -> Result<Role, String> {
        let options = method.options();
        let composition = match &self.compose {
            Some(ext) if options.has_extension(ext) => {
                Some(options.get_extension(ext).into_owned())
            }
            _ => None,
        };
        let implemented = self.gateway_implemented(service);
        let has_http = self
            .http
            .as_ref()
            .is_some_and(|http| options.has_extension(http));
        match (implemented, composition, has_http) {
            (false, None, false) => Ok(Role::Unbound),
            (true, None, _) => Err(format!(
                "the service is `({GATEWAY_IMPLEMENTED})`, so every method needs `({COMPOSE})`: no upstream serves it"
            )),
            (false, Some(_), _) => Err(format!(
                "`({COMPOSE})` is only allowed in a service marked `({GATEWAY_IMPLEMENTED}) = true`"
            )),
            (true, Some(_), false) => Err(format!(
                "a `({COMPOSE})` method needs a `google.api.http` binding"
            )),
            (false, None, true) => Ok(Role::Proxied),
            (true, Some(value), true) => Ok(Role::Composite(value)),
        }
    }

    /// Resolves and checks a `gateway.v1.Composition` for the composite method `method`.
    pub(super) fn composition(
        &self,
        method: &MethodDescriptor,
        value: &Value,
        callable: &BTreeSet<String>,
    ) -> Result<Composition, String> {
        if method.is_server_streaming() {
            return Err(format!("a `({COMPOSE})` method cannot stream its response"));
        }
        if method.is_client_streaming() {
            return Err(format!("a `({COMPOSE})` method cannot stream its request"));
        }
        let Value::Message(composition) = value else {
            return Err(format!("`({COMPOSE})` is not a gateway.v1.Composition"));
        };
        let pool = method.parent_pool();
        let input = method.input();
        let output = method.output();
        let mut parts = Vec::new();
        for part in messages(composition, "parts") {
            let text = |name: &str| string_field(&part, name);
            let field_name = text("field");
            let what = format!("compose part `{field_name}`");
            if field_name.is_empty() || field_name.contains('.') {
                return Err(format!(
                    "{what}: `field` must name a top-level field of {}",
                    output.full_name()
                ));
            }
            if parts.iter().any(|p: &Part| p.field.path[0] == field_name) {
                return Err(format!("{what}: two parts fill the same field"));
            }
            let field = self
                .resolve(&output, std::slice::from_ref(&field_name))
                .map_err(|m| format!("{what}: field: {m}"))?;

            let full = text("method");
            let called = full
                .rsplit_once('.')
                .and_then(|(service, name)| {
                    pool.get_service_by_name(service)
                        .and_then(|s| s.methods().find(|m| m.name() == name))
                })
                .ok_or_else(|| {
                    format!("{what}: no method `{full}` (give `package.Service.Method`)")
                })?;
            let service = called.parent_service();
            if !callable.contains(service.full_name()) {
                return Err(format!(
                    "{what}: `{full}` is not reachable by the gateway: {} must be declared in the input protos and not be gateway-implemented",
                    service.full_name()
                ));
            }
            if called.is_client_streaming() || called.is_server_streaming() {
                return Err(format!(
                    "{what}: `{full}` is a streaming method; only unary methods compose"
                ));
            }
            let called_input = called.input();
            let called_output = called.output();

            let mut request: Vec<FieldMapping> = Vec::new();
            for mapping in messages(&part, "request") {
                let from = split_path(&string_field(&mapping, "from"));
                let to = split_path(&string_field(&mapping, "to"));
                let source = self
                    .resolve(&input, &from)
                    .map_err(|m| format!("{what}: request `from: \"{}\"`: {m}", from.join(".")))?;
                let target = self
                    .resolve(&called_input, &to)
                    .map_err(|m| format!("{what}: request `to: \"{}\"`: {m}", to.join(".")))?;
                if source.ty != target.ty || source.label != target.label {
                    return Err(format!(
                        "{what}: request field `{}` ({}) does not have the type of `{}` ({}) in {}",
                        from.join("."),
                        describe(&source),
                        to.join("."),
                        describe(&target),
                        called_input.full_name()
                    ));
                }
                if request.iter().any(|m| m.to == to) {
                    return Err(format!(
                        "{what}: `{}` of {} is mapped twice",
                        to.join("."),
                        called_input.full_name()
                    ));
                }
                request.push(FieldMapping { from, to });
            }

            let take = split_path(&text("take"));
            let taken = if take.is_empty() {
                FieldRef {
                    path: Vec::new(),
                    ty: FieldType::Message(called_output.full_name().to_owned()),
                    label: Label::Singular,
                    description: None,
                    required: false,
                    rules: None,
                }
            } else {
                self.resolve(&called_output, &take)
                    .map_err(|m| format!("{what}: take: {m}"))?
            };
            if taken.ty != field.ty || taken.label != field.label {
                let source = if take.is_empty() {
                    format!("the whole {}", called_output.full_name())
                } else {
                    format!("`{}` of {}", take.join("."), called_output.full_name())
                };
                return Err(format!(
                    "{what}: takes {source} ({}), but `{field_name}` of {} is {}",
                    describe(&taken),
                    output.full_name(),
                    describe(&field)
                ));
            }
            parts.push(Part {
                field,
                service: service.full_name().to_owned(),
                method: full,
                grpc_path: format!("/{}/{}", service.full_name(), called.name()),
                input_type: called_input.full_name().to_owned(),
                output_type: called_output.full_name().to_owned(),
                request,
                take,
                optional: part
                    .get_field_by_name("optional")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            });
        }
        if parts.is_empty() {
            return Err(format!("`({COMPOSE})` has no parts"));
        }
        Ok(Composition { parts })
    }
}

/// The messages of a repeated message field of `message` (empty when unset).
fn messages(message: &DynamicMessage, name: &str) -> Vec<DynamicMessage> {
    match message.get_field_by_name(name).map(|v| v.into_owned()) {
        Some(Value::List(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::Message(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A string field of `message` (empty when unset).
fn string_field(message: &DynamicMessage, name: &str) -> String {
    message
        .get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `a.b` -> `["a", "b"]`; `""` -> `[]`.
fn split_path(path: &str) -> Vec<String> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').map(str::to_owned).collect()
    }
}

/// A field's type for error messages: `int64`, `repeated string`, `users.v1.User`.
fn describe(field: &FieldRef) -> String {
    let ty = match &field.ty {
        FieldType::Bool => "bool".to_owned(),
        FieldType::Int32 => "int32".to_owned(),
        FieldType::Uint32 => "uint32".to_owned(),
        FieldType::Int64 => "int64".to_owned(),
        FieldType::Uint64 => "uint64".to_owned(),
        FieldType::Float => "float".to_owned(),
        FieldType::Double => "double".to_owned(),
        FieldType::String => "string".to_owned(),
        FieldType::Bytes => "bytes".to_owned(),
        FieldType::Enum(name) | FieldType::Message(name) => name.clone(),
    };
    match &field.label {
        Label::Singular => ty,
        Label::Repeated => format!("repeated {ty}"),
        Label::Map(key) => format!(
            "map<{}, {ty}>",
            describe(&FieldRef {
                path: Vec::new(),
                ty: key.clone(),
                label: Label::Singular,
                description: None,
                required: false,
                rules: None,
            })
        ),
    }
}
