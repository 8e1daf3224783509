//! Stage 2, headers: the `(gateway.v1.header)` method option (`gateway/v1/headers.proto`), the
//! HTTP request headers a method reads. Each is checked here once: a name the gateway can forward
//! as gRPC metadata, not one the HTTP or gRPC transport owns, declared once per method.

use prost_reflect::{MethodDescriptor, Value};

use super::{Context, HeaderParam};

/// The method option declaring a request header.
pub(super) const HEADER: &str = "gateway.v1.header";

/// Headers a method may not declare (lower case): HTTP/1.1 hop-by-hop headers (RFC 9110 7.6.1,
/// and the legacy ones proxies still strip), headers that describe the HTTP message or the
/// connection rather than the call (the gateway writes its own upstream), and headers OpenAPI
/// describes by other means (`Accept`, `Content-Type`, `Authorization` parameters are ignored by
/// its tools). `Authorization` is forwarded on every route anyway.
const RESERVED: &[&str] = &[
    "accept",
    "accept-encoding",
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "cookie",
    "expect",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
];

impl Context {
    /// Whether `method` carries at least one `(gateway.v1.header)` option.
    pub(super) fn declares_headers(&self, method: &MethodDescriptor) -> bool {
        self.header
            .as_ref()
            .is_some_and(|ext| method.options().has_extension(ext))
    }

    /// The method's declared headers, validated, in declaration order.
    pub(super) fn headers(&self, method: &MethodDescriptor) -> Result<Vec<HeaderParam>, String> {
        let Some(ext) = &self.header else {
            return Ok(Vec::new());
        };
        let options = method.options();
        if !options.has_extension(ext) {
            return Ok(Vec::new());
        }
        let Value::List(values) = options.get_extension(ext).into_owned() else {
            return Err(format!(
                "`({HEADER})` is not a list of gateway.v1.HeaderParameter"
            ));
        };
        let mut headers: Vec<HeaderParam> = Vec::with_capacity(values.len());
        for value in values {
            let Value::Message(message) = value else {
                return Err(format!("`({HEADER})` is not a gateway.v1.HeaderParameter"));
            };
            let text = |name: &str| {
                message
                    .get_field_by_name(name)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            };
            let header = HeaderParam {
                name: text("name"),
                description: Some(text("description"))
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty()),
                required: message
                    .get_field_by_name("required")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                pattern: Some(text("pattern")).filter(|p| !p.is_empty()),
            };
            check_name(&header.name)?;
            if let Some(pattern) = &header.pattern
                && let Err(err) = regex::Regex::new(pattern)
            {
                return Err(format!(
                    "`({HEADER})` `{}`: pattern `{pattern}` does not compile: {err}",
                    header.name
                ));
            }
            if headers
                .iter()
                .any(|known| known.name.eq_ignore_ascii_case(&header.name))
            {
                return Err(format!(
                    "`({HEADER})` `{}` is declared twice (header names are case-insensitive)",
                    header.name
                ));
            }
            headers.push(header);
        }
        Ok(headers)
    }
}

/// Rejects a name that is not a header the gateway can forward as gRPC metadata of the same
/// (lower-case) name, or that belongs to the transport.
fn check_name(name: &str) -> Result<(), String> {
    let what = format!("`({HEADER})` `{name}`");
    if name.is_empty() {
        return Err(format!("`({HEADER})` needs a `name`"));
    }
    // RFC 9110 field names are tokens; gRPC metadata keys (what the header becomes upstream)
    // allow only these of the token characters.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "{what} is not a valid HTTP header name: letters, digits, `-`, `_` and `.` only (the characters of a gRPC metadata key)"
        ));
    }
    let key = name.to_ascii_lowercase();
    if key.starts_with("grpc-") {
        return Err(format!(
            "{what} is reserved: `Grpc-*` headers belong to the gRPC transport (send `Grpc-Metadata-*` headers to pass metadata through)"
        ));
    }
    if key.ends_with("-bin") {
        return Err(format!(
            "{what} is reserved: `*-Bin` names are binary gRPC metadata, which a text header cannot carry"
        ));
    }
    if RESERVED.contains(&key.as_str()) {
        return Err(format!(
            "{what} is reserved: it belongs to the HTTP message or connection (hop-by-hop, content, host, credentials), not to the call"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names() {
        for good in [
            "Idempotency-Key",
            "x-tenant",
            "X_Client.Version",
            "If-Match",
        ] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Idempotency Key",
            "x:y",
            "Ключ",
            "Content-Type",
            "HOST",
            "Connection",
            "Authorization",
            "Transfer-Encoding",
            "Grpc-Timeout",
            "grpc-metadata-tenant",
            "trace-bin",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
