//! Stage 2, bindings: `google.api.http` rules -> validated [`Binding`]s, one [`Method`] at a time.
//!
//! Reads a method's HttpRule and its one level of `additional_bindings`, parses each path template
//! ([`crate::httprule`]), resolves the path variables, `body` and `response_body` against the
//! request and response messages, and lists the request fields left for the query string. Anything
//! HttpRule forbids is rejected here, with a message the caller prefixes with the file, service and
//! method.

use std::collections::BTreeSet;

use prost_reflect::{
    DynamicMessage, Kind, MessageDescriptor, MethodDescriptor, ServiceDescriptor, Value,
};

use gateway_spec::{Segment as PatternSegment, WellKnownJson, well_known_json};

use super::composition::Role;
use super::stream::check_resume_unbound;
use super::types::field_type;
use super::{
    Binding, Body, Context, FieldType, Label, Method, QueryParam, Warning, WarningKind,
    is_well_known,
};
use crate::Error;
use crate::httprule::Template;

/// Well-known types whose JSON form is a single scalar, so they can be path or query values.
fn is_scalar_well_known(full_name: &str) -> bool {
    well_known_json(full_name) == Some(WellKnownJson::Scalar)
}

/// The parts of one `HttpRule` the model reads.
struct Rule {
    method: String,
    path: String,
    body: String,
    response_body: String,
    additional: Vec<DynamicMessage>,
}

impl Context {
    /// The model of one method: `None` when it has no HTTP binding (and is not composed), or
    /// when lenient mode left every binding out.
    ///
    /// `prefix` starts its operation ids; `callable` are the services a composition may call.
    /// What the gateway cannot serve fails the method in strict mode; in lenient mode it is
    /// left out (the binding, or the whole method when the problem is the method's) with a
    /// [`Warning`] in `warnings`.
    pub(super) fn method(
        &self,
        service: &ServiceDescriptor,
        method: &MethodDescriptor,
        prefix: &str,
        callable: &BTreeSet<String>,
        warnings: &mut Vec<Warning>,
    ) -> Result<Option<Method>, Error> {
        // `what` is the problem; `consequence` what lenient mode does about it (empty for a
        // note on something served), appended to the warning only.
        let mut note = |kind: WarningKind, what: String, consequence: &str, omitted: usize| {
            // A note on something served never fails; anything left out does, in strict mode.
            if self.strict && !consequence.is_empty() {
                return Err(Error::Binding {
                    file: service.parent_file().name().to_owned(),
                    service: service.full_name().to_owned(),
                    method: method.name().to_owned(),
                    message: what,
                });
            }
            warnings.push(Warning {
                file: service.parent_file().name().to_owned(),
                service: service.full_name().to_owned(),
                method: method.name().to_owned(),
                kind,
                message: if consequence.is_empty() {
                    what
                } else {
                    format!("{what}; {consequence}")
                },
                omitted,
            });
            Ok(())
        };
        let options = method.options();
        let bound = self
            .http
            .as_ref()
            .is_some_and(|http| options.has_extension(http));
        if !bound && self.declares_headers(method) {
            note(
                WarningKind::InvalidBinding,
                "`(gateway.v1.header)` needs a `google.api.http` binding to apply to".to_owned(),
                "the option is ignored",
                0,
            )?;
        }
        if !bound && self.declares_event_stream(method) {
            note(
                WarningKind::InvalidBinding,
                "`(gateway.v1.event_stream)` needs a `google.api.http` binding to apply to"
                    .to_owned(),
                "the option is ignored",
                0,
            )?;
        }
        let Some(http) = &self.http else {
            return Ok(None);
        };
        let raw_rule = match options.get_extension(http).into_owned() {
            Value::Message(rule) => Some(rule),
            _ => None,
        };
        // Every binding the method declares, for what a method-level problem leaves out.
        let declared = match &raw_rule {
            Some(rule) if options.has_extension(http) => 1 + additional_bindings(rule).len(),
            _ => 0,
        };
        let method_left_out = format!("its {} left out", plural(declared, "binding"));
        let composition = match self.role(service, method) {
            Ok(Role::Unbound) => return Ok(None),
            Ok(Role::Proxied) => None,
            Ok(Role::Composite(value)) => Some(value),
            Err(message) => {
                note(
                    WarningKind::InvalidBinding,
                    message,
                    &method_left_out,
                    declared,
                )?;
                return Ok(None);
            }
        };
        let Some(rule) = raw_rule else {
            note(
                WarningKind::InvalidBinding,
                "`google.api.http` is not an HttpRule".to_owned(),
                "it is left out",
                1,
            )?;
            return Ok(None);
        };
        let mut rules = Vec::new();
        match read_rule(&rule) {
            Ok(top) => rules.push((0, top)),
            Err(message) => note(
                WarningKind::InvalidBinding,
                message,
                "the rule is left out (its additional bindings are kept)",
                1,
            )?,
        }
        for (i, extra) in additional_bindings(&rule).iter().enumerate() {
            let n = i + 1;
            match read_rule(extra) {
                Ok(extra) => {
                    if !extra.additional.is_empty() {
                        note(
                            WarningKind::InvalidBinding,
                            format!(
                                "additional binding {n} has its own additional_bindings (only one level is allowed)"
                            ),
                            "they are left out",
                            // Not rules of this method: only one level counts.
                            0,
                        )?;
                    }
                    rules.push((n, extra));
                }
                Err(message) => note(
                    WarningKind::InvalidBinding,
                    format!("additional binding {n}: {message}"),
                    "it is left out",
                    1,
                )?,
            }
        }

        // What the method declares besides its bindings, checked in this order; the first
        // problem leaves the method out.
        let declared_parts = composition
            .map(|value| self.composition(method, &value, callable))
            .transpose()
            .and_then(|compose| Ok((compose, self.headers(method)?, self.event_stream(method)?)));
        let (compose, headers, event_stream) = match declared_parts {
            Ok(parts) => parts,
            Err(message) => {
                note(
                    WarningKind::InvalidBinding,
                    message,
                    &method_left_out,
                    declared,
                )?;
                return Ok(None);
            }
        };
        let input = method.input();
        let output = method.output();
        let mut bindings = Vec::new();
        for (i, rule) in rules {
            let operation_id = if i == 0 {
                format!("{prefix}_{}", method.name())
            } else {
                format!("{prefix}_{}_{i}", method.name())
            };
            match self
                .binding(&input, &output, rule, operation_id)
                .and_then(|binding| streamed_body(method, binding))
            {
                Ok(binding) => {
                    if let Some(message) = inner_double_wildcard(&binding) {
                        note(WarningKind::InnerDoubleWildcard, message, "", 0)?;
                    }
                    bindings.push(binding);
                }
                Err(message) => note(
                    WarningKind::InvalidBinding,
                    message,
                    "the binding is left out",
                    1,
                )?,
            }
        }
        if bindings.is_empty() {
            return Ok(None);
        }
        if let Err(message) = check_resume_unbound(event_stream.as_ref(), &bindings) {
            note(
                WarningKind::InvalidBinding,
                message,
                &method_left_out,
                declared,
            )?;
            return Ok(None);
        }
        Ok(Some(Method {
            name: method.name().to_owned(),
            grpc_path: format!("/{}/{}", service.full_name(), method.name()),
            input_type: input.full_name().to_owned(),
            output_type: output.full_name().to_owned(),
            description: self
                .comments
                .get(method.parent_file().name(), method.path()),
            client_streaming: method.is_client_streaming(),
            server_streaming: method.is_server_streaming(),
            bindings,
            compose,
            headers,
            event_stream,
        }))
    }

