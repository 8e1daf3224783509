//! The discovery seam: a logical service name (`users-service`) in, a load-balanced tonic
//! [`Channel`] out.
//!
//! Two backends: [`StaticDiscovery`] (names map to fixed lists of URIs from flags or env, the
//! single-machine default) and [`ConsulDiscovery`] (chosen when `CONSUL_HTTP_ADDR` is set: each
//! name's channel follows Consul's passing instances). Callers only ever see
//! [`Discovery::channel`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

use crate::consul::{ConsulClient, WatchOptions, WatchStatus, spawn_watch};
use crate::failover::Instances;

/// Discovery failures. These are configuration problems, reported at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// No backend knows the name.
    #[error("no addresses configured for service `{0}`")]
    UnknownService(String),
    /// A name was configured with an empty address list.
    #[error("service `{0}` has no addresses")]
    NoAddresses(String),
    /// An address is not a valid URI.
    #[error("invalid address `{address}` for service `{service}`: {source}")]
    InvalidAddress {
        /// The service the address belongs to.
        service: String,
        /// The address as given.
        address: String,
        /// Why it was rejected.
        #[source]
        source: tonic::transport::Error,
    },
}

/// How channels connect to upstream instances.
#[derive(Debug, Clone, Copy)]
pub struct ChannelOptions {
    /// Longest time to open a TCP/HTTP2 connection to one instance.
    pub connect_timeout: Duration,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// Finds upstream services by logical name.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// A fixed table of names to addresses.
    Static(StaticDiscovery),
    /// Consul's passing instances, watched per name.
    Consul(ConsulDiscovery),
}

impl Discovery {
    /// A channel balancing over the instances of `service`. Cheap: channels are built once and
    /// cloned. With Consul the first call for a name starts its watch (inside a tokio runtime).
    pub fn channel(&self, service: &str) -> Result<Channel, DiscoveryError> {
        match self {
            Self::Static(table) => table.channel(service),
            Self::Consul(consul) => Ok(consul.channel(service)),
        }
    }

    /// The instances behind [`Discovery::channel`]'s channel for `service`: run calls through
    /// [`Instances::call`] so that a call that never reached an instance is retried on another
    /// and a dead instance leaves the balancer at its first refused connection (the rule is in
    /// [`crate::failover`]).
    pub fn instances(&self, service: &str) -> Result<Instances, DiscoveryError> {
        match self {
            Self::Static(table) => table.instances(service),
            Self::Consul(consul) => Ok(consul.instances(service)),
        }
    }

    /// The live status of `service`'s watch (Consul), to tell "no healthy instance" apart from
    /// "slow instance" without waiting for a deadline; `None` for static discovery, whose
    /// addresses are fixed.
    pub fn watch_status(&self, service: &str) -> Option<watch::Receiver<WatchStatus>> {
        match self {
            Self::Static(_) => None,
            Self::Consul(consul) => Some(consul.watch_status(service)),
        }
    }

    /// What each Consul watch knows (endpoints, whether Consul answers), by name; empty for
    /// static discovery.
    pub fn status(&self) -> Vec<WatchStatus> {
        match self {
            Self::Static(_) => Vec::new(),
            Self::Consul(consul) => consul.status(),
        }
    }
}

/// Consul discovery: per name, a balanced channel fed by a blocking-query watch of
/// `/v1/health/service/<name>?passing`. Clones share the watches.
#[derive(Debug, Clone)]
pub struct ConsulDiscovery {
    inner: Arc<ConsulInner>,
}

/// One started watch: its channel, the instances behind it and the status it publishes.
type Watch = (Channel, Instances, watch::Receiver<WatchStatus>);

#[derive(Debug)]
struct ConsulInner {
    client: ConsulClient,
    channel_options: ChannelOptions,
    watch_options: WatchOptions,
    watches: Mutex<HashMap<String, Watch>>,
}

impl ConsulDiscovery {
    /// Discovery through the agent `client` talks to.
    pub fn new(
        client: ConsulClient,
        channel_options: ChannelOptions,
        watch_options: WatchOptions,
    ) -> Self {
        Self {
            inner: Arc::new(ConsulInner {
                client,
                channel_options,
                watch_options,
                watches: Mutex::default(),
            }),
        }
    }

    /// The channel for `service`, starting its watch on first use.
    pub fn channel(&self, service: &str) -> Channel {
        self.watch(service).0
    }

    /// The instances behind `service`'s channel (starting its watch on first use).
    pub fn instances(&self, service: &str) -> Instances {
        self.watch(service).1
    }

    /// The status of `service`'s watch (starting it on first use), to wait for changes.
    pub fn watch_status(&self, service: &str) -> watch::Receiver<WatchStatus> {
        self.watch(service).2
    }

