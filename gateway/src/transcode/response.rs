//! Turns the upstream's answer into the HTTP body: one message as JSON (the whole message or
//! its `response_body` field), or a server stream as newline-delimited JSON or (framed by
//! [`super::sse`]) Server-Sent Events.
//!
//! Response metadata becomes headers in [`crate::metadata`]; failures before the answer starts
//! are rendered by [`crate::error`], which this module uses (for a stream's closing error line)
//! and which does not use it.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, ReflectMessage, SerializeOptions, Value,
};
use tonic::Streaming;

use crate::error::{GatewayError, status_body};
use crate::transcode::sse::{self, EventIds};

/// How responses are written (chosen once from the configuration).
#[derive(Debug, Clone)]
pub(crate) struct ResponseEncoder {
    options: SerializeOptions,
    /// The same options but emitting defaults, for a scalar or repeated `response_body`.
    field_options: SerializeOptions,
    use_proto_names: bool,
}

impl ResponseEncoder {
    /// `use_proto_names`: `user_id` rather than `userId`; `emit_unpopulated`: write fields that
    /// hold their default value (`0`, `""`, `[]`) instead of leaving them out.
    pub(crate) fn new(use_proto_names: bool, emit_unpopulated: bool) -> Self {
        let options = SerializeOptions::new()
            .use_proto_field_name(use_proto_names)
            .skip_default_fields(!emit_unpopulated);
        let field_options = options.clone().skip_default_fields(false);
        ResponseEncoder {
            options,
            field_options,
            use_proto_names,
        }
    }

    fn write(
        message: &DynamicMessage,
        options: &SerializeOptions,
    ) -> Result<Vec<u8>, GatewayError> {
        let mut out = Vec::with_capacity(128);
        let mut serializer = serde_json::Serializer::new(&mut out);
        message
            .serialize_with_options(&mut serializer, options)
            .map_err(|e| GatewayError::Internal(format!("cannot write response JSON: {e}")))?;
        Ok(out)
    }

    /// The HTTP body for `message`: the whole message, or only `response_body`.
    pub(crate) fn encode(
        &self,
        message: &DynamicMessage,
        response_body: Option<&FieldDescriptor>,
    ) -> Result<Vec<u8>, GatewayError> {
        let Some(field) = response_body else {
            return Self::write(message, &self.options);
        };
        if let Kind::Message(desc) = field.kind()
            && !field.is_list()
            && !field.is_map()
        {
            return match message.get_field(field).as_ref() {
                Value::Message(inner) => Self::write(inner, &self.options),
                _ => Self::write(&DynamicMessage::new(desc), &self.options),
            };
        }
        // A scalar, repeated or map field: let the mapping write it inside its message, then
        // take it out, so its JSON form is exactly the mapping's.
        let mut holder = DynamicMessage::new(message.descriptor());
        holder.set_field(field, message.get_field(field).into_owned());
        let mut json = holder
            .serialize_with_options(serde_json::value::Serializer, &self.field_options)
            .map_err(|e| GatewayError::Internal(format!("cannot write response JSON: {e}")))?;
        let key = if self.use_proto_names {
            field.name()
        } else {
            field.json_name()
        };
        let value = json
            .get_mut(key)
            .map(serde_json::Value::take)
            .unwrap_or(serde_json::Value::Null);
        serde_json::to_vec(&value)
            .map_err(|e| GatewayError::Internal(format!("cannot write response JSON: {e}")))
    }

    /// The HTTP body for a server stream: one JSON line per message, encoded as [`Self::encode`]
    /// does. The status line has been sent by the time the stream fails, so a failure becomes a
    /// last `{"error": <Status>}` line instead.
    pub(crate) fn encode_stream(
        &self,
        stream: Streaming<DynamicMessage>,
        response_body: Option<FieldDescriptor>,
    ) -> Body {
        self.encode_results(
            stream.map(|item| item.map_err(|status| GatewayError::upstream(status, None))),
            response_body,
        )
    }

    /// [`Self::encode_stream`] for a stream whose failures are already [`GatewayError`]s (a
    /// bidirectional stream, which may fail on the request's side too).
    pub(crate) fn encode_results<S>(
        &self,
        stream: S,
        response_body: Option<FieldDescriptor>,
    ) -> Body
    where
        S: Stream<Item = Result<DynamicMessage, GatewayError>> + Send + 'static,
    {
        let encoder = self.clone();
        let lines = stream.map(move |item| {
            let mut line = match item {
                Ok(message) => encoder
                    .encode(&message, response_body.as_ref())
                    .unwrap_or_else(|e| error_line(&e)),
                Err(error) => error_line(&error),
            };
            line.push(b'\n');
            Ok::<_, Infallible>(Bytes::from(line))
        });
        Body::from_stream(lines)
    }
}

impl ResponseEncoder {
    /// The HTTP body for a server stream as Server-Sent Events: one event per message, its data
    /// the JSON [`Self::encode`] writes, its id from `ids`; a `: keep-alive` comment whenever
    /// `heartbeat` passes without an event; a failure is a last `event: error`. Dropping the body
    /// (the client went away) drops `stream`, which cancels the upstream call.
    pub(crate) fn encode_events<S>(
        &self,
        stream: S,
        response_body: Option<FieldDescriptor>,
        ids: EventIds,
        heartbeat: Duration,
    ) -> Body
    where
        S: Stream<Item = Result<DynamicMessage, GatewayError>> + Send + 'static,
    {
        let encoder = self.clone();
        let events = sse::events(stream, ids, move |message| {
            encoder.encode(message, response_body.as_ref())
        });
        Body::from_stream(sse::with_heartbeat(events, heartbeat).map(Ok::<_, Infallible>))
    }
}

/// A stream line reporting an error after the stream started: `{"error": <Status>}`.
fn error_line(error: &GatewayError) -> Vec<u8> {
    tracing::warn!(%error, "stream failed");
    let message = error.client_message();
    serde_json::json!({ "error": status_body(error.code(), &message, &[]) })
        .to_string()
        .into_bytes()
}
