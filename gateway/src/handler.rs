//! The axum handler behind every generated route: match the request to a route, read the body,
//! build the request message, dispatch it (a unary call, a server stream, or a composite
//! route's parts), and write the answer.
//!
//! It only sequences the steps; each lives in its own module: [`crate::matcher`] (routing),
//! [`crate::transcode`] (JSON <-> protobuf), [`crate::metadata`] (deadline, headers <->
//! metadata), [`crate::call`] (the upstream call path), [`crate::compose`] (composite routes)
//! and [`crate::error`] (every failure, mapped once to HTTP).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, header};
use http_body_util::BodyExt;
use prost_reflect::DynamicMessage;
use tonic::Streaming;
use tonic::metadata::MetadataMap;

use crate::call::Call;
use crate::compose;
use crate::config::{OVERSIZED_DRAIN_BYTES, OVERSIZED_DRAIN_TIME};
use crate::error::GatewayError;
use crate::matcher::{MatchOutcome, Matcher};
use crate::metadata::{DefaultTimeout, Forwarding, copy_metadata};
use crate::metrics::{Metrics, RouteMetrics};
use crate::middleware::InFlightLimit;
use crate::route::{CompiledRoute, RawBody};
use crate::transcode::request::{apply_last_event_id, build_raw_request, build_request};
use crate::transcode::response::ResponseEncoder;
use crate::transcode::sse::{self, StreamFormat};
use crate::transcode::stream::MessageReader;

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
    /// The deadline of server-streaming calls (`GatewayConfig::stream_timeout`).
    pub stream_timeout: DefaultTimeout,
    /// Which request headers go upstream as metadata.
    pub forwarding: Forwarding,
    /// The metrics each request records into; `None` when they are off.
    pub metrics: Option<Metrics>,
    /// The idle time after which a Server-Sent Events answer sends a heartbeat comment.
    pub sse_heartbeat: Duration,
    /// Each route's request rules (same index as `routes`), `None` for a route whose request
    /// has none or when `GatewayConfig::validate_requests` is off.
    pub validators: Vec<Option<proto_validate::MessageRules>>,
    /// How many requests may be served at once (`GatewayConfig::max_in_flight`); `None`: any.
    pub in_flight: Option<InFlightLimit>,
}

/// The axum handler for every path not served by a fixed route.
pub(crate) async fn handle(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    // Held until the answer is ready; over the limit, refused before any work.
    let _admitted = match &gateway.in_flight {
        Some(limit) => match limit.try_admit() {
            Some(admitted) => Some(admitted),
            None => {
                if let Some(metrics) = &gateway.metrics {
                    metrics.record_shed();
                }
                return limit.shed_response();
            }
        },
        None => None,
    };
    let Some(metrics) = &gateway.metrics else {
        return gateway
            .serve(request, &mut None)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    };
    let start = Instant::now();
    let method = request.method().clone();
    let mut matched = None;
    let response = gateway
        .serve(request, &mut matched)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    metrics.record_http(matched, &method, response.status(), start.elapsed());
    response
}

/// A 200 answer: `body` as `content_type`, with the upstream response `metadata` as
/// `Grpc-Metadata-*` headers.
fn ok_response(content_type: &'static str, body: Body, metadata: &[MetadataMap]) -> Response {
    ok_response_as(HeaderValue::from_static(content_type), body, metadata)
}

/// [`ok_response`] with a content type chosen at run time (a `google.api.HttpBody`'s).
fn ok_response_as(content_type: HeaderValue, body: Body, metadata: &[MetadataMap]) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    for metadata in metadata {
        copy_metadata(metadata, headers);
    }
    response
}

impl Gateway {
    /// How a server stream of `route` is framed for a request with `headers`: Server-Sent
    /// Events when `Accept` prefers them, except for a stream of `google.api.HttpBody` (raw
    /// bytes, never framed).
    fn stream_format(&self, route: &CompiledRoute, headers: &HeaderMap) -> StreamFormat {
        if route.raw_response.is_some() {
            return StreamFormat::Ndjson;
        }
        StreamFormat::negotiate(headers)
    }