    /// Validates one rule of the request `input` and response `output` messages.
    fn binding(
        &self,
        input: &MessageDescriptor,
        output: &MessageDescriptor,
        rule: Rule,
        operation_id: String,
    ) -> Result<Binding, String> {
        let where_ = format!("`{} {}`", rule.method, rule.path);
        let parsed = Template::parse(&rule.path).map_err(|e| e.to_string())?;
        let compiled = parsed.compile();

        let mut path_fields = Vec::new();
        for param in &compiled.params {
            let field_path: Vec<String> = param.field_path.iter().map(|n| n.to_string()).collect();
            let field = self.resolve(input, &field_path).map_err(|m| {
                format!(
                    "{where_}: path variable `{}`: {m}",
                    param.field_path.join(".")
                )
            })?;
            let ok = field.label == Label::Singular
                && match &field.ty {
                    FieldType::Message(name) => is_scalar_well_known(name),
                    _ => true,
                };
            if !ok {
                return Err(format!(
                    "{where_}: path variable `{}` must name a singular scalar, enum or string-valued well-known type field",
                    param.field_path.join(".")
                ));
            }
            path_fields.push(field);
        }

        let body = match rule.body.as_str() {
            "" => Body::None,
            "*" => Body::Whole,
            name => {
                if name.contains('.') {
                    return Err(format!(
                        "{where_}: body `{name}` must be a top-level field of {}",
                        input.full_name()
                    ));
                }
                let field = self
                    .resolve(input, &[name.to_owned()])
                    .map_err(|m| format!("{where_}: body: {m}"))?;
                // A path variable inside the body field (`{book.name=...}` with `body: "book"`,
                // the usual update pattern) is fine; only the whole field bound twice is not.
                if compiled
                    .params
                    .iter()
                    .any(|p| p.field_path.len() == 1 && p.field_path[0] == name)
                {
                    return Err(format!(
                        "{where_}: body field `{name}` is also bound by the path"
                    ));
                }
                Body::Field(field)
            }
        };
        if body != Body::None && matches!(rule.method.as_str(), "GET" | "DELETE") {
            return Err(format!(
                "{where_}: a {} binding may not have a body",
                rule.method
            ));
        }

        let response_body = match rule.response_body.as_str() {
            "" => None,
            name => {
                if name.contains('.') {
                    return Err(format!(
                        "{where_}: response_body `{name}` must be a top-level field of {}",
                        output.full_name()
                    ));
                }
                Some(
                    self.resolve(output, &[name.to_owned()])
                        .map_err(|m| format!("{where_}: response_body: {m}"))?,
                )
            }
        };

        let query_params = match &body {
            Body::Whole => Vec::new(),
            other => {
                let bound: Vec<Vec<String>> = compiled
                    .params
                    .iter()
                    .map(|p| p.field_path.iter().map(|n| n.to_string()).collect())
                    .chain(match other {
                        Body::Field(f) => Some(f.path.clone()),
                        _ => None,
                    })
                    .collect();
                let mut out = Vec::new();
                let mut chain = vec![input.full_name().to_owned()];
                self.query_params(input, &[], &bound, &mut chain, &mut out);
                out
            }
        };

        Ok(Binding {
            operation_id,
            http_method: rule.method,
            template: rule.path,
            parsed,
            compiled,
            path_fields,
            body,
            response_body,
            query_params,
        })
    }

