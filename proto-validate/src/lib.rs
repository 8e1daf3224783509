//! protovalidate (`buf.validate`) standard rules, read from prost-reflect descriptors and
//! checked on [`DynamicMessage`]s, with no `protoc`, no CEL and no generated code.
//!
//! Why not the `prost-protovalidate` crate: its types crate compiles `validate.proto` with
//! `protoc` in its build script, and this workspace builds without `protoc`. The rules are read
//! here from whatever descriptor pool the message lives in (the one the gateway loads at run
//! time, or a service's own), so any proto importing `buf/validate/validate.proto` works.
//!
//! One crate, three users, one answer:
//! - the generator maps [`FieldRules`] to JSON Schema (`build-support`, `openapi`);
//! - the gateway compiles [`MessageRules`] per route at start-up and checks each request
//!   before calling upstream;
//! - a service checks the same message with [`Validator`] and answers with
//!   [`Violations::to_status`] (feature `tonic`): INVALID_ARGUMENT with one `google.rpc.BadRequest`
//!   whose field violations are the ones the gateway would have sent.
//!
//! Checked: `required`, `ignore`; string `const`, `len`, `min_len`, `max_len`, `len_bytes`,
//! `min_bytes`, `max_bytes`, `pattern`, `prefix`, `suffix`, `contains`, `not_contains`, `in`,
//! `not_in`, `email`, `uuid`; bytes `len`, `min_len`, `max_len`; bool `const`; every integer
//! kind, float and double: `const`, `gt`, `gte`, `lt`, `lte` (ranges and exclusive ranges),
//! `in`, `not_in`, `finite`; enum `const`, `defined_only`, `in`, `not_in`; repeated
//! `min_items`, `max_items`, `unique`, `items`; map `min_pairs`, `max_pairs`, `keys`, `values`;
//! oneof `required`; nested messages (their own rules, under `parent.child` paths). Everything
//! else that is set (CEL rules, other string formats, timestamp/duration/any rules, message
//! `oneof` rules) is listed by [`MessageRules::unsupported`], not silently passed.

use std::collections::HashMap;
use std::sync::Arc;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage as _,
    Value,
};

mod eval;
pub mod rules;

pub use rules::FieldRules;

/// A rule that cannot be compiled: the descriptors are wrong, not the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The rules are for another type than the field's (`string` rules on an `int64`).
    #[error("{field}: `{rules}` rules do not apply to this field's type")]
    TypeMismatch {
        /// The field's full name.
        field: String,
        /// The rule type set on it.
        rules: String,
    },
    /// A `string.pattern` that is not a valid regular expression.
    #[error("{field}: pattern `{pattern}` does not compile: {reason}")]
    Pattern {
        /// The field's full name.
        field: String,
        /// The pattern.
        pattern: String,
        /// Why it does not compile.
        reason: String,
    },
    /// The message to check is not in the validator's pool, or its bytes do not decode.
    #[error("cannot check {message}: {reason}")]
    Message {
        /// The message's full name.
        message: String,
        /// What went wrong.
        reason: String,
    },
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The proto field path (`user_id`, `address.city`, `items[0]`, `labels["k"]`).
    pub field: String,
    /// protovalidate's rule id (`string.min_len`, `int64.gt`, `required`).
    pub rule: String,
    /// protovalidate's message (`must be at least 1 characters`).
    pub message: String,
}

/// Every rule a message broke, in field order; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct Violations(pub Vec<Violation>);

