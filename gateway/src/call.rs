//! The one path every upstream call takes, unary or server-streaming, a plain route's or a
//! composite route's part: the channel looked up (503 at once when there is none), the
//! request's forwarded metadata and the deadline attached, readiness awaited, the whole bounded by the
//! request's deadline, and a failed call mapped to a [`GatewayError`] in one place.
//!
//! Only the last step, which tonic method sends the message, differs between the kinds of call.

use std::future::Future;

use http::uri::PathAndQuery;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::Streaming;
use tonic::client::Grpc;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;

use crate::codec::DynamicCodec;
use crate::error::GatewayError;
use crate::metadata::Deadline;
use crate::route::{CompiledPart, CompiledRoute};
use crate::upstream::Upstream;

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
}

impl<'a> Call<'a> {
    /// The call a plain (not composite) route makes.
    pub(crate) fn to_route(route: &'a CompiledRoute) -> Self {
        Call {
            upstream: route.upstream.as_ref(),
            service: &route.spec.grpc_service,
            path: &route.grpc_path,
            output: &route.output,
        }
    }

    /// The call one part of a composite route makes.
    pub(crate) fn to_part(part: &'a CompiledPart) -> Self {
        Call {
            upstream: part.upstream.as_ref(),
            service: &part.spec.grpc_service,
            path: &part.grpc_path,
            output: &part.output,
        }
    }

    /// A unary call: one message back, with the upstream's response metadata.
    pub(crate) async fn unary(
        self,
        message: DynamicMessage,
        metadata: MetadataMap,
        deadline: &Deadline<'_>,
    ) -> Result<tonic::Response<DynamicMessage>, GatewayError> {
        self.send(
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
        self.send(
            message,
            metadata,
            deadline,
            |mut grpc, request, path, codec| async move {
                grpc.server_streaming(request, path, codec).await
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