    /// Appends to `out` every field under `prefix` of `message` that the query string may set:
    /// not `bound` by the path or body, not a map, and scalar-like or a non-recursive (`chain`)
    /// singular message to descend into.
    fn query_params(
        &self,
        message: &MessageDescriptor,
        prefix: &[String],
        bound: &[Vec<String>],
        chain: &mut Vec<String>,
        out: &mut Vec<QueryParam>,
    ) {
        for field in message.fields() {
            let mut path = prefix.to_vec();
            path.push(field.name().to_owned());
            if bound.contains(&path) || field.is_map() {
                continue;
            }
            let ty = field_type(&field);
            let scalar_like = match &ty {
                FieldType::Message(name) => is_scalar_well_known(name),
                _ => true,
            };
            if scalar_like {
                let rules = super::types::field_rules(&field);
                out.push(QueryParam {
                    name: path.join("."),
                    ty,
                    repeated: field.is_list(),
                    description: self.comments.get(field.parent_file().name(), field.path()),
                    // `buf.validate` `required` too: the field must be set (non-zero).
                    required: prefix.is_empty()
                        && (self.behaviors(&field).0 || rules.as_ref().is_some_and(|r| r.required)),
                    rules: rules.map(Box::new),
                });
            } else if let (FieldType::Message(name), false, Kind::Message(sub)) =
                (&ty, field.is_list(), field.kind())
            {
                if is_well_known(name) || chain.contains(name) {
                    continue;
                }
                chain.push(name.clone());
                self.query_params(&sub, &path, bound, chain, out);
                chain.pop();
            }
        }
    }
}

/// Reads the pattern, body, response_body and additional bindings of an HttpRule.
fn read_rule(rule: &DynamicMessage) -> Result<Rule, String> {
    let text = |name: &str| -> String {
        rule.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut found = None;
    for verb in ["get", "put", "post", "delete", "patch"] {
        if rule.has_field_by_name(verb) {
            found = Some((verb.to_uppercase(), text(verb)));
        }
    }
    if rule.has_field_by_name("custom")
        && let Some(Value::Message(custom)) =
            rule.get_field_by_name("custom").map(|v| v.into_owned())
    {
        let get = |name: &str| {
            custom
                .get_field_by_name(name)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let kind = get("kind");
        if kind.is_empty() {
            return Err("custom pattern has an empty kind".to_owned());
        }
        found = Some((kind.to_uppercase(), get("path")));
    }
    let Some((method, path)) = found else {
        return Err(
            "the HttpRule sets no pattern (get, put, post, delete, patch or custom)".to_owned(),
        );
    };
    let additional = additional_bindings(rule);
    Ok(Rule {
        method,
        path,
        body: text("body"),
        response_body: text("response_body"),
        additional,
    })
}

/// An HttpRule's `additional_bindings`.
fn additional_bindings(rule: &DynamicMessage) -> Vec<DynamicMessage> {
    match rule.get_field_by_name("additional_bindings").as_deref() {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `n` and `word`, plural unless `n` is 1 (`2 bindings`).
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word} is")
    } else {
        format!("{n} {word}s are")
    }
}

/// The note for a binding whose `**` is followed by more segments: served, but outside
/// http.proto's grammar, so the user should know.
fn inner_double_wildcard(binding: &Binding) -> Option<String> {
    let segments = &binding.compiled.pattern.segments;
    let at = segments.iter().position(|s| *s == PatternSegment::Multi)?;
    (at + 1 < segments.len()).then(|| {
        format!(
            "`{} {}`: `**` is followed by more segments, which http.proto does not allow; served as Google serves it (`**` takes the segments the rest of the template leaves)",
            binding.http_method, binding.template
        )
    })
}

/// A client-streaming method's binding as it is, when it has a body to carry the stream of
/// request messages; without one (`body` unset) no request could send any message.
fn streamed_body(method: &MethodDescriptor, binding: Binding) -> Result<Binding, String> {
    if method.is_client_streaming() && binding.body == Body::None {
        return Err(format!(
            "`{} {}`: a client-streaming method needs a `body` (the stream of request messages)",
            binding.http_method, binding.template
        ));
    }
    Ok(binding)
}
