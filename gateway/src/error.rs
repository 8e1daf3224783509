//! The crate's one error type and its single mapping to an HTTP response.
//!
//! Every error the gateway answers with, whether produced locally (bad JSON, unknown route,
//! body too large) or returned by an upstream, leaves as a JSON `google.rpc.Status`
//! (`{"code": <grpc code number>, "message": "...", "details": [...]}`) with the HTTP status from
//! [`http_status`], the gRPC -> HTTP table of ARCHITECTURE.md.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tonic::Code;

use crate::metadata::copy_metadata;

/// Everything that can go wrong while starting the gateway or serving a request.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is invalid (bad upstream URI, bad flag value, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The descriptor set or a route of the table does not resolve (start-up only).
    #[error("route table does not resolve: {0}")]
    Routes(String),
    /// The request is malformed: bad JSON, a wrong type, a path or query value that does not
    /// parse. The message names the field or parameter.
    #[error("{0}")]
    BadRequest(String),
    /// No route matches the path.
    #[error("no route for {method} {path}")]
    NotFound {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// The path is known but not for this method; `allow` lists the methods that are.
    #[error("method {method} not allowed for {path}")]
    MethodNotAllowed {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
        /// The methods the path accepts, for the `Allow` header.
        allow: Vec<&'static str>,
    },
    /// The request body exceeds the configured limit.
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// No upstream is configured for the service, or it cannot be reached.
    #[error("upstream {0} is unavailable")]
    UpstreamUnavailable(String),
    /// Discovery found no healthy instance of the service.
    #[error("no healthy instance of upstream {0}")]
    NoHealthyInstance(String),
    /// The gateway is serving as many requests as it may (`GatewayConfig::max_in_flight`):
    /// this one is refused at once (503 with `Retry-After`) rather than queued.
    #[error("the gateway is overloaded ({limit} requests in flight); retry later")]
    Overloaded {
        /// The configured limit.
        limit: usize,
    },
    /// The per-request deadline passed before the upstream answered.
    #[error("deadline exceeded after {0:?}")]
    DeadlineExceeded(std::time::Duration),
    /// The upstream answered with a non-OK gRPC status.
    #[error("upstream status {}: {}", .status.code(), .status.message())]
    Upstream {
        /// The status as received.
        status: tonic::Status,
        /// Its `google.rpc.Status` details rendered as JSON (`Any` with `@type`).
        details: Vec<serde_json::Value>,
    },
    /// The request broke `buf.validate` rules, found before any upstream call: INVALID_ARGUMENT
    /// with a `google.rpc.BadRequest` detail, exactly as [`proto_validate::Violations::to_status`]
    /// answers from a service.
    #[error("{}", .0.summary())]
    Invalid(proto_validate::Violations),
    /// A gateway-side failure that is not the client's fault (the text is logged, not sent).
    #[error("internal error: {0}")]
    Internal(String),
    /// One call of a composite route failed: answered as that failure, its message prefixed
    /// with the part's response field (`user: ...`).
    #[error("{part}: {source}")]
    Part {
        /// The composite response field the failed call was to fill.
        part: String,
        /// The call's failure.
        #[source]
        source: Box<GatewayError>,
    },
}

/// The HTTP status for a gRPC code: the gRPC -> HTTP table of ARCHITECTURE.md, in the one
/// place every answer (local or upstream) takes its status from.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // 499 is nginx's "client closed request"; it is a valid status code number.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Upstream codes whose message may carry server internals: clients get a generic text.
fn hides_message(code: Code) -> bool {
    matches!(code, Code::Unknown | Code::Internal | Code::DataLoss)
}

/// The generic text sent instead of an internal upstream message.
const INTERNAL_MESSAGE: &str = "internal error";

impl GatewayError {
    /// The gRPC code this error is reported as.
    pub fn code(&self) -> Code {
        match self {
            GatewayError::BadRequest(_) | GatewayError::Invalid(_) => Code::InvalidArgument,
            GatewayError::NotFound { .. } => Code::NotFound,
            GatewayError::MethodNotAllowed { .. } => Code::Unimplemented,
            GatewayError::PayloadTooLarge { .. } => Code::ResourceExhausted,
            GatewayError::UpstreamUnavailable(_)
            | GatewayError::NoHealthyInstance(_)
            | GatewayError::Overloaded { .. } => Code::Unavailable,
            GatewayError::DeadlineExceeded(_) => Code::DeadlineExceeded,
            GatewayError::Upstream { status, .. } => status.code(),
            GatewayError::Part { source, .. } => source.code(),
            GatewayError::Config(_) | GatewayError::Routes(_) | GatewayError::Internal(_) => {
                Code::Internal
            }
        }
    }

