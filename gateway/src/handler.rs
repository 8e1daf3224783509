//! The axum handler behind every generated route: match the request to a route, read the body,
//! build the request message, dispatch it (a unary call, a server stream, or a composite
//! route's parts), and write the answer.
//!
//! It only sequences the steps; each lives in its own module: [`crate::matcher`] (routing),
//! [`crate::transcode`] (JSON <-> protobuf), [`crate::metadata`] (deadline, headers <->
//! metadata), [`crate::call`] (the upstream call path), [`crate::compose`] (composite routes)
//! and [`crate::error`] (every failure, mapped once to HTTP).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost_reflect::DynamicMessage;
use tonic::metadata::MetadataMap;

use crate::call::Call;
use crate::compose;
use crate::error::GatewayError;
use crate::matcher::{MatchOutcome, Matcher};
use crate::metadata::{DefaultTimeout, Forwarding, copy_metadata};
use crate::route::CompiledRoute;
use crate::transcode::request::build_request;
use crate::transcode::response::ResponseEncoder;

/// The compiled table and the per-request settings, shared by every request.
#[derive(Debug)]
pub(crate) struct Gateway {
    /// Every route of the table, resolved; indexed by the matcher's answers.
    pub routes: Vec<CompiledRoute>,
    /// Finds the route for a method and path.
    pub matcher: Matcher,
    /// Writes response messages as JSON with the configured options.
    pub encoder: ResponseEncoder,
    /// The largest request body read, in bytes.
    pub body_limit: usize,
    /// The configured deadline, its `grpc-timeout` value precomputed.
    pub timeout: DefaultTimeout,
    /// Which request headers go upstream as metadata.
    pub forwarding: Forwarding,
}

/// The axum handler for every path not served by a fixed route.
pub(crate) async fn handle(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    match gateway.serve(request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// A 200 answer: `body` as `content_type`, with the upstream response `metadata` as
/// `Grpc-Metadata-*` headers.
fn ok_response(content_type: &'static str, body: Body, metadata: &[MetadataMap]) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for metadata in metadata {
        copy_metadata(metadata, headers);
    }
    response
}

impl Gateway {
    /// The whole request body, refused with 413 before reading when the declared length is
    /// over the limit and while reading when the sent bytes are (a client may not declare it).
    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, GatewayError> {
        let too_large = GatewayError::PayloadTooLarge {
            limit: self.body_limit,
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.body_limit as u64) {
            return Err(too_large);
        }
        match Limited::new(body, self.body_limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large),
            Err(e) => Err(GatewayError::BadRequest(format!(
                "cannot read the request body: {e}"
            ))),
        }
    }

    /// The JSON answer for a response `message` of `route`.
    fn json_response(
        &self,
        route: &CompiledRoute,
        message: &DynamicMessage,
        metadata: &[MetadataMap],
    ) -> Result<Response, GatewayError> {
        let body = self.encoder.encode(message, route.response_body.as_ref())?;
        Ok(ok_response("application/json", Body::from(body), metadata))
    }

    /// One request, from match to answer; every failure returns as a [`GatewayError`], which
    /// [`handle`] renders.
    async fn serve(&self, request: Request) -> Result<Response, GatewayError> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        let (route, segments) = match self.matcher.find(parts.method.as_str(), path) {
            MatchOutcome::Found { index, segments } => (&self.routes[index], segments),
            MatchOutcome::MethodNotAllowed(allow) => {
                return Err(GatewayError::MethodNotAllowed {
                    method: parts.method.to_string(),
                    path: path.to_owned(),
                    allow,
                });
            }
            MatchOutcome::NotFound => {
                return Err(GatewayError::NotFound {
                    method: parts.method.to_string(),
                    path: path.to_owned(),
                });
            }
        };
        let body = self.read_body(&parts.headers, body).await?;
        let message = build_request(route, &segments, parts.uri.query(), &body)?;

        let headers = &parts.headers;
        let deadline = self.timeout.deadline(headers);
        let forwarded = self.forwarding.metadata(headers);
        if let Some(compose) = &route.compose {
            let composed =
                compose::call_parts(&route.output, compose, &message, &forwarded, &deadline)
                    .await?;
            return self.json_response(route, &composed.message, &composed.metadata);
        }
        let call = Call::to_route(route);
        if route.spec.server_streaming {
            let (metadata, stream, _) = call
                .server_streaming(message, forwarded, &deadline)
                .await?
                .into_parts();
            let body = self
                .encoder
                .encode_stream(stream, route.response_body.clone());
            return Ok(ok_response("application/x-ndjson", body, &[metadata]));
        }
        let (metadata, message, _) = call
            .unary(message, forwarded, &deadline)
            .await?
            .into_parts();
        self.json_response(route, &message, &[metadata])
    }
}
