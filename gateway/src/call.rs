//! The one path every upstream call takes, unary or server-streaming, a plain route's or a
//! composite route's part: the channel looked up (503 at once when there is none), the
//! request's forwarded metadata and the deadline attached, readiness awaited, the whole bounded by the
//! request's deadline, and a failed call mapped to a [`GatewayError`] in one place.
//!
//! Only the last step, which tonic method sends the message (or the stream of messages of a
//! client or bidirectional stream), differs between the kinds of call.

use std::future::Future;
use std::time::Instant;

use futures::Stream;
use http::uri::PathAndQuery;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::CancellationHandle;
use tonic::Streaming;
use tonic::client::Grpc;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;

use crate::codec::DynamicCodec;
use crate::error::GatewayError;
use crate::metadata::Deadline;
use crate::metrics::UpstreamSeries;
use crate::route::{CompiledPart, CompiledRoute};
use crate::upstream::Upstream;
use discovery::Retry;

/// Largest upstream response message accepted (tonic's default of 4 MB is below what a 4 MiB
/// JSON body can round-trip to).
const MAX_RESPONSE_MESSAGE: usize = 64 * 1024 * 1024;

/// Where one call goes: borrowed from the compiled route or part, so preparing a call
/// allocates nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    upstream: Option<&'a Upstream>,
    service: &'static str,
    path: &'a PathAndQuery,
    output: &'a MessageDescriptor,
    /// Which failures a unary or server-streaming call is retried on another instance after:
    /// a GET (safe by HTTP's rules, and a `get`/`list` by AIP-131/132) also after a lost
    /// connection; everything else only when it was never sent.
    retry: Retry,
    /// Where the call's outcome and latency are counted; `None` when metrics are off.
    metrics: Option<&'a UpstreamSeries>,
}

impl<'a> Call<'a> {
    /// The call a plain (not composite) route makes.
    pub(crate) fn to_route(route: &'a CompiledRoute) -> Self {
        Call {
            upstream: route.upstream.as_ref(),
            service: &route.spec.grpc_service,
            path: &route.grpc_path,
            output: &route.output,
            retry: if route.spec.http_method.eq_ignore_ascii_case("GET") {
                Retry::Idempotent
            } else {
                Retry::NeverSent
            },
            metrics: None,
        }
    }

    /// The call one part of a composite route makes.
    pub(crate) fn to_part(part: &'a CompiledPart) -> Self {
        Call {
            upstream: part.upstream.as_ref(),
            service: &part.spec.grpc_service,
            path: &part.grpc_path,
            output: &part.output,
            retry: Retry::NeverSent,
            metrics: None,
        }
    }

    /// This call, counted in `metrics` (when given): one count per call (its retries on other
    /// instances included) by the status it ended with, and its latency. A streaming call
    /// counts when its response starts.
    pub(crate) fn observed(mut self, metrics: Option<&'a UpstreamSeries>) -> Self {
        self.metrics = metrics;
        self
    }

    /// When a measured call starts (`None` when the call is not observed).
    fn started(&self) -> Option<Instant> {
        self.metrics.map(|_| Instant::now())
    }

    /// Counts the `outcome` of a call that started at `started` ([`Self::started`]): the one
    /// place both paths are measured.
    ///
    /// A start/record pair rather than a wrapper taking the call's future: an `async fn`
    /// holding a future by value stores it twice in its own state (the argument and the
    /// awaited value), which doubled this path's future to 6 KiB, copied on every request.
    fn record<T>(&self, started: Option<Instant>, outcome: &Result<T, GatewayError>) {
        if let (Some(metrics), Some(started)) = (self.metrics, started) {
            let code = outcome
                .as_ref()
                .map_or_else(GatewayError::code, |_| tonic::Code::Ok);
            metrics.record(code, started.elapsed());
        }
    }

    /// A unary call: one message back, with the upstream's response metadata.
    pub(crate) async fn unary(
        self,
        message: DynamicMessage,
        metadata: MetadataMap,
        deadline: &Deadline<'_>,
    ) -> Result<tonic::Response<DynamicMessage>, GatewayError> {
        self.send_replayable(
            message,
            metadata,
            deadline,
            |mut grpc, request, path, codec| async move { grpc.unary(request, path, codec).await },
        )
        .await
    }

    /// A server-streaming call. The deadline bounds the wait for the stream to start; the
    /// messages after that are bounded by the upstream, which got the deadline as
    /// `grpc-timeout`.
    pub(crate) async fn server_streaming(
        self,
        message: DynamicMessage,
        metadata: MetadataMap,
        deadline: &Deadline<'_>,
    ) -> Result<tonic::Response<Streaming<DynamicMessage>>, GatewayError> {
        self.send_replayable(
            message,
            metadata,
            deadline,
            |mut grpc, request, path, codec| async move {
                grpc.server_streaming(request, path, codec).await
            },
        )
        .await
    }

