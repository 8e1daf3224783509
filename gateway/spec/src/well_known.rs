//! The protobuf well-known types with a JSON form of their own (proto3 JSON mapping), classified
//! once for the generator (OpenAPI schemas, which fields a path or query value may set) and the
//! runtime (which fields it parses from a path or query string).

/// How a well-known type is written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnownJson {
    /// A single string or scalar (`Timestamp` as RFC 3339, `Duration` as `"1.5s"`, `FieldMask`
    /// as `"a,b.c"`, the wrappers as their value): a path or query value can set it.
    Scalar,
    /// A JSON object, array or any value (`Struct`, `Value`, `ListValue`, `Any`, `Empty`): only a
    /// body can carry it.
    Structured,
}

/// The JSON form of the message named `full_name` (`google.protobuf.Timestamp`), or `None` when
/// it is an ordinary message (a JSON object of its fields).
pub fn well_known_json(full_name: &str) -> Option<WellKnownJson> {
    match full_name {
        "google.protobuf.Timestamp"
        | "google.protobuf.Duration"
        | "google.protobuf.FieldMask"
        | "google.protobuf.DoubleValue"
        | "google.protobuf.FloatValue"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.Int32Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => Some(WellKnownJson::Scalar),
        "google.protobuf.Struct"
        | "google.protobuf.Value"
        | "google.protobuf.ListValue"
        | "google.protobuf.Any"
        | "google.protobuf.Empty" => Some(WellKnownJson::Structured),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_scalars_structures_and_ordinary_messages() {
        assert_eq!(
            well_known_json("google.protobuf.Timestamp"),
            Some(WellKnownJson::Scalar)
        );
        assert_eq!(
            well_known_json("google.protobuf.Empty"),
            Some(WellKnownJson::Structured)
        );
        assert_eq!(well_known_json("google.protobuf.Api"), None);
        assert_eq!(well_known_json("users.v1.User"), None);
    }
}
