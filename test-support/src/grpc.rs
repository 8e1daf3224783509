//! Probes for a running gRPC server: health and reflection, through real clients.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Waits (by watching `grpc.health.v1.Health/Watch` for `service`, `""` meaning the whole
/// server) until the server reports SERVING, failing after `timeout`.
pub async fn wait_until_serving(
    channel: Channel,
    service: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let watch = async {
        let mut stream = HealthClient::new(channel)
            .watch(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .context("health watch")?
            .into_inner();
        while let Some(response) = stream.next().await {
            if response.context("health watch stream")?.status() == ServingStatus::Serving {
                return Ok(());
            }
        }
        bail!("health watch ended before SERVING")
    };
    tokio::time::timeout(timeout, watch)
        .await
        .with_context(|| format!("not SERVING after {timeout:?}"))?
}

/// A channel to the server a just-started process will run on `addr`, once it accepts
/// connections and reports SERVING (the whole server), failing after `timeout`.
pub async fn connect_when_serving(
    addr: std::net::SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let channel = loop {
        match endpoint.connect().await {
            Ok(channel) => break channel,
            Err(err) if tokio::time::Instant::now() >= deadline => {
                bail!("nothing listens on {addr} after {timeout:?}: {err}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    wait_until_serving(channel.clone(), "", left).await?;
    Ok(channel)
}

/// Which reflection protocol to ask with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReflectionVersion {
    /// `grpc.reflection.v1`.
    V1,
    /// `grpc.reflection.v1alpha` (what older grpcurl versions use).
    V1Alpha,
}

/// The services a server lists through reflection (`ListServices`), sorted.
pub async fn list_services(
    channel: Channel,
    version: ReflectionVersion,
) -> anyhow::Result<Vec<String>> {
    let mut names = match version {
        ReflectionVersion::V1 => {
            use tonic_reflection::pb::v1::ServerReflectionRequest;
            use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = ServerReflectionClient::new(channel)
                .server_reflection_info(tokio_stream::once(request))
                .await?
                .into_inner();
            let response = stream.next().await.context("no reflection response")??;
            match response.message_response {
                Some(MessageResponse::ListServicesResponse(list)) => {
                    list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
                }
                other => bail!("unexpected reflection response {other:?}"),
            }
        }
        ReflectionVersion::V1Alpha => {
            use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
            use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = ServerReflectionClient::new(channel)
                .server_reflection_info(tokio_stream::once(request))
                .await?
                .into_inner();
            let response = stream.next().await.context("no reflection response")??;
            match response.message_response {
                Some(MessageResponse::ListServicesResponse(list)) => {
                    list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
                }
                other => bail!("unexpected reflection response {other:?}"),
            }
        }
    };
    names.sort();
    Ok(names)
}
