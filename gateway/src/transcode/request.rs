//! Builds the request message: path variables, then the body, then query parameters for the
//! fields neither of those bound (HttpRule semantics).
//!
//! Path and query values are strings; each is turned into the JSON value the proto3 JSON mapping
//! expects for its field (a string for most kinds, a bool or a number where JSON needs one) and
//! deserialized by prost-reflect, so path, query and body share one mapping (int64 as decimal
//! strings, enums by name or number, bytes as base64, Timestamp/Duration/FieldMask/wrappers in
//! their JSON forms).

use bytes::Bytes;
use percent_encoding::percent_decode_str;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value,
};

use crate::error::GatewayError;
use crate::matcher::Alignment;
use crate::route::{AutoUpdateMask, CompiledBody, CompiledRoute, RawBody, is_scalar_like_message};
use crate::transcode::sse::ResumeField;

/// Options for every JSON deserialization: unknown fields are rejected (a typo in a body field
/// name is a 400, not silently dropped), as protojson does by default.
fn deserialize_options() -> DeserializeOptions {
    DeserializeOptions::new().deny_unknown_fields(true)
}

/// Deserializes `json` as a `desc` message; errors name the JSON path that failed.
///
/// The happy path runs without path tracking; only a failing body is parsed a second time with
/// `serde_path_to_error` to say where it failed.
fn message_from_json(desc: MessageDescriptor, json: &[u8]) -> Result<DynamicMessage, GatewayError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    if let Ok(message) =
        DynamicMessage::deserialize_with_options(desc.clone(), &mut de, &deserialize_options())
        && de.end().is_ok()
    {
        return Ok(message);
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    let mut track = serde_path_to_error::Track::new();
    let result = DynamicMessage::deserialize_with_options(
        desc,
        serde_path_to_error::Deserializer::new(&mut de, &mut track),
        &deserialize_options(),
    );
    let error = match result.map(|_| de.end()) {
        Ok(Ok(())) => {
            return Err(GatewayError::BadRequest("invalid JSON body".to_owned()));
        }
        Ok(Err(e)) | Err(e) => e,
    };
    let path = track.path().to_string();
    Err(GatewayError::BadRequest(if path == "." || path == "?" {
        format!("invalid JSON body: {error}")
    } else {
        format!("invalid JSON body at `{path}`: {error}")
    }))
}

/// The value for the common kinds whose text form needs no JSON mapping: strings, and integers
/// written in plain decimal. `None` sends the value through the JSON mapping instead (which
/// also produces the error message when it does not parse).
fn direct_value(field: &FieldDescriptor, raw: &str) -> Option<Value> {
    match field.kind() {
        Kind::String => Some(Value::String(raw.to_owned())),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => raw.parse().ok().map(Value::I64),
        Kind::Uint64 | Kind::Fixed64 => raw.parse().ok().map(Value::U64),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => raw.parse().ok().map(Value::I32),
        Kind::Uint32 | Kind::Fixed32 => raw.parse().ok().map(Value::U32),
        _ => None,
    }
}

/// The JSON value a path or query string stands for, given the target field's kind.
fn json_for(field: &FieldDescriptor, raw: &str) -> Result<serde_json::Value, String> {
    let bool_value = |raw: &str| match raw {
        "true" | "True" | "TRUE" | "t" | "1" => Ok(serde_json::Value::Bool(true)),
        "false" | "False" | "FALSE" | "f" | "0" => Ok(serde_json::Value::Bool(false)),
        _ => Err(format!("`{raw}` is not a boolean")),
    };
    match field.kind() {
        Kind::Bool => bool_value(raw),
        // The JSON mapping takes enum numbers as JSON numbers; a string is a name.
        Kind::Enum(_) => Ok(match raw.parse::<i32>() {
            Ok(number) => serde_json::Value::from(number),
            Err(_) => serde_json::Value::String(raw.to_owned()),
        }),
        Kind::Message(message) if message.full_name() == "google.protobuf.BoolValue" => {
            bool_value(raw)
        }
        Kind::Message(message) if !is_scalar_like_message(&message) => Err(format!(
            "a {} cannot be set from a single value",
            message.full_name()
        )),
        // Every other kind (numbers included) accepts its JSON string form.
        _ => Ok(serde_json::Value::String(raw.to_owned())),
    }
}