    /// A server stream answered as Server-Sent Events, once the upstream call `started` (or
    /// failed to). Always a 200: a failure before the first message is the stream's only event
    /// (`event: error` with the `google.rpc.Status`), because a browser's `EventSource` cannot
    /// read the body of any other status and would only report a bare connection error.
    fn event_stream_response<S>(
        &self,
        route: &CompiledRoute,
        started: Result<(MetadataMap, S), GatewayError>,
    ) -> Response
    where
        S: futures::Stream<Item = Result<DynamicMessage, GatewayError>> + Send + 'static,
    {
        let (metadata, body) = match started {
            Ok((metadata, stream)) => {
                let body = self.encoder.encode_events(
                    stream,
                    route.response_body.clone(),
                    route.event_ids.clone(),
                    self.sse_heartbeat,
                );
                (metadata, body)
            }
            Err(error) => {
                let metadata = error
                    .upstream_status()
                    .map(|status| status.metadata().clone())
                    .unwrap_or_default();
                (metadata, Body::from(sse::error_event(&error)))
            }
        };
        let mut response = ok_response(sse::EVENT_STREAM, body, &[metadata]);
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // nginx buffers proxied answers unless told not to; events must arrive as sent.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }

    /// The whole request body, refused with 413 before reading when the declared length is
    /// over the limit and while reading when the sent bytes are (a client may not declare it).
    /// The rest of a refused HTTP/1.1 body is drained behind the answer ([`drain_oversized`]).
    async fn read_body(&self, parts: &Parts, mut body: Body) -> Result<Bytes, GatewayError> {
        let too_large = GatewayError::PayloadTooLarge {
            limit: self.body_limit,
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.body_limit as u64) {
            drain_oversized(parts, body);
            return Err(too_large);
        }
        // The first chunk is kept as it came (no copy: most bodies are one chunk); later ones
        // are appended to a buffer.
        let mut first = Bytes::new();
        let mut more = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                GatewayError::BadRequest(format!("cannot read the request body: {e}"))
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if first.len() + more.len() + data.len() > self.body_limit {
                drain_oversized(parts, body);
                return Err(too_large);
            }
            if first.is_empty() && more.is_empty() {
                first = data;
            } else {
                if more.is_empty() {
                    more.reserve(first.len() + data.len());
                    more.extend_from_slice(&first);
                }
                more.extend_from_slice(&data);
            }
        }
        Ok(if more.is_empty() {
            first
        } else {
            Bytes::from(more)
        })
    }

    /// The deadline a call of `route` gets: the stream deadline for a server stream (a feed
    /// that may stay open), the request deadline otherwise.
    fn deadline_of(&self, route: &CompiledRoute) -> &DefaultTimeout {
        if route.spec.server_streaming {
            &self.stream_timeout
        } else {
            &self.timeout
        }
    }

    /// The JSON answer for a response `message` of `route` (its raw bytes when it is a
    /// `google.api.HttpBody`).
    fn json_response(
        &self,
        route: &CompiledRoute,
        message: &DynamicMessage,
        metadata: &[MetadataMap],
    ) -> Result<Response, GatewayError> {
        if let Some(raw) = &route.raw_response {
            let (content_type, data) = raw.parts(message);
            return Ok(ok_response_as(
                raw_content_type(&content_type),
                Body::from(data),
                metadata,
            ));
        }
        let body = self.encoder.encode(message, route.response_body.as_ref())?;
        Ok(ok_response("application/json", Body::from(body), metadata))
    }

    /// Checks a request message of route `index` against its `buf.validate` rules: a broken
    /// rule answers 400 before anything goes upstream.
    fn validate(&self, index: usize, message: &DynamicMessage) -> Result<(), GatewayError> {
        match self.validators.get(index) {
            Some(Some(rules)) => rules.validate(message).map_err(GatewayError::Invalid),
            _ => Ok(()),
        }
    }

