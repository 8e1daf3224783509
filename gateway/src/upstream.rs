//! The upstream seam: hands out a tonic [`Channel`] per gRPC service name.
//!
//! Each service maps to a static address (`--upstream users.v1.UserService=http://127.0.0.1:50051`)
//! or to a Consul service name (`--upstream users.v1.UserService=consul://users-service`), whose
//! balanced channel follows Consul's passing instances ([`discovery::Discovery`]). Channels are
//! created once (lazily connecting) and cloned per request, so requests share connections.

use std::collections::BTreeMap;
use std::time::Duration;

use discovery::consul::WatchStatus;
use discovery::{Discovery, Instances, Retry};
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

use crate::error::GatewayError;

/// The scheme naming a Consul service instead of an address: `consul://users-service`.
pub const CONSUL_SCHEME: &str = "consul://";

/// How long a connection attempt to an upstream may take before the request fails with 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A `service=uri` pair from the command line or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// Fully qualified gRPC service name (`users.v1.UserService`).
    pub service: String,
    /// The address, e.g. `http://127.0.0.1:50051`, or `consul://<name>` to follow Consul's
    /// passing instances of `<name>`.
    pub uri: String,
}

impl UpstreamSpec {
    /// The Consul service name when the URI is `consul://<name>`.
    pub fn consul_name(&self) -> Option<&str> {
        self.uri.strip_prefix(CONSUL_SCHEME)
    }
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
        match uri.strip_prefix(CONSUL_SCHEME) {
            Some(name) => {
                if name.is_empty() || name.contains(['/', '?', ' ']) {
                    return Err(GatewayError::Config(format!(
                        "upstream `{service}`: `{uri}` is not consul://<service name>"
                    )));
                }
            }
            None => {
                Endpoint::from_shared(uri.to_owned()).map_err(|e| {
                    GatewayError::Config(format!("upstream `{service}`: bad URI `{uri}`: {e}"))
                })?;
            }
        }
        Ok(UpstreamSpec {
            service: service.to_owned(),
            uri: uri.to_owned(),
        })
    }
}

/// One upstream service: the balanced channel to call, and, when discovery feeds it, what
/// discovery knows about its instances.
#[derive(Debug, Clone)]
pub struct Upstream {
    channel: Channel,
    instances: Option<watch::Receiver<WatchStatus>>,
    /// The instances behind a discovered channel: a call that never reached one is retried on
    /// another, and a dead one leaves the balancer at its first refused connection. `None` for
    /// a plain channel, which has one address and nowhere else to go.
    failover: Option<Instances>,
}

impl Upstream {
    /// A channel with no discovery status (static addresses).
    pub fn new(channel: Channel) -> Self {
        Self {
            channel,
            instances: None,
            failover: None,
        }
    }

    /// Runs one call's `attempt`s under the failover rule ([`discovery::failover`]): retried on
    /// another instance as `retry` allows. A plain channel makes one attempt.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        retry: Retry,
        mut attempt: F,
    ) -> Result<T, tonic::Status>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        match &self.failover {
            Some(instances) => instances.call(retry, attempt).await,
            None => attempt().await,
        }
    }

    /// The channel for a call, or 503 at once when discovery knows there is no healthy
    /// instance: a balanced channel with no endpoints would otherwise hold the request until
    /// its deadline and answer 504.
    pub(crate) fn channel_for_call(&self, service: &str) -> Result<Channel, GatewayError> {
        match &self.instances {
            Some(status) if status.borrow().has_no_instances() => {
                Err(GatewayError::NoHealthyInstance(service.to_owned()))
            }
            _ => Ok(self.channel.clone()),
        }
    }
}

/// The channels to the upstream services, by fully qualified gRPC service name.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    channels: BTreeMap<String, Upstream>,
    /// The discovery backend behind `consul://` upstreams, kept for its status (`/readyz`).
    discovery: Option<Discovery>,
}

impl Upstreams {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lazily connecting channels for static addresses. Must run inside a tokio runtime.
    /// A `consul://` spec is an error here: use [`Upstreams::resolve`].
    pub fn from_static<'a>(
        specs: impl IntoIterator<Item = &'a UpstreamSpec>,
    ) -> Result<Self, GatewayError> {
        Self::resolve(specs, None)
    }

    /// Channels for `specs`: static addresses directly, `consul://<name>` through `discovery`
    /// (required when any spec uses it). Must run inside a tokio runtime.
    pub fn resolve<'a>(
        specs: impl IntoIterator<Item = &'a UpstreamSpec>,
        discovery: Option<&Discovery>,
    ) -> Result<Self, GatewayError> {
        let mut upstreams = Upstreams::new();
        for spec in specs {
            if let Some(name) = spec.consul_name() {
                let discovery = discovery.ok_or_else(|| {
                    GatewayError::Config(format!(
                        "upstream `{}` uses {}, but CONSUL_HTTP_ADDR is not set",
                        spec.service, spec.uri
                    ))
                })?;
                upstreams.discover(spec.service.clone(), name, discovery)?;
                continue;
            }
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

    /// Routes `service` to the instances `discovery` finds under `name` (e.g. Consul's passing
    /// `users-service` instances), and reports that backend's state in `/readyz`.
    pub fn discover(
        &mut self,
        service: impl Into<String>,
        name: &str,
        discovery: &Discovery,
    ) -> Result<(), GatewayError> {
        let channel = discovery
            .channel(name)
            .map_err(|e| GatewayError::Config(e.to_string()))?;
        let upstream = Upstream {
            channel,
            instances: discovery.watch_status(name),
            failover: discovery.instances(name).ok(),
        };
        self.channels.insert(service.into(), upstream);
        self.discovery = Some(discovery.clone());
        Ok(())
    }

    /// What discovery knows per watched name (endpoints, whether Consul answers); empty for
    /// static upstreams.
    pub fn discovery_status(&self) -> Vec<WatchStatus> {
        self.discovery
            .as_ref()
            .map(Discovery::status)
            .unwrap_or_default()
    }

    /// Adds (or replaces) the channel for `service`.
    pub fn insert(&mut self, service: impl Into<String>, channel: Channel) {
        self.channels.insert(service.into(), Upstream::new(channel));
    }

    /// The channel for `service`, if one is configured.
    pub fn channel(&self, service: &str) -> Option<Channel> {
        self.channels.get(service).map(|u| u.channel.clone())
    }

    /// The upstream for `service` (channel and discovery status), if one is configured.
    pub fn upstream(&self, service: &str) -> Option<Upstream> {
        self.channels.get(service).cloned()
    }

    /// Every configured service and its channel, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Channel)> {
        self.channels
            .iter()
            .map(|(name, upstream)| (name.as_str(), &upstream.channel))
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
        let consul: UpstreamSpec = "users.v1.UserService=consul://users-service"
            .parse()
            .expect("consul:// names a service");
        assert_eq!(consul.consul_name(), Some("users-service"));
        assert!("a=consul://".parse::<UpstreamSpec>().is_err());
        assert!(Upstreams::from_static([&consul]).is_err());
    }
}