/// Parses `value` for `leaf` (a field of `parent`) through the JSON mapping.
fn parse_value(
    parent: &MessageDescriptor,
    leaf: &FieldDescriptor,
    value: serde_json::Value,
) -> Result<Value, String> {
    let mut object = serde_json::Map::with_capacity(1);
    object.insert(leaf.name().to_owned(), value);
    let mut message = DynamicMessage::deserialize_with_options(
        parent.clone(),
        serde_json::Value::Object(object),
        &deserialize_options(),
    )
    .map_err(|e| e.to_string())?;
    Ok(message
        .take_field(leaf)
        .unwrap_or_else(|| Value::default_value_for_field(leaf)))
}

/// The sub-message reached through `parents`, created on the way when absent.
fn message_at<'m>(
    mut message: &'m mut DynamicMessage,
    parents: &[FieldDescriptor],
) -> Result<&'m mut DynamicMessage, GatewayError> {
    for field in parents {
        message = match message.get_field_mut(field) {
            Value::Message(next) => next,
            _ => {
                return Err(GatewayError::Internal(format!(
                    "{} is not a message field",
                    field.full_name()
                )));
            }
        };
    }
    Ok(message)
}

/// Sets `leaf` under `parents` to `value`.
fn set_at(
    message: &mut DynamicMessage,
    parents: &[FieldDescriptor],
    leaf: &FieldDescriptor,
    value: Value,
) -> Result<(), GatewayError> {
    let target = message_at(message, parents)?;
    target
        .try_set_field(leaf, value)
        .map_err(|e| GatewayError::Internal(e.to_string()))
}

/// Percent-decodes a multi-segment capture, keeping `%2F` encoded so that an encoded slash
/// stays distinct from a separator.
fn decode_keeping_slashes(raw: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let decoded = hi * 16 + lo;
            if decoded == b'/' {
                out.extend_from_slice(&bytes[i..i + 3]);
            } else {
                out.push(decoded);
            }
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
fn decode_query_component(raw: &str) -> Result<String, String> {
    let spaced;
    let raw = if raw.contains('+') {
        spaced = raw.replace('+', " ");
        spaced.as_str()
    } else {
        raw
    };
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("`{raw}` is not valid UTF-8 once percent-decoded"))
}

fn apply_path(
    route: &CompiledRoute,
    segments: &[&str],
    message: &mut DynamicMessage,
) -> Result<(), GatewayError> {
    let pattern = &route.spec.pattern;
    let alignment = Alignment::of(pattern, segments.len());
    for bound in &route.path_params {
        let captured = alignment
            .and_then(|alignment| alignment.param_range(pattern, &bound.param))
            .and_then(|range| segments.get(range))
            .ok_or_else(|| {
                GatewayError::Internal(format!("path variable `{}` out of range", bound.name))
            })?;
        let decoded = if bound.param.is_multi_segment() {
            decode_keeping_slashes(&captured.join("/")).ok()
        } else {
            percent_decode_str(captured.first().copied().unwrap_or(""))
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        }
        .ok_or_else(|| {
            GatewayError::BadRequest(format!(
                "path parameter `{}` is not valid UTF-8 once percent-decoded",
                bound.name
            ))
        })?;
        let invalid = |problem: String| {
            GatewayError::BadRequest(format!(
                "invalid value for path parameter `{}`: {problem}",
                bound.name
            ))
        };
        let value = match direct_value(&bound.leaf, &decoded) {
            Some(value) => value,
            None => {
                let json = json_for(&bound.leaf, &decoded).map_err(invalid)?;
                parse_value(bound.leaf.parent_message(), &bound.leaf, json).map_err(invalid)?
            }
        };
        set_at(message, &bound.parents, &bound.leaf, value)?;
    }
    Ok(())
}

/// A query parameter resolved to its field, with every value given for it.
struct QueryField {
    name: String,
    numbers: Vec<u32>,
    parents: Vec<FieldDescriptor>,
    leaf: FieldDescriptor,
    values: Vec<String>,
}

/// Resolves a dotted parameter name (proto or JSON names) to a field chain; `None` when it
/// names no field (such parameters are ignored).
fn resolve_query_name(
    input: &MessageDescriptor,
    name: &str,
) -> Option<(Vec<FieldDescriptor>, FieldDescriptor)> {
    let mut message = input.clone();
    let mut parents = Vec::new();
    let mut parts = name.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = message
            .get_field_by_name(part)
            .or_else(|| message.get_field_by_json_name(part))?;
        if parts.peek().is_none() {
            return Some((parents, field));
        }
        match field.kind() {
            Kind::Message(next) if !field.is_list() && !field.is_map() => {
                parents.push(field);
                message = next;
            }
            _ => return None,
        }
    }
    None
}

