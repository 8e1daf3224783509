//! Stage 2, event streams: the `(gateway.v1.event_stream)` method option
//! (`gateway/v1/stream.proto`), where a Server-Sent Events answer takes each event's `id:` from
//! and which request field `Last-Event-ID` sets. Checked here once: only on server-streaming
//! methods, each field a singular integer or string, the resume field not bound by a path.

use prost_reflect::{MethodDescriptor, Value};

use super::{Binding, Context, EventStream, FieldRef, FieldType, Label};

/// The method option declaring a method's event ids and resume field.
pub(super) const EVENT_STREAM: &str = "gateway.v1.event_stream";

impl Context {
    /// Whether `method` carries the `(gateway.v1.event_stream)` option.
    pub(super) fn declares_event_stream(&self, method: &MethodDescriptor) -> bool {
        self.event_stream
            .as_ref()
            .is_some_and(|ext| method.options().has_extension(ext))
    }

    /// The method's `(gateway.v1.event_stream)`, validated; `None` when it has none.
    pub(super) fn event_stream(
        &self,
        method: &MethodDescriptor,
    ) -> Result<Option<EventStream>, String> {
        let Some(ext) = &self.event_stream else {
            return Ok(None);
        };
        let options = method.options();
        if !options.has_extension(ext) {
            return Ok(None);
        }
        if !method.is_server_streaming() {
            return Err(format!(
                "`({EVENT_STREAM})` is only allowed on a server-streaming method (its responses are the events)"
            ));
        }
        let Value::Message(option) = options.get_extension(ext).into_owned() else {
            return Err(format!(
                "`({EVENT_STREAM})` is not a gateway.v1.EventStream"
            ));
        };
        let text = |name: &str| {
            option
                .get_field_by_name(name)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let (id, resume) = (text("id_field"), text("resume_field"));
        if id.is_empty() && resume.is_empty() {
            return Err(format!(
                "`({EVENT_STREAM})` sets neither `id_field` nor `resume_field`"
            ));
        }
        let id_field = (!id.is_empty())
            .then(|| self.event_field(&method.output(), "id_field", &id))
            .transpose()?;
        let resume_field = if resume.is_empty() {
            None
        } else {
            if method.is_client_streaming() {
                return Err(format!(
                    "`({EVENT_STREAM})` `resume_field` is not allowed on a client-streaming method: there is no one request message to set it in"
                ));
            }
            Some(self.event_field(&method.input(), "resume_field", &resume)?)
        };
        Ok(Some(EventStream {
            id_field,
            resume_field,
        }))
    }

    /// Resolves the option's field `option` (`id_field` or `resume_field`), `path` in `message`,
    /// and checks it is a singular integer or string.
    fn event_field(
        &self,
        message: &prost_reflect::MessageDescriptor,
        option: &str,
        path: &str,
    ) -> Result<FieldRef, String> {
        let what = format!("`({EVENT_STREAM})` `{option}` `{path}`");
        let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
        if parts.iter().any(String::is_empty) {
            return Err(format!("{what} is not a field path"));
        }
        let field = self
            .resolve(message, &parts)
            .map_err(|m| format!("{what}: {m}"))?;
        let scalar = matches!(
            field.ty,
            FieldType::Int32
                | FieldType::Uint32
                | FieldType::Int64
                | FieldType::Uint64
                | FieldType::String
        );
        if field.label != Label::Singular || !scalar {
            return Err(format!(
                "{what} must name a singular integer or string field of {}",
                message.full_name()
            ));
        }
        Ok(field)
    }
}

/// Rejects a `resume_field` that a binding's path variable also sets: the path would decide it
/// and the header would silently override it.
pub(super) fn check_resume_unbound(
    event_stream: Option<&EventStream>,
    bindings: &[Binding],
) -> Result<(), String> {
    let Some(resume) = event_stream.and_then(|e| e.resume_field.as_ref()) else {
        return Ok(());
    };
    for binding in bindings {
        if binding.compiled.params.iter().any(|p| {
            p.field_path
                .iter()
                .map(|n| &**n)
                .eq(resume.path.iter().map(String::as_str))
        }) {
            return Err(format!(
                "`({EVENT_STREAM})` `resume_field` `{}` is bound by the path of `{} {}`; the `Last-Event-ID` header must set a field the path does not",
                resume.path.join("."),
                binding.http_method,
                binding.template
            ));
        }
    }
    Ok(())
}