    /// The HTTP status: [`http_status`] of [`Self::code`], except for the gateway-side cases
    /// that HTTP has a more precise answer for (405, 413).
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::Part { source, .. } => source.status(),
            other => http_status(other.code()),
        }
    }

    /// The message sent to the client: never an internal upstream or gateway text.
    pub fn client_message(&self) -> String {
        match self {
            GatewayError::Upstream { status, .. } if hides_message(status.code()) => {
                INTERNAL_MESSAGE.to_owned()
            }
            GatewayError::Upstream { status, .. } => status.message().to_owned(),
            GatewayError::Config(_) | GatewayError::Routes(_) | GatewayError::Internal(_) => {
                INTERNAL_MESSAGE.to_owned()
            }
            GatewayError::Part { part, source } => format!("{part}: {}", source.client_message()),
            other => other.to_string(),
        }
    }
}

/// A `google.rpc.Status` as JSON, fields in the proto's order.
#[derive(Debug, serde::Serialize)]
pub(crate) struct StatusBody<'a> {
    code: i32,
    message: &'a str,
    details: &'a [serde_json::Value],
}

/// A `google.rpc.Status` JSON body.
pub(crate) fn status_body<'a>(
    code: Code,
    message: &'a str,
    details: &'a [serde_json::Value],
) -> StatusBody<'a> {
    StatusBody {
        code: code as i32,
        message,
        details,
    }
}

/// The type URL of a `google.rpc.BadRequest` detail.
const BAD_REQUEST_TYPE_URL: &str = "type.googleapis.com/google.rpc.BadRequest";

/// The `google.rpc` detail messages, from tonic-types' own descriptor set, decoded once.
fn rpc_pool() -> Option<&'static prost_reflect::DescriptorPool> {
    static POOL: std::sync::OnceLock<Option<prost_reflect::DescriptorPool>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        prost_reflect::DescriptorPool::decode(tonic_types::pb::FILE_DESCRIPTOR_SET).ok()
    })
    .as_ref()
}

/// One detail (a `google.protobuf.Any`: `type_url` and the encoded `value`) as JSON: the
/// message's JSON with `@type` when `pool` knows the type, else
/// `{"@type": ..., "value": <base64>}`, so a client sees every detail the upstream sent.
fn detail_json(
    type_url: String,
    value: &[u8],
    pool: Option<&prost_reflect::DescriptorPool>,
) -> serde_json::Value {
    use base64::Engine as _;
    let name = type_url.rsplit('/').next().unwrap_or_default();
    let known = pool
        .and_then(|pool| pool.get_message_by_name(name))
        // The standard `google.rpc` details (BadRequest, ErrorInfo, ...) are known even when
        // the API's own descriptors do not import them.
        .or_else(|| rpc_pool().and_then(|pool| pool.get_message_by_name(name)))
        .and_then(|desc| prost_reflect::DynamicMessage::decode(desc, value).ok())
        .and_then(|message| {
            message
                .serialize_with_options(
                    serde_json::value::Serializer,
                    &prost_reflect::SerializeOptions::new(),
                )
                .ok()
        });
    match known {
        Some(serde_json::Value::Object(fields)) => {
            let mut object = serde_json::Map::with_capacity(fields.len() + 1);
            object.insert("@type".into(), type_url.into());
            object.extend(fields);
            serde_json::Value::Object(object)
        }
        // Well-known types with a non-object JSON form.
        Some(json) => serde_json::json!({ "@type": type_url, "value": json }),
        None => serde_json::json!({
            "@type": type_url,
            "value": base64::engine::general_purpose::STANDARD.encode(value),
        }),
    }
}

impl GatewayError {
    /// An upstream status, its details decoded with `pool` where the types are known. Details
    /// of codes whose message is hidden (INTERNAL, UNKNOWN, DATA_LOSS) are dropped too.
    ///
    /// The details are read from `grpc-status-details-bin` as tonic-types' `google.rpc.Status`
    /// rather than through `StatusExt`'s typed accessors, which keep only the standard
    /// `google.rpc` detail types: an application's own detail messages must come through too.
    /// Details that do not decode are dropped, never the error itself.
    pub fn upstream(status: tonic::Status, pool: Option<&prost_reflect::DescriptorPool>) -> Self {
        use prost::Message as _;
        let details = if status.details().is_empty() || hides_message(status.code()) {
            Vec::new()
        } else {
            tonic_types::pb::Status::decode(status.details())
                .map(|decoded| {
                    decoded
                        .details
                        .into_iter()
                        .map(|any| detail_json(any.type_url, &any.value, pool))
                        .collect()
                })
                .unwrap_or_default()
        };
        GatewayError::Upstream { status, details }
    }