/// Whether one field-number path is a prefix of the other.
fn overlaps(a: &[u32], b: &[u32]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y)
}

fn apply_query(
    route: &CompiledRoute,
    query: &str,
    message: &mut DynamicMessage,
) -> Result<(), GatewayError> {
    let mut fields: Vec<QueryField> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_query_component(raw_name).map_err(GatewayError::BadRequest)?;
        let Some((parents, leaf)) = resolve_query_name(&route.input, &name) else {
            continue;
        };
        let numbers: Vec<u32> = parents
            .iter()
            .chain(std::iter::once(&leaf))
            .map(FieldDescriptor::number)
            .collect();
        if route.bound.iter().any(|bound| overlaps(bound, &numbers)) {
            continue;
        }
        let value = decode_query_component(raw_value).map_err(|problem| {
            GatewayError::BadRequest(format!(
                "invalid value for query parameter `{name}`: {problem}"
            ))
        })?;
        match fields.iter_mut().find(|f| f.numbers == numbers) {
            Some(field) => field.values.push(value),
            None => fields.push(QueryField {
                name,
                numbers,
                parents,
                leaf,
                values: vec![value],
            }),
        }
    }
    for field in fields {
        let invalid = |problem: String| {
            GatewayError::BadRequest(format!(
                "invalid value for query parameter `{}`: {problem}",
                field.name
            ))
        };
        if field.leaf.is_map() {
            return Err(invalid("a map field cannot be set from the query".into()));
        }
        // A singular field given several times takes the last value.
        let last = field.values.last().map(String::as_str).unwrap_or("");
        let direct = if field.leaf.is_list() {
            field
                .values
                .iter()
                .map(|v| direct_value(&field.leaf, v))
                .collect::<Option<Vec<_>>>()
                .map(Value::List)
        } else {
            direct_value(&field.leaf, last)
        };
        let value = match direct {
            Some(value) => value,
            None => {
                let json = if field.leaf.is_list() {
                    serde_json::Value::Array(
                        field
                            .values
                            .iter()
                            .map(|v| json_for(&field.leaf, v))
                            .collect::<Result<_, _>>()
                            .map_err(invalid)?,
                    )
                } else {
                    json_for(&field.leaf, last).map_err(invalid)?
                };
                parse_value(field.leaf.parent_message(), &field.leaf, json).map_err(invalid)?
            }
        };
        set_at(message, &field.parents, &field.leaf, value)?;
    }
    Ok(())
}