    /// One request, from match to answer; every failure returns as a [`GatewayError`], which
    /// [`handle`] renders. `matched` is set to the index of the route the request matched.
    async fn serve(
        &self,
        request: Request,
        matched: &mut Option<usize>,
    ) -> Result<Response, GatewayError> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        let (index, route, segments) = match self.matcher.find(parts.method.as_str(), path) {
            MatchOutcome::Found { index, segments } => {
                *matched = Some(index);
                (index, &self.routes[index], segments)
            }
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
        let metrics = self.metrics.as_ref().and_then(|m| m.route(index));
        if route.spec.client_streaming {
            // Boxed, like the server-streaming path below: an `async fn`'s state is as large
            // as its largest path, and these (12 KiB) would make every unary request's future
            // that large, copied whenever it moves (the router boxes it).
            return Box::pin(
                self.serve_client_stream(route, index, metrics, &segments, &parts, body),
            )
            .await;
        }
        let body = match self.read_body(&parts, body).await {
            Ok(body) => body,
            Err(error @ GatewayError::PayloadTooLarge { .. }) => {
                return Ok(close_after(parts.version, error.into_response()));
            }
            Err(error) => return Err(error),
        };
        let mut message = match &route.raw_request {
            Some(raw) => build_raw_request(
                route,
                raw,
                &segments,
                parts.uri.query(),
                request_content_type(&parts.headers),
                body,
            )?,
            None => build_request(route, &segments, parts.uri.query(), &body)?,
        };
        if let Some(resume) = &route.event_ids.resume {
            apply_last_event_id(resume, &parts.headers, &mut message)?;
        }
        self.validate(index, &message)?;

        let headers = &parts.headers;
        let deadline = self.deadline_of(route).deadline(headers);
        route
            .headers
            .check(headers)
            .map_err(GatewayError::Invalid)?;
        let forwarded = self.forwarding.metadata(headers, &route.headers);
        if let Some(compose) = &route.compose {
            let part_metrics = metrics.map(|m| m.parts.as_slice()).unwrap_or_default();
            let composed = compose::call_parts(
                &route.output,
                compose,
                part_metrics,
                &message,
                &forwarded,
                &deadline,
            )
            .await?;
            return self.json_response(route, &composed.message, &composed.metadata);
        }
        let call = Call::to_route(route).observed(metrics.map(|m| &*m.upstream));
        if route.spec.server_streaming {
            let started = Box::pin(call.server_streaming(message, forwarded, &deadline)).await;
            if let Some(raw) = &route.raw_response {
                let (metadata, stream, _) = started?.into_parts();
                return raw_stream_response(raw.clone(), stream, metadata).await;
            }
            if self.stream_format(route, headers) == StreamFormat::EventStream {
                let started = started.map(|response| {
                    let (metadata, stream, _) = response.into_parts();
                    let results = stream
                        .map(|item| item.map_err(|status| GatewayError::upstream(status, None)));
                    (metadata, results)
                });
                return Ok(self.event_stream_response(route, started));
            }
            let (metadata, stream, _) = started?.into_parts();
            let body = self
                .encoder
                .encode_stream(stream, route.response_body.clone());
            return Ok(ok_response(sse::NDJSON, body, &[metadata]));
        }
        let (metadata, message, _) = call
            .unary(message, forwarded, &deadline)
            .await?
            .into_parts();
        self.json_response(route, &message, &[metadata])
    }