    /// The status of every watch started so far.
    pub fn status(&self) -> Vec<WatchStatus> {
        let watches = self
            .inner
            .watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<WatchStatus> = watches
            .values()
            .map(|(_, _, status)| status.borrow().clone())
            .collect();
        all.sort_by(|a, b| a.service.cmp(&b.service));
        all
    }

    fn watch(&self, service: &str) -> Watch {
        let inner = &self.inner;
        let mut watches = inner
            .watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        watches
            .entry(service.to_owned())
            .or_insert_with(|| {
                spawn_watch(
                    inner.client.clone(),
                    service.to_owned(),
                    inner.channel_options,
                    inner.watch_options,
                )
            })
            .clone()
    }
}

/// Static discovery: one balanced, lazily connecting channel per configured name.
#[derive(Debug, Clone)]
pub struct StaticDiscovery {
    channels: HashMap<String, (Channel, Instances)>,
}

impl StaticDiscovery {
    /// Builds a channel per `(name, addresses)` entry, each balancing over its addresses
    /// (`http://host:port`). Nothing connects until the first request, so upstreams may start
    /// later. Must be called inside a tokio runtime (the balancer runs as a task).
    pub fn new<N, A>(
        table: impl IntoIterator<Item = (N, Vec<A>)>,
        options: ChannelOptions,
    ) -> Result<Self, DiscoveryError>
    where
        N: Into<String>,
        A: Into<String>,
    {
        let mut channels = HashMap::new();
        for (name, addresses) in table {
            let name = name.into();
            let endpoints = addresses
                .into_iter()
                .map(|address| {
                    let address = address.into();
                    Endpoint::from_shared(address.clone())
                        .map(|endpoint| {
                            (
                                address.clone(),
                                endpoint.connect_timeout(options.connect_timeout),
                            )
                        })
                        .map_err(|source| DiscoveryError::InvalidAddress {
                            service: name.clone(),
                            address,
                            source,
                        })
                })
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            if endpoints.is_empty() {
                return Err(DiscoveryError::NoAddresses(name));
            }
            // Room for every address now and for ejections and re-admissions later.
            let (channel, changes) =
                Channel::balance_channel::<String>(endpoints.len().saturating_mul(2).max(64));
            let instances = Instances::fixed(&name, changes, options.connect_timeout, endpoints)
                .map_err(|_| DiscoveryError::NoAddresses(name.clone()))?;
            channels.insert(name, (channel, instances));
        }
        Ok(Self { channels })
    }

    fn channel(&self, service: &str) -> Result<Channel, DiscoveryError> {
        self.instances_and_channel(service)
            .map(|(channel, _)| channel)
    }

    fn instances(&self, service: &str) -> Result<Instances, DiscoveryError> {
        self.instances_and_channel(service)
            .map(|(_, instances)| instances)
    }

    fn instances_and_channel(&self, service: &str) -> Result<(Channel, Instances), DiscoveryError> {
        self.channels
            .get(service)
            .cloned()
            .ok_or_else(|| DiscoveryError::UnknownService(service.to_owned()))
    }
}

/// Splits a comma-separated address list (`http://a:1,http://b:2`), as flags and env vars give
/// them, dropping empty entries and surrounding spaces.
pub fn split_addresses(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS_SERVICE: &str = "users-service";
    const PRODUCTS_SERVICE: &str = "products-service";

    #[test]
    fn split_addresses_trims_and_drops_empties() {
        assert_eq!(
            split_addresses(" http://a:1, ,http://b:2,"),
            vec!["http://a:1", "http://b:2"]
        );
    }

    #[tokio::test]
    async fn unknown_and_invalid_names_are_errors() {
        let discovery = Discovery::Static(
            StaticDiscovery::new(
                [(USERS_SERVICE, vec!["http://127.0.0.1:1"])],
                ChannelOptions::default(),
            )
            .expect("valid table"),
        );
        assert!(discovery.channel(USERS_SERVICE).is_ok());
        assert!(matches!(
            discovery.channel(PRODUCTS_SERVICE),
            Err(DiscoveryError::UnknownService(_))
        ));
        assert!(matches!(
            StaticDiscovery::new(
                [(USERS_SERVICE, Vec::<String>::new())],
                ChannelOptions::default()
            ),
            Err(DiscoveryError::NoAddresses(_))
        ));
        assert!(matches!(
            StaticDiscovery::new(
                [(USERS_SERVICE, vec!["not a uri"])],
                ChannelOptions::default()
            ),
            Err(DiscoveryError::InvalidAddress { .. })
        ));
    }
}