    /// A client-streaming call: `messages` are sent as they come (the stream ending closes the
    /// request), one message back. `cancel` aborts the call with RST_STREAM, so that an upstream
    /// never takes a stream cut short (say, at a malformed message) for a complete one.
    pub(crate) async fn client_streaming<S>(
        self,
        messages: S,
        cancel: CancellationHandle,
        metadata: MetadataMap,
        deadline: &Deadline<'_>,
    ) -> Result<tonic::Response<DynamicMessage>, GatewayError>
    where
        S: Stream<Item = DynamicMessage> + Send + 'static,
    {
        let placeholder = DynamicMessage::new(self.output.clone());
        self.send(
            placeholder,
            metadata,
            deadline,
            |mut grpc, request, path, codec| async move {
                grpc.client_streaming(streaming_request(request, messages, cancel), path, codec)
                    .await
            },
        )
        .await
    }

    /// A bidirectional call: `messages` are sent as they come while the response streams back.
    /// The deadline bounds the wait for the response to start, as for [`Self::server_streaming`];
    /// `cancel` as for [`Self::client_streaming`].
    pub(crate) async fn bidi_streaming<S>(
        self,
        messages: S,
        cancel: CancellationHandle,
        metadata: MetadataMap,
        deadline: &Deadline<'_>,
    ) -> Result<tonic::Response<Streaming<DynamicMessage>>, GatewayError>
    where
        S: Stream<Item = DynamicMessage> + Send + 'static,
    {
        let placeholder = DynamicMessage::new(self.output.clone());
        self.send(
            placeholder,
            metadata,
            deadline,
            |mut grpc, request, path, codec| async move {
                grpc.streaming(streaming_request(request, messages, cancel), path, codec)
                    .await
            },
        )
        .await
    }

    /// The shared call path; `rpc` sends the prepared request on the ready client. The client
    /// is handed over by value so that `rpc` can be a plain closure returning its future.
    async fn send<T, F, Fut>(
        self,
        message: DynamicMessage,
        metadata: MetadataMap,
        deadline: &Deadline<'_>,
        rpc: F,
    ) -> Result<tonic::Response<T>, GatewayError>
    where
        F: FnOnce(Grpc<Channel>, tonic::Request<DynamicMessage>, PathAndQuery, DynamicCodec) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = self.started();
        let outcome = self.send_once(message, metadata, deadline, rpc).await;
        self.record(started, &outcome);
        outcome
    }

    /// [`Self::send`] without the metrics.
    async fn send_once<T, F, Fut>(
        self,
        message: DynamicMessage,
        metadata: MetadataMap,
        deadline: &Deadline<'_>,
        rpc: F,
    ) -> Result<tonic::Response<T>, GatewayError>
    where
        F: FnOnce(Grpc<Channel>, tonic::Request<DynamicMessage>, PathAndQuery, DynamicCodec) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = metadata;
        deadline.apply(&mut request);
        let channel = self
            .upstream
            .ok_or_else(|| GatewayError::UpstreamUnavailable(self.service.to_owned()))?
            .channel_for_call(self.service)?;
        let mut grpc = Grpc::new(channel).max_decoding_message_size(MAX_RESPONSE_MESSAGE);
        let codec = DynamicCodec::new(self.output.clone());
        let work = async {
            grpc.ready()
                .await
                .map_err(|_| GatewayError::UpstreamUnavailable(self.service.to_owned()))?;
            rpc(grpc, request, self.path.clone(), codec)
                .await
                .map_err(|status| upstream_error(self.service, self.output, status, deadline))
        };
        tokio::time::timeout(deadline.remaining(), work)
            .await
            .map_err(|_| GatewayError::DeadlineExceeded(deadline.budget()))?
    }
}