impl Violations {
    /// `invalid request: user_id: must be greater than 0; name: ...`, the status message.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.message))
            .collect();
        format!("invalid request: {}", parts.join("; "))
    }

    /// The `google.rpc.BadRequest` detail: one field violation per broken rule, `field` the
    /// proto field path, `description` the message, `reason` the rule id.
    #[cfg(feature = "tonic")]
    pub fn bad_request(&self) -> tonic_types::pb::BadRequest {
        tonic_types::pb::BadRequest {
            field_violations: self
                .0
                .iter()
                .map(|v| tonic_types::pb::bad_request::FieldViolation {
                    field: v.field.clone(),
                    description: v.message.clone(),
                    reason: v.rule.clone(),
                    localized_message: None,
                })
                .collect(),
        }
    }

    /// The gRPC answer: INVALID_ARGUMENT, [`Self::summary`] as the message, and a
    /// `google.rpc.Status` in `grpc-status-details-bin` carrying [`Self::bad_request`]. The
    /// gateway answers its own pre-validation with exactly this status, so a client cannot tell
    /// who checked.
    #[cfg(feature = "tonic")]
    pub fn to_status(&self) -> tonic::Status {
        use prost::Message as _;
        let message = self.summary();
        let details = tonic_types::pb::Status {
            code: tonic::Code::InvalidArgument as i32,
            message: message.clone(),
            details: vec![prost_reflect::prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.BadRequest".to_owned(),
                value: self.bad_request().encode_to_vec(),
            }],
        };
        tonic::Status::with_details(
            tonic::Code::InvalidArgument,
            message,
            details.encode_to_vec().into(),
        )
    }
}

/// One field with something to check.
#[derive(Debug)]
struct FieldEntry {
    field: FieldDescriptor,
    rules: Option<FieldRules>,
    /// The node of the field's message type (singular, repeated or map values), when it has
    /// rules of its own at some depth.
    nested: Option<usize>,
}

/// The checks of one message type.
#[derive(Debug, Default)]
struct Node {
    fields: Vec<FieldEntry>,
    /// Oneofs marked `(buf.validate.oneof).required`.
    required_oneofs: Vec<prost_reflect::OneofDescriptor>,
}

/// The compiled rules of one message type and every type it reaches: built once (at start-up),
/// checked per message without looking anything up by name.
#[derive(Debug, Clone)]
pub struct MessageRules {
    nodes: Arc<Vec<Node>>,
    root: usize,
    unsupported: Arc<Vec<String>>,
}

/// Builds the node graph; cycles (recursive messages) are fine.
struct Compiler {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    unsupported: Vec<String>,
}

fn oneof_required(oneof: &prost_reflect::OneofDescriptor) -> bool {
    let Some(extension) = oneof
        .parent_pool()
        .get_extension_by_name(rules::ONEOF_EXTENSION)
    else {
        return false;
    };
    let options = oneof.options();
    if !options.has_extension(&extension) {
        return false;
    }
    let value = options.get_extension(&extension);
    value
        .as_message()
        .and_then(|m| m.get_field_by_name("required"))
        .and_then(|v| v.as_bool())
        == Some(true)
}

fn message_level_unsupported(message: &MessageDescriptor, out: &mut Vec<String>) {
    let Some(extension) = message
        .parent_pool()
        .get_extension_by_name(rules::MESSAGE_EXTENSION)
    else {
        return;
    };
    let options = message.options();
    if !options.has_extension(&extension) {
        return;
    }
    if let Some(rules) = options.get_extension(&extension).as_message() {
        for (field, _) in rules.fields() {
            out.push(format!("{}: message.{}", message.full_name(), field.name()));
        }
    }
}

impl Compiler {
    fn compile(&mut self, message: &MessageDescriptor) -> Result<usize, RuleError> {
        if let Some(&at) = self.index.get(message.full_name()) {
            return Ok(at);
        }
        let at = self.nodes.len();
        self.nodes.push(Node::default());
        self.index.insert(message.full_name().to_owned(), at);
        message_level_unsupported(message, &mut self.unsupported);
        let mut node = Node::default();
        for oneof in message.oneofs() {
            if !oneof.is_synthetic() && oneof_required(&oneof) {
                node.required_oneofs.push(oneof);
            }
        }
        for field in message.fields() {
            let rules =
                FieldRules::of(&field)?.filter(|r| !r.is_empty() || !r.unsupported.is_empty());
            if let Some(rules) = &rules {
                self.unsupported.extend(
                    rules
                        .unsupported
                        .iter()
                        .map(|r| format!("{}: {r}", field.full_name())),
                );
            }
            let nested = match message_of(&field) {
                // Well-known types carry no rules worth walking into.
                Some(inner) if !inner.full_name().starts_with("google.protobuf.") => {
                    Some(self.compile(&inner)?)
                }
                _ => None,
            };
            node.fields.push(FieldEntry {
                field,
                rules: rules.filter(|r| !r.is_empty()),
                nested,
            });
        }
        self.nodes[at] = node;
        Ok(at)
    }

