//! The upstream seam: hands out a tonic [`Channel`] per gRPC service name.
//!
//! Today the table is static (`--upstream users.v1.UserService=http://127.0.0.1:50051`); the
//! discovery issue fills the same type from Consul with balanced channels. Channels are created
//! once (lazily connecting) and cloned per request, so requests share connections.

use std::collections::BTreeMap;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::error::GatewayError;

/// How long a connection attempt to an upstream may take before the request fails with 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A `service=uri` pair from the command line or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// Fully qualified gRPC service name (`users.v1.UserService`).
    pub service: String,
    /// The address, e.g. `http://127.0.0.1:50051`.
    pub uri: String,
}

impl std::str::FromStr for UpstreamSpec {
    type Err = GatewayError;

    /// Parses `service=uri`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (service, uri) = s.split_once('=').ok_or_else(|| {
            GatewayError::Config(format!("upstream `{s}` is not of the form service=uri"))
        })?;
        let (service, uri) = (service.trim(), uri.trim());
        if service.is_empty() || uri.is_empty() {
            return Err(GatewayError::Config(format!(
                "upstream `{s}` is not of the form service=uri"
            )));
        }
        Endpoint::from_shared(uri.to_owned()).map_err(|e| {
            GatewayError::Config(format!("upstream `{service}`: bad URI `{uri}`: {e}"))
        })?;
        Ok(UpstreamSpec {
            service: service.to_owned(),
            uri: uri.to_owned(),
        })
    }
}

/// The channels to the upstream services, by fully qualified gRPC service name.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    channels: BTreeMap<String, Channel>,
}

impl Upstreams {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lazily connecting channels for static addresses. Must run inside a tokio runtime.
    pub fn from_static<'a>(
        specs: impl IntoIterator<Item = &'a UpstreamSpec>,
    ) -> Result<Self, GatewayError> {
        let mut upstreams = Upstreams::new();
        for spec in specs {
            let endpoint = Endpoint::from_shared(spec.uri.clone())
                .map_err(|e| {
                    GatewayError::Config(format!(
                        "upstream `{}`: bad URI `{}`: {e}",
                        spec.service, spec.uri
                    ))
                })?
                .connect_timeout(CONNECT_TIMEOUT);
            upstreams.insert(spec.service.clone(), endpoint.connect_lazy());
        }
        Ok(upstreams)
    }

    /// Adds (or replaces) the channel for `service`.
    pub fn insert(&mut self, service: impl Into<String>, channel: Channel) {
        self.channels.insert(service.into(), channel);
    }

    /// The channel for `service`, if one is configured.
    pub fn channel(&self, service: &str) -> Option<Channel> {
        self.channels.get(service).cloned()
    }

    /// Every configured service and its channel, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Channel)> {
        self.channels
            .iter()
            .map(|(name, channel)| (name.as_str(), channel))
    }

    /// Whether no upstream is configured.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_service_equals_uri() {
        let spec: UpstreamSpec = "users.v1.UserService=http://127.0.0.1:50051"
            .parse()
            .expect("test input is valid");
        assert_eq!(spec.service, "users.v1.UserService");
        assert_eq!(spec.uri, "http://127.0.0.1:50051");
        assert!("no-equals".parse::<UpstreamSpec>().is_err());
        assert!("a=".parse::<UpstreamSpec>().is_err());
        assert!("a=not a uri".parse::<UpstreamSpec>().is_err());
    }
}