impl Call<'_> {
    /// The call path of a call whose one request message can be sent again: each attempt
    /// rebuilds the request (metadata, what is left of the deadline) and goes through the
    /// upstream's failover ([`discovery::Instances::call`]), which tries another instance when
    /// the request never reached one, or, for a GET, when its connection was lost. The
    /// deadline bounds every attempt together.
    async fn send_replayable<T, F, Fut>(
        self,
        message: DynamicMessage,
        metadata: MetadataMap,
        deadline: &Deadline<'_>,
        rpc: F,
    ) -> Result<tonic::Response<T>, GatewayError>
    where
        F: Fn(Grpc<Channel>, tonic::Request<DynamicMessage>, PathAndQuery, DynamicCodec) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = self.started();
        let outcome = self.replay(message, metadata, deadline, rpc).await;
        self.record(started, &outcome);
        outcome
    }

    /// [`Self::send_replayable`] without the metrics.
    async fn replay<T, F, Fut>(
        self,
        message: DynamicMessage,
        metadata: MetadataMap,
        deadline: &Deadline<'_>,
        rpc: F,
    ) -> Result<tonic::Response<T>, GatewayError>
    where
        F: Fn(Grpc<Channel>, tonic::Request<DynamicMessage>, PathAndQuery, DynamicCodec) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let upstream = self
            .upstream
            .ok_or_else(|| GatewayError::UpstreamUnavailable(self.service.to_owned()))?;
        let channel = upstream.channel_for_call(self.service)?;
        let attempt = || {
            let mut request = tonic::Request::new(message.clone());
            *request.metadata_mut() = metadata.clone();
            deadline.apply(&mut request);
            let mut grpc =
                Grpc::new(channel.clone()).max_decoding_message_size(MAX_RESPONSE_MESSAGE);
            let codec = DynamicCodec::new(self.output.clone());
            let rpc = &rpc;
            async move {
                grpc.ready()
                    .await
                    .map_err(|err| tonic::Status::from_error(err.into()))?;
                rpc(grpc, request, self.path.clone(), codec).await
            }
        };
        let work = async {
            upstream
                .call(self.retry, attempt)
                .await
                .map_err(|status| upstream_error(self.service, self.output, status, deadline))
        };
        tokio::time::timeout(deadline.remaining(), work)
            .await
            .map_err(|_| GatewayError::DeadlineExceeded(deadline.budget()))?
    }
}

/// The prepared unary `request` (metadata and deadline set by [`Call::send`]) carrying
/// `messages` instead of its placeholder message, cancellable through `cancel`.
fn streaming_request<S>(
    request: tonic::Request<DynamicMessage>,
    messages: S,
    cancel: CancellationHandle,
) -> tonic::Request<S> {
    let mut request = request.map(|_placeholder| messages);
    request.extensions_mut().insert(cancel);
    request
}

/// Maps a failed call: transport failures (no answer from the upstream) are 503; an upstream
/// that gave up because the propagated deadline passed (tonic servers answer CANCELLED then)
/// is 504; everything else the upstream answered keeps its code, its details decoded with the
/// descriptors of the method's own pool.
fn upstream_error(
    service: &str,
    output: &MessageDescriptor,
    status: tonic::Status,
    deadline: &Deadline<'_>,
) -> GatewayError {
    use std::error::Error as _;
    if matches!(
        status.code(),
        tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
    ) && deadline.passed()
    {
        GatewayError::DeadlineExceeded(deadline.budget())
    } else if status.source().is_some()
        && matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown
        )
    {
        // Raised by the client transport, not answered by the upstream: a connection that
        // failed or was torn down under the call (an upstream shutting down answers with
        // GOAWAY, which surfaces as CANCELLED) means the upstream is not there.
        tracing::warn!(service, error = %status, "upstream unreachable");
        GatewayError::UpstreamUnavailable(service.to_owned())
    } else {
        GatewayError::upstream(status, Some(output.parent_pool()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderMap;

    use super::*;
    use crate::metadata::DefaultTimeout;

    #[test]
    fn transport_failures_are_unavailable_and_answers_keep_their_code() {
        let output = prost_reflect::DescriptorPool::global()
            .get_message_by_name("google.protobuf.Empty")
            .expect("the global pool holds the well-known types");
        let timeout = DefaultTimeout::new(Duration::from_secs(60));
        let deadline = timeout.deadline(&HeaderMap::new());
        let map = |status| upstream_error("s.v1.S", &output, status, &deadline);
        // Raised by the client transport (a source is attached): the upstream is not there.
        let torn_down = tonic::Status::from_error(Box::new(std::io::Error::other("gone")));
        assert!(matches!(
            map(torn_down),
            GatewayError::UpstreamUnavailable(service) if service == "s.v1.S"
        ));
        // Answered by the upstream: kept.
        assert_eq!(map(tonic::Status::cancelled("stop")).status().as_u16(), 499);
        assert_eq!(
            map(tonic::Status::unavailable("busy")).code(),
            tonic::Code::Unavailable
        );
        assert!(matches!(
            map(tonic::Status::unavailable("busy")),
            GatewayError::Upstream { .. }
        ));
    }

    #[test]
    fn an_upstream_cancelling_after_the_deadline_is_a_timeout() {
        let output = prost_reflect::DescriptorPool::global()
            .get_message_by_name("google.protobuf.Empty")
            .expect("the global pool holds the well-known types");
        let timeout = DefaultTimeout::new(Duration::ZERO);
        let deadline = timeout.deadline(&HeaderMap::new());
        assert!(matches!(
            upstream_error("s.v1.S", &output, tonic::Status::cancelled("late"), &deadline),
            GatewayError::DeadlineExceeded(budget) if budget == Duration::ZERO
        ));
    }
}