    /// The `google.rpc.Status` details sent with this error (an upstream's, decoded; a failed
    /// validation's `google.rpc.BadRequest`, rendered by the same code as an upstream's).
    pub(crate) fn details(&self) -> std::borrow::Cow<'_, [serde_json::Value]> {
        use std::borrow::Cow;
        match self {
            GatewayError::Upstream { details, .. } => Cow::Borrowed(details),
            GatewayError::Part { source, .. } => source.details(),
            GatewayError::Invalid(violations) => {
                use prost::Message as _;
                Cow::Owned(vec![detail_json(
                    BAD_REQUEST_TYPE_URL.to_owned(),
                    &violations.bad_request().encode_to_vec(),
                    None,
                )])
            }
            _ => Cow::Borrowed(&[]),
        }
    }

    /// The upstream status behind this error, if an upstream answered.
    pub(crate) fn upstream_status(&self) -> Option<&tonic::Status> {
        match self {
            GatewayError::Upstream { status, .. } => Some(status),
            GatewayError::Part { source, .. } => source.upstream_status(),
            _ => None,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "request rejected");
        }
        let message = self.client_message();
        let body = serde_json::to_string(&status_body(self.code(), &message, &self.details()))
            .unwrap_or_else(|_| {
                String::from(r#"{"code":13,"message":"internal error","details":[]}"#)
            });
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let GatewayError::MethodNotAllowed { allow, .. } = &self
            && let Ok(value) = HeaderValue::from_str(&allow.join(", "))
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        if let Some(status) = self.upstream_status() {
            copy_metadata(status.metadata(), response.headers_mut());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_design() {
        let table = [
            (Code::Ok, 200),
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::OutOfRange, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::ResourceExhausted, 429),
            (Code::Cancelled, 499),
            (Code::Unimplemented, 501),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::Unknown, 500),
            (Code::Internal, 500),
            (Code::DataLoss, 500),
        ];
        for (code, http) in table {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }

    #[test]
    fn internal_messages_are_hidden() {
        let err = GatewayError::upstream(tonic::Status::internal("db password wrong"), None);
        assert_eq!(err.client_message(), "internal error");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let err = GatewayError::upstream(tonic::Status::not_found("user 7 not found"), None);
        assert_eq!(err.client_message(), "user 7 not found");
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn upstream_details_become_any_json() {
        use prost::Message as _;
        use prost_reflect::prost_types::Any;
        use tonic_types::{ErrorDetail, ErrorInfo, StatusExt as _};

        // A standard detail as tonic-types encodes it, rendered from a pool that knows it.
        let status = tonic::Status::with_error_details_vec(
            Code::FailedPrecondition,
            "no",
            [ErrorDetail::from(ErrorInfo::new(
                "STOCK",
                "shop",
                std::collections::HashMap::new(),
            ))],
        );
        let pool = prost_reflect::DescriptorPool::decode(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .expect("tonic-types ships a valid descriptor set");
        let err = GatewayError::upstream(status.clone(), Some(&pool));
        assert_eq!(
            *err.details(),
            [serde_json::json!({
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "STOCK",
                "domain": "shop",
            })]
        );
        // The standard `google.rpc` types are known without a pool that imports them.
        let err = GatewayError::upstream(status, None);
        assert_eq!(err.details()[0]["reason"], "STOCK");
        // A type nobody knows: kept, its bytes as base64.
        let unknown = tonic_types::pb::Status {
            code: Code::Aborted as i32,
            message: String::new(),
            details: vec![Any {
                type_url: "type.googleapis.com/acme.v1.Unknown".into(),
                value: vec![8, 1],
            }],
        }
        .encode_to_vec();
        let status = tonic::Status::with_details(Code::Aborted, "x", unknown.into());
        let err = GatewayError::upstream(status, None);
        let detail = &err.details()[0];
        assert_eq!(detail["@type"], "type.googleapis.com/acme.v1.Unknown");
        assert!(detail["value"].is_string(), "{detail}");
        // A well-known type with a non-object JSON form.
        let details = tonic_types::pb::Status {
            code: Code::Aborted as i32,
            message: String::new(),
            details: vec![Any {
                type_url: "type.googleapis.com/google.protobuf.Duration".into(),
                value: prost_reflect::prost_types::Duration {
                    seconds: 1,
                    nanos: 0,
                }
                .encode_to_vec(),
            }],
        }
        .encode_to_vec();
        let status = tonic::Status::with_details(Code::Aborted, "x", details.into());
        let global = prost_reflect::DescriptorPool::global();
        let err = GatewayError::upstream(status, Some(&global));
        assert_eq!(
            *err.details(),
            [serde_json::json!({
                "@type": "type.googleapis.com/google.protobuf.Duration",
                "value": "1s",
            })]
        );
        // Details that are not a `google.rpc.Status`: dropped, the error kept.
        let status = tonic::Status::with_details(Code::Aborted, "x", vec![0xff].into());
        let err = GatewayError::upstream(status, None);
        assert!(err.details().is_empty());
        assert_eq!(err.code(), Code::Aborted);
    }

    #[test]
    fn gateway_side_statuses() {
        let err = GatewayError::MethodNotAllowed {
            method: "PUT".into(),
            path: "/x".into(),
            allow: vec!["GET"],
        };
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            GatewayError::PayloadTooLarge { limit: 1 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            GatewayError::BadRequest("x".into()).status(),
            StatusCode::BAD_REQUEST
        );
    }
}
