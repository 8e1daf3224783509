//! Turns the upstream response message into the HTTP body, and response metadata into
//! `Grpc-Metadata-*` headers.

use http::{HeaderMap, HeaderName, HeaderValue};
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, ReflectMessage, SerializeOptions, Value,
};
use tonic::metadata::{KeyAndValueRef, MetadataMap};

use crate::error::GatewayError;

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
}

/// Headers that belong to the gRPC or HTTP/2 transport, not to the application.
fn is_transport_header(key: &str) -> bool {
    key.starts_with("grpc-")
        || matches!(
            key,
            "content-type"
                | "content-length"
                | "date"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "connection"
                | "server"
                | "user-agent"
        )
}

/// Copies application metadata (ASCII entries) to `Grpc-Metadata-<key>` response headers.
pub(crate) fn copy_metadata(metadata: &MetadataMap, headers: &mut HeaderMap) {
    for entry in metadata.iter() {
        if let KeyAndValueRef::Ascii(key, value) = entry {
            if is_transport_header(key.as_str()) {
                continue;
            }
            let name = format!("grpc-metadata-{}", key.as_str());
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value.as_encoded_bytes()),
            ) {
                headers.append(name, value);
            }
        }
    }
}