/// Builds the upstream request for `route` from the matched path `segments` (raw, verb removed),
/// the raw query string and the body bytes.
pub(crate) fn build_request(
    route: &CompiledRoute,
    segments: &[&str],
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, GatewayError> {
    let has_body = body.iter().any(|b| !b.is_ascii_whitespace());
    let mut message = match &route.body {
        CompiledBody::Whole if has_body => message_from_json(route.input.clone(), body)?,
        CompiledBody::Field(field) if has_body => {
            let mut message = DynamicMessage::new(route.input.clone());
            let value = match field.kind() {
                Kind::Message(desc) if !field.is_list() && !field.is_map() => {
                    Value::Message(message_from_json(desc, body)?)
                }
                _ => {
                    let json: serde_json::Value = serde_json::from_slice(body)
                        .map_err(|e| GatewayError::BadRequest(format!("invalid JSON body: {e}")))?;
                    parse_value(&route.input, field, json).map_err(|e| {
                        GatewayError::BadRequest(format!(
                            "invalid JSON body for `{}`: {e}",
                            field.name()
                        ))
                    })?
                }
            };
            message.set_field(field, value);
            message
        }
        _ => DynamicMessage::new(route.input.clone()),
    };
    apply_path(route, segments, &mut message)?;
    if !matches!(route.body, CompiledBody::Whole)
        && let Some(query) = query
    {
        apply_query(route, query, &mut message)?;
    }
    if let Some(auto) = &route.update_mask
        && has_body
    {
        fill_update_mask(auto, body, &mut message)?;
    }
    Ok(message)
}

/// Builds the upstream request for a route whose body is a `google.api.HttpBody`
/// ([`CompiledRoute::raw_request`]): the body bytes go into its `data` as they are and the
/// request's `content_type` into its `content_type`; the path and the query as for JSON.
pub(crate) fn build_raw_request(
    route: &CompiledRoute,
    raw: &RawBody,
    segments: &[&str],
    query: Option<&str>,
    content_type: &str,
    data: Bytes,
) -> Result<DynamicMessage, GatewayError> {
    let mut message = DynamicMessage::new(route.input.clone());
    raw.fill(&mut message, content_type, data);
    apply_path(route, segments, &mut message)?;
    if !matches!(route.body, CompiledBody::Whole)
        && let Some(query) = query
    {
        apply_query(route, query, &mut message)?;
    }
    Ok(message)
}

/// The header a reconnecting Server-Sent Events client sends with the last id it saw.
pub(crate) const LAST_EVENT_ID: &str = "last-event-id";

/// Sets the route's resume field (`gateway.v1.event_stream`'s `resume_field`) from the
/// request's `Last-Event-ID` header, parsed as a query parameter of the field's type would be.
/// Nothing happens without the header or when the route declares no resume field; a value that
/// does not parse is a 400 naming the header, and so is an empty one: it names no event, a
/// browser never sends it, and the OpenAPI document (the field's schema) does not admit it.
pub(crate) fn apply_last_event_id(
    resume: &ResumeField,
    headers: &http::HeaderMap,
    message: &mut DynamicMessage,
) -> Result<(), GatewayError> {
    let Some(value) = headers.get(LAST_EVENT_ID) else {
        return Ok(());
    };
    let invalid = |problem: String| {
        GatewayError::BadRequest(format!(
            "invalid value for header `Last-Event-ID`: {problem}"
        ))
    };
    let raw = value
        .to_str()
        .map_err(|_| invalid("it is not visible ASCII text".to_owned()))?
        .trim();
    if raw.is_empty() {
        return Err(invalid("it is empty".to_owned()));
    }
    let value = match direct_value(&resume.leaf, raw) {
        Some(value) => value,
        None => {
            let json = json_for(&resume.leaf, raw).map_err(invalid)?;
            parse_value(resume.leaf.parent_message(), &resume.leaf, json).map_err(invalid)?
        }
    };
    set_at(message, &resume.parents, &resume.leaf, value)
}

/// Sets `update_mask` to the fields present in the body when the client gave no mask.
fn fill_update_mask(
    auto: &AutoUpdateMask,
    body: &[u8],
    message: &mut DynamicMessage,
) -> Result<(), GatewayError> {
    let given = message
        .get_field(&auto.field)
        .as_message()
        .and_then(|mask| mask.get_field_by_name("paths"))
        .is_some_and(|paths| paths.as_list().is_some_and(|list| !list.is_empty()));
    if given {
        return Ok(());
    }
    // The body already parsed once as the body message, so it is valid JSON here.
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::BadRequest(format!("invalid JSON body: {e}")))?;
    let mut paths = Vec::new();
    collect_mask_paths(&auto.body, &json, "", &mut paths);
    let mut mask = DynamicMessage::new(auto.mask.clone());
    mask.set_field_by_name(
        "paths",
        Value::List(paths.into_iter().map(Value::String).collect()),
    );
    message.set_field(&auto.field, Value::Message(mask));
    Ok(())
}

/// The proto-name paths of the fields present in `json`, descending into sub-messages (not into
/// maps or well-known types, which are replaced whole).
fn collect_mask_paths(
    desc: &MessageDescriptor,
    json: &serde_json::Value,
    prefix: &str,
    out: &mut Vec<String>,
) {
    let Some(object) = json.as_object() else {
        return;
    };
    for (key, value) in object {
        let Some(field) = desc
            .get_field_by_json_name(key)
            .or_else(|| desc.get_field_by_name(key))
        else {
            continue;
        };
        let path = format!("{prefix}{}", field.name());
        match field.kind() {
            Kind::Message(sub)
                if value.is_object()
                    && !field.is_map()
                    && !field.is_list()
                    && !sub.full_name().starts_with("google.protobuf.") =>
            {
                collect_mask_paths(&sub, value, &format!("{path}."), out);
            }
            _ => out.push(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_segment_decoding_keeps_encoded_slashes() {
        assert_eq!(
            decode_keeping_slashes("a%2Fb/c%20d").expect("test input is valid"),
            "a%2Fb/c d"
        );
        assert_eq!(
            decode_keeping_slashes("a%2fb").expect("test input is valid"),
            "a%2fb"
        );
        assert_eq!(
            decode_keeping_slashes("100%").expect("test input is valid"),
            "100%"
        );
        assert_eq!(
            decode_keeping_slashes("%41%zz").expect("test input is valid"),
            "A%zz"
        );
    }

    #[test]
    fn query_components() {
        assert_eq!(
            decode_query_component("a+b%2Bc").expect("test input is valid"),
            "a b+c"
        );
    }
}