    /// Drops links to nodes with nothing to check at any depth, and fields left with nothing.
    fn prune(mut self, root: usize) -> MessageRules {
        let mut active: Vec<bool> = self
            .nodes
            .iter()
            .map(|n| !n.required_oneofs.is_empty() || n.fields.iter().any(|f| f.rules.is_some()))
            .collect();
        loop {
            let mut changed = false;
            for (i, node) in self.nodes.iter().enumerate() {
                if !active[i]
                    && node
                        .fields
                        .iter()
                        .any(|f| f.nested.is_some_and(|n| active[n]))
                {
                    active[i] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for node in &mut self.nodes {
            for entry in &mut node.fields {
                entry.nested = entry.nested.filter(|n| active[*n]);
            }
            node.fields
                .retain(|f| f.rules.is_some() || f.nested.is_some());
        }
        self.unsupported.sort();
        self.unsupported.dedup();
        MessageRules {
            nodes: Arc::new(self.nodes),
            root,
            unsupported: Arc::new(self.unsupported),
        }
    }
}

/// The message type of a message field, a list of messages, or a map's message values.
fn message_of(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    match field.kind() {
        Kind::Message(entry) if field.is_map() => match entry.map_entry_value_field().kind() {
            Kind::Message(value) => Some(value),
            _ => None,
        },
        Kind::Message(inner) => Some(inner),
        _ => None,
    }
}

impl MessageRules {
    /// Compiles the rules of `message` and of every message type it reaches.
    pub fn compile(message: &MessageDescriptor) -> Result<MessageRules, RuleError> {
        let mut compiler = Compiler {
            nodes: Vec::new(),
            index: HashMap::new(),
            unsupported: Vec::new(),
        };
        let root = compiler.compile(message)?;
        Ok(compiler.prune(root))
    }

    /// Whether no message check anything: [`Self::validate`] always passes.
    pub fn is_empty(&self) -> bool {
        self.nodes[self.root].fields.is_empty() && self.nodes[self.root].required_oneofs.is_empty()
    }

    /// Rules set on the message (or types it reaches) that are not checked here, as
    /// `<field or message full name>: <rule>`: whoever owns the message has to check them.
    pub fn unsupported(&self) -> &[String] {
        &self.unsupported
    }

    /// Checks `message` (of the compiled type): every broken rule, or `Ok`.
    pub fn validate(&self, message: &DynamicMessage) -> Result<(), Violations> {
        let mut out = Vec::new();
        self.check(self.root, message, "", &mut out);
        if out.is_empty() {
            Ok(())
        } else {
            Err(Violations(out))
        }
    }

    fn check(&self, node: usize, message: &DynamicMessage, prefix: &str, out: &mut Vec<Violation>) {
        let node = &self.nodes[node];
        for oneof in &node.required_oneofs {
            if !oneof.fields().any(|f| message.has_field(&f)) {
                out.push(Violation {
                    field: eval::join(prefix, oneof.name()),
                    rule: "required".to_owned(),
                    message: "exactly one field is required in oneof".to_owned(),
                });
            }
        }
        for entry in &node.fields {
            let path = eval::join(prefix, entry.field.name());
            if let Some(rules) = &entry.rules {
                eval::check_field(message, &entry.field, rules, &path, out);
            }
            let Some(nested) = entry.nested else {
                continue;
            };
            if !message.has_field(&entry.field) {
                continue;
            }
            match &*message.get_field(&entry.field) {
                Value::Message(inner) => self.check(nested, inner, &path, out),
                Value::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Value::Message(inner) = item {
                            self.check(nested, inner, &format!("{path}[{i}]"), out);
                        }
                    }
                }
                Value::Map(entries) => {
                    let mut keys: Vec<_> = entries.keys().collect();
                    keys.sort_by_key(|k| eval::key_text(k));
                    for key in keys {
                        if let Some(Value::Message(inner)) = entries.get(key) {
                            let at = format!("{path}[{}]", eval::key_text(key));
                            self.check(nested, inner, &at, out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Every message type of a pool, compiled once: what a service holds to check its requests.
#[derive(Debug, Clone)]
pub struct Validator {
    pool: DescriptorPool,
    messages: Arc<HashMap<String, MessageRules>>,
}

impl Validator {
    /// Compiles the rules of every message in `pool` (a service's descriptor set, e.g. the
    /// `FILE_DESCRIPTOR_SET` its build script encodes).
    pub fn new(pool: DescriptorPool) -> Result<Validator, RuleError> {
        let mut messages = HashMap::new();
        for message in pool.all_messages() {
            let rules = MessageRules::compile(&message)?;
            if !rules.is_empty() {
                messages.insert(message.full_name().to_owned(), rules);
            }
        }
        Ok(Validator {
            pool,
            messages: Arc::new(messages),
        })
    }

    /// Decodes an encoded `FileDescriptorSet` and compiles it ([`Self::new`]).
    pub fn from_file_descriptor_set(encoded: &[u8]) -> Result<Validator, RuleError> {
        let pool = DescriptorPool::decode(encoded).map_err(|e| RuleError::Message {
            message: "FileDescriptorSet".to_owned(),
            reason: e.to_string(),
        })?;
        Validator::new(pool)
    }

    /// The compiled rules of the message named `full_name`, `None` when it has none.
    pub fn rules(&self, full_name: &str) -> Option<&MessageRules> {
        self.messages.get(full_name)
    }

    /// Checks a dynamic message.
    pub fn validate(&self, message: &DynamicMessage) -> Result<(), Violations> {
        match self.messages.get(message.descriptor().full_name()) {
            Some(rules) => rules.validate(message),
            None => Ok(()),
        }
    }

    /// Checks a prost message (a service's generated type) named `full_name` in the pool: it is
    /// encoded and decoded as a dynamic message first (requests are small; the cost is a
    /// copy). `Err(Err(_))` when the type is unknown to the pool.
    pub fn validate_prost<M: prost::Message>(
        &self,
        full_name: &str,
        message: &M,
    ) -> Result<(), Result<Violations, RuleError>> {
        let Some(rules) = self.messages.get(full_name) else {
            return match self.pool.get_message_by_name(full_name) {
                Some(_) => Ok(()),
                None => Err(Err(RuleError::Message {
                    message: full_name.to_owned(),
                    reason: "not in the descriptor pool".to_owned(),
                })),
            };
        };
        let descriptor = self.pool.get_message_by_name(full_name).ok_or_else(|| {
            Err(RuleError::Message {
                message: full_name.to_owned(),
                reason: "not in the descriptor pool".to_owned(),
            })
        })?;
        let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
            .map_err(|e| {
                Err(RuleError::Message {
                    message: full_name.to_owned(),
                    reason: e.to_string(),
                })
            })?;
        rules.validate(&dynamic).map_err(Ok)
    }

    /// [`Self::validate_prost`] for types that know their name (`prost::Name`, generated with
    /// `enable_type_names`).
    pub fn validate_named<M: prost::Message + prost::Name>(
        &self,
        message: &M,
    ) -> Result<(), Result<Violations, RuleError>> {
        self.validate_prost(&M::full_name(), message)
    }

    /// The gRPC check a service's handler calls first: `Ok` or the INVALID_ARGUMENT status the
    /// gateway would have answered with (an unknown type is an INTERNAL status: a bug, not the
    /// caller's).
    #[cfg(feature = "tonic")]
    pub fn check<M: prost::Message>(
        &self,
        full_name: &str,
        message: &M,
    ) -> Result<(), tonic::Status> {
        match self.validate_prost(full_name, message) {
            Ok(()) => Ok(()),
            Err(Ok(violations)) => Err(violations.to_status()),
            Err(Err(error)) => Err(tonic::Status::internal(error.to_string())),
        }
    }
}
