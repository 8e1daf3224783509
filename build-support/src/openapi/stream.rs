//! The OpenAPI shape of a server stream (not a `google.api.HttpBody` one): the 200 response in
//! both framings the gateway negotiates by `Accept` (newline-delimited JSON, the default, and
//! Server-Sent Events), and the `Last-Event-ID` header of a method with a resume field
//! (`gateway.v1.event_stream`).
//!
//! OpenAPI 3.1 has no way to say "a sequence of these" for either media type, so both carry the
//! schema of one message (what each line, or each event's `data`, holds) and the response's
//! description says how they are framed.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{SchemaType, Type};
use utoipa::openapi::{ContentBuilder, RefOr, Required, ResponseBuilder, Schema};

use super::{STATUS_SCHEMA, element_schema};
use crate::model::Method;

/// The media type of newline-delimited JSON.
pub const NDJSON: &str = "application/x-ndjson";
/// The media type of Server-Sent Events.
pub const EVENT_STREAM: &str = "text/event-stream";

/// The 200 response of a server-streaming `method` whose messages have `schema`.
pub(super) fn response(method: &Method, schema: RefOr<Schema>) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description(method))
        .content(
            NDJSON,
            ContentBuilder::new().schema(Some(schema.clone())).build(),
        )
        .content(
            EVENT_STREAM,
            ContentBuilder::new().schema(Some(schema)).build(),
        )
}

/// How both framings carry the messages, with the method's event ids and resume field.
fn description(method: &Method) -> String {
    let event_stream = method.event_stream.as_ref();
    let ids = match event_stream.and_then(|e| e.id_field.as_ref()) {
        Some(field) => format!("the message's `{}`", field.path.join(".")),
        None => "the message's 1-based position in the response".to_owned(),
    };
    let resume = match event_stream.and_then(|e| e.resume_field.as_ref()) {
        Some(field) => format!(
            " A reconnecting client's `Last-Event-ID` header sets the request's `{}`, so the stream resumes after the last event it saw.",
            field.path.join(".")
        ),
        None => String::new(),
    };
    format!(
        "A stream of messages, framed as the request's `Accept` header prefers:\n\n\
         - `{NDJSON}` (the default): one JSON value per line. A failure after the stream \
         started is a last line `{{\"error\": <{STATUS_SCHEMA}>}}`.\n\
         - `{EVENT_STREAM}` (Server-Sent Events, as `EventSource` asks): one event per message, \
         `id: <id>` then `data: <the JSON value, on one line>`; the id is {ids}. A \
         `: keep-alive` comment is sent whenever the stream has been idle for the gateway's \
         heartbeat interval (15 s by default). A failure, even before the first message (the \
         status stays 200, so that `EventSource` can read it), is a last event \
         `event: error` whose `data` is the `{STATUS_SCHEMA}` error body; the stream then \
         ends.{resume}"
    )
}

/// The `Last-Event-ID` header parameter of a method with a resume field.
pub(super) fn last_event_id(method: &Method) -> Option<Parameter> {
    let field = method.event_stream.as_ref()?.resume_field.as_ref()?;
    Some(
        ParameterBuilder::new()
            .name("Last-Event-ID")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(format!(
                "The id of the last event a reconnecting client saw (`EventSource` sends it by \
                 itself): sets the request's `{}`, after the path, body and query, so the \
                 stream resumes after that event. A value that does not parse, or an empty \
                 one, is a 400.",
                field.path.join(".")
            )))
            .schema(Some(non_empty(element_schema(&field.ty))))
            .build(),
    )
}

/// `schema` with `minLength: 1` when it is a string with no pattern (the integers' patterns
/// already exclude it): the gateway rejects an empty
/// `Last-Event-ID` whatever the field's type (it names no event).
fn non_empty(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut object))
            if object.schema_type == SchemaType::Type(Type::String) && object.pattern.is_none() =>
        {
            object.min_length = Some(object.min_length.unwrap_or(0).max(1));
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}
