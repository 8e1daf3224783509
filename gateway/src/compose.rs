//! Composite routes (`gateway.v1.compose`, see `docs/composite.md`): one HTTP request answered
//! by several upstream calls, all started at once over the shared call path, under the same
//! deadline and with the same forwarded headers, their answers merged into one response
//! message.
//!
//! The parts are independent by construction (each request is built from the composite request
//! alone), so running them concurrently makes the route as slow as its slowest part rather than
//! the sum of them.

use std::sync::Arc;

use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::metadata::MetadataMap;

use crate::call::Call;
use crate::error::GatewayError;
use crate::metadata::Deadline;
use crate::metrics::UpstreamSeries;
use crate::route::CompiledPart;

/// What a composite route's calls produced: the merged `output` message and each answering
/// part's response metadata (in part order), for the handler to write like any other answer.
#[derive(Debug)]
pub(crate) struct Composed {
    /// The composite response message, every answering part's field filled.
    pub message: DynamicMessage,
    /// The response metadata of the parts that answered.
    pub metadata: Vec<MetadataMap>,
}

/// Calls every part of a composite route at once and waits for all of them. An `optional` part
/// answering NOT_FOUND is left out of the response; any other failure fails the whole request
/// as [`GatewayError::Part`], naming the field it was to fill. `metrics` are the parts' series,
/// in part order (empty when metrics are off).
pub(crate) async fn call_parts(
    output: &MessageDescriptor,
    parts: &[CompiledPart],
    metrics: &[Arc<UpstreamSeries>],
    request: &DynamicMessage,
    forwarded: &MetadataMap,
    deadline: &Deadline<'_>,
) -> Result<Composed, GatewayError> {
    let calls = parts.iter().enumerate().map(|(i, part)| {
        Call::to_part(part)
            .observed(metrics.get(i).map(|m| &**m))
            .unary(part.request(request), forwarded.clone(), deadline)
    });
    let results = futures::future::join_all(calls).await;
    let mut message = DynamicMessage::new(output.clone());
    let mut metadata = Vec::with_capacity(parts.len());
    for (part, result) in parts.iter().zip(results) {
        match result {
            Ok(response) => {
                let (part_metadata, response, _) = response.into_parts();
                part.fill(&mut message, response);
                metadata.push(part_metadata);
            }
            Err(GatewayError::Upstream { status, .. })
                if part.spec.optional && status.code() == tonic::Code::NotFound => {}
            Err(error) => {
                return Err(GatewayError::Part {
                    part: part.spec.field.to_string(),
                    source: Box::new(error),
                });
            }
        }
    }
    Ok(Composed { message, metadata })
}