    /// A client-streaming or bidirectional route: the body's messages go upstream one by one as
    /// they arrive ([`feed`]). A client stream is answered like a unary call once the upstream
    /// answers; a bidirectional one starts answering (newline-delimited JSON) as soon as the
    /// upstream does, while the request body is still coming.
    ///
    /// A message that does not parse stops the stream: nothing after it is sent, the upstream
    /// call is cancelled (RST_STREAM, so the upstream never sees a complete stream) and the
    /// answer is a 400 naming the message (for a bidirectional stream whose answer has begun,
    /// its last line).
    async fn serve_client_stream(
        &self,
        route: &CompiledRoute,
        index: usize,
        metrics: Option<&RouteMetrics>,
        segments: &[&str],
        parts: &Parts,
        body: Body,
    ) -> Result<Response, GatewayError> {
        let headers = &parts.headers;
        let deadline = self.deadline_of(route).deadline(headers);
        route
            .headers
            .check(headers)
            .map_err(GatewayError::Invalid)?;
        let forwarded = self.forwarding.metadata(headers, &route.headers);
        let reader = MessageReader::new(headers, body, self.body_limit);
        // One message in flight: the next is read from the client only once the upstream took
        // this one, so a fast client cannot make the gateway hold its stream.
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<DynamicMessage>(1);
        let messages = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        let cancel = tonic::Request::new(()).cancellation_handle();
        let failure = Arc::new(Mutex::new(None::<GatewayError>));
        let source = Source {
            route: route.clone(),
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: parts.uri.query().map(str::to_owned),
            content_type: request_content_type(headers).to_owned(),
            rules: self.validators.get(index).cloned().flatten(),
        };
        let feeding = {
            let (cancel, failure) = (cancel.clone(), failure.clone());
            async move {
                if let Err(error) = feed(source, reader, sender).await {
                    if let Ok(mut slot) = failure.lock() {
                        *slot = Some(error);
                    }
                    cancel.cancel();
                }
            }
        };
        let call = Call::to_route(route).observed(metrics.map(|m| &*m.upstream));
        if route.spec.server_streaming {
            tokio::spawn(feeding);
            let started = call
                .bidi_streaming(messages, cancel, forwarded, &deadline)
                .await;
            if let Some(error) = take(&failure) {
                return Err(error);
            }
            let started = started.map(|response| {
                let (metadata, stream, _) = response.into_parts();
                let results = stream.map(move |item| {
                    item.map_err(|status| {
                        take(&failure).unwrap_or_else(|| GatewayError::upstream(status, None))
                    })
                });
                (metadata, results)
            });
            if self.stream_format(route, headers) == StreamFormat::EventStream {
                return Ok(self.event_stream_response(route, started));
            }
            let (metadata, results) = started?;
            let body = self
                .encoder
                .encode_results(results, route.response_body.clone());
            return Ok(ok_response(sse::NDJSON, body, &[metadata]));
        }
        let answer = call.client_streaming(messages, cancel, forwarded, &deadline);
        tokio::pin!(answer);
        tokio::pin!(feeding);
        let answer = tokio::select! {
            // The upstream answered before the body ended: the rest of the body is not needed.
            answer = &mut answer => answer,
            () = &mut feeding => match take(&failure) {
                Some(error) => return Err(error),
                None => answer.await,
            },
        };
        if let Some(error) = take(&failure) {
            return Err(error);
        }
        let (metadata, message, _) = answer?.into_parts();
        self.json_response(route, &message, &[metadata])
    }
}

/// What every message of a client stream takes from the request besides its own JSON: the
/// route, the path and the query (applied to each message, as for a unary call) and the
/// content type (for `google.api.HttpBody` messages).
struct Source {
    route: CompiledRoute,
    segments: Vec<String>,
    query: Option<String>,
    content_type: String,
    /// The request rules, checked on every message: a broken one stops the stream like a
    /// message that does not parse.
    rules: Option<proto_validate::MessageRules>,
}

/// Reads the client stream's messages from `reader` and hands each to `sender` (the upstream
/// call's request stream) as soon as it is complete. Ends when the body does (closing the
/// request stream) or when the call is over; the first message that does not parse is the
/// error, named by its line or element.
async fn feed(
    source: Source,
    mut reader: MessageReader,
    sender: tokio::sync::mpsc::Sender<DynamicMessage>,
) -> Result<(), GatewayError> {
    let Source {
        route,
        segments,
        query,
        content_type,
        rules,
    } = source;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query = query.as_deref();
    loop {
        let message = match &route.raw_request {
            // A stream of `google.api.HttpBody`: one message per chunk of the body.
            Some(raw) => match reader.next_chunk().await? {
                Some(chunk) => {
                    build_raw_request(&route, raw, &segments, query, &content_type, chunk)?
                }
                None => return Ok(()),
            },
            None => match reader.next().await? {
                Some((number, json)) => {
                    build_request(&route, &segments, query, &json).map_err(|error| match error {
                        GatewayError::BadRequest(message) => {
                            GatewayError::BadRequest(format!("{}: {message}", reader.name(number)))
                        }
                        other => other,
                    })?
                }
                None => return Ok(()),
            },
        };
        if let Some(rules) = &rules {
            rules.validate(&message).map_err(GatewayError::Invalid)?;
        }
        if sender.send(message).await.is_err() {
            // The call is over (answered or failed): nothing more to send.
            return Ok(());
        }
    }
}

/// Reads and discards the rest of a request body refused with 413, in a task of its own, for
/// at most [`OVERSIZED_DRAIN_TIME`] and [`OVERSIZED_DRAIN_BYTES`] (nginx's lingering close).
///
/// Why: the answer is sent at once, but an HTTP/1.1 client that writes its whole body before
/// reading (Python's `http.client`, `requests`, many others) only reads it after writing; if
/// hyper closed the connection with the body unread (what it does when the body is dropped),
/// the kernel would answer the unread bytes with a reset and the client would see
/// `ECONNRESET`/`EPIPE` instead of the 413. While this task holds the body, hyper keeps
/// reading the connection for it; the answer carries `Connection: close`, so the connection
/// ends once the body did (or the caps were reached, when it is closed unread after all).
///
/// Not for HTTP/2 (a stream is reset on its own, `RST_STREAM(NO_ERROR)`, the connection stays
/// usable) nor for `Expect: 100-continue` (reading would make hyper send `100 Continue` and
/// invite the very body that is refused; such a client waits for the answer before sending).
fn drain_oversized(parts: &Parts, mut body: Body) {
    let expects_continue = parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if parts.version >= http::Version::HTTP_2 || expects_continue {
        return;
    }
    tokio::spawn(async move {
        let mut drained: u64 = 0;
        let draining = async {
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    drained += data.len() as u64;
                    if drained > OVERSIZED_DRAIN_BYTES {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(OVERSIZED_DRAIN_TIME, draining).await;
    });
}

/// `response` with `Connection: close` on HTTP/1.x: the connection ends after it (used for the
/// 413 whose body is being drained, as nginx does).
fn close_after(version: http::Version, mut response: Response) -> Response {
    if version < http::Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Takes the error a client stream's reader left, if any.
fn take(failure: &Mutex<Option<GatewayError>>) -> Option<GatewayError> {
    failure.lock().ok().and_then(|mut slot| slot.take())
}

/// The request's Content-Type, empty when it has none (what a `google.api.HttpBody` gets).
fn request_content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The Content-Type of a raw answer: the `google.api.HttpBody`'s, or
/// `application/octet-stream` when it sets none (or one that is no valid header value).
fn raw_content_type(content_type: &str) -> HeaderValue {
    HeaderValue::from_str(content_type)
        .ok()
        .filter(|_| !content_type.is_empty())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"))
}

/// A server stream of `google.api.HttpBody`: each message's `data` in turn, with the first
/// message's `content_type` as the Content-Type (so the answer waits for the first message). A
/// failure after that can only cut the body short.
async fn raw_stream_response(
    raw: RawBody,
    mut stream: Streaming<DynamicMessage>,
    metadata: MetadataMap,
) -> Result<Response, GatewayError> {
    let first = stream
        .message()
        .await
        .map_err(|status| GatewayError::upstream(status, None))?;
    let (content_type, data) = first
        .as_ref()
        .map(|message| raw.parts(message))
        .unwrap_or_default();
    let rest = stream.map(move |item| match item {
        Ok(message) => Ok(raw.parts(&message).1),
        Err(status) => {
            let error = GatewayError::upstream(status, None);
            tracing::warn!(%error, "stream failed");
            Err(error)
        }
    });
    let body = Body::from_stream(futures::stream::once(async move { Ok(data) }).chain(rest));
    Ok(ok_response_as(
        raw_content_type(&content_type),
        body,
        &[metadata],
    ))
}
