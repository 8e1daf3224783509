//! The health watch: one task per service name, long-polling
//! `/v1/health/service/<name>?passing` and turning each change of the passing set into
//! insert/remove events for a balanced tonic channel, so clients holding the channel never
//! rebuild. When Consul is unreachable the last known endpoints stay in place.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

use super::ConsulClient;
use crate::channel::ChannelOptions;
use crate::failover::Instances;

/// How the watch polls Consul.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// How long Consul may hold a blocking query (`wait`).
    pub wait: Duration,
    /// First delay after a failed query; doubles per failure up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest delay between retries while Consul is unreachable.
    pub max_backoff: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(30),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Whether the last query to Consul worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsulState {
    /// No answer yet.
    Starting,
    /// The last query succeeded.
    Reachable,
    /// The last query failed; the channel keeps the last known endpoints.
    Unreachable {
        /// The last error.
        error: String,
        /// How many queries failed in a row.
        failures: u32,
    },
}

/// What a watch knows about one service, for logs and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchStatus {
    /// The logical service name.
    pub service: String,
    /// The endpoints (`host:port`) the channel balances over now.
    pub endpoints: BTreeSet<String>,
    /// Whether Consul answers.
    pub consul: ConsulState,
    /// The last `X-Consul-Index` seen.
    pub index: u64,
}

impl WatchStatus {
    /// Consul has answered at least once and the passing set is empty: a call now could only
    /// wait for its deadline, so callers fail fast instead (no healthy instance).
    pub fn has_no_instances(&self) -> bool {
        self.consul != ConsulState::Starting && self.endpoints.is_empty()
    }
}

/// Starts the watch for `service`: returns the balanced channel it feeds, the instances behind
/// it (which also eject dead ones between Consul's checks) and the status it publishes. The task ends when every clone of the channel is dropped. Must run inside a
/// tokio runtime.
pub(crate) fn spawn_watch(
    client: ConsulClient,
    service: String,
    channel_options: ChannelOptions,
    options: WatchOptions,
) -> (Channel, Instances, watch::Receiver<WatchStatus>) {
    // Room for a whole change set (inserts and removes) without blocking the watch.
    let (channel, changes) = Channel::balance_channel::<String>(1024);
    let instances = Instances::new(&service, changes, channel_options.connect_timeout);
    let (status_tx, status_rx) = watch::channel(WatchStatus {
        service: service.clone(),
        endpoints: BTreeSet::new(),
        consul: ConsulState::Starting,
        index: 0,
    });
    tokio::spawn(run(
        client,
        service,
        channel_options,
        options,
        instances.clone(),
        status_tx,
    ));
    (channel, instances, status_rx)
}

async fn run(
    client: ConsulClient,
    service: String,
    channel_options: ChannelOptions,
    options: WatchOptions,
    instances: Instances,
    status: watch::Sender<WatchStatus>,
) {
    let mut index: Option<u64> = None;
    let mut failures: u32 = 0;
    loop {
        let started = Instant::now();
        let answer = tokio::select! {
            () = instances.closed() => {
                tracing::debug!(service, "channel dropped: stopping the Consul watch");
                return;
            }
            answer = client.passing_instances(&service, index, options.wait) => answer,
        };
        match answer {
            Ok((entries, new_index)) => {
                if failures > 0 {
                    tracing::info!(service, after_failures = failures, "Consul reachable again");
                }
                failures = 0;
                // Consul's documented rules: an index that goes backwards (a restarted agent)
                // restarts the watch from scratch; an index of 0 is never used to block.
                index = match index {
                    Some(previous) if new_index < previous => Some(0),
                    _ => Some(new_index),
                }
                .map(|i| i.max(1));
                let wanted: BTreeSet<String> =
                    entries.iter().map(super::ServiceEntry::authority).collect();
                let current = status.borrow().endpoints.clone();
                if instances
                    .update(endpoints(&wanted, channel_options))
                    .await
                    .is_err()
                {
                    return;
                }
                if current != wanted {
                    tracing::info!(
                        service,
                        endpoints = ?wanted,
                        index = new_index,
                        "passing instances changed"
                    );
                }
                status.send_modify(|s| {
                    s.endpoints = wanted;
                    s.consul = ConsulState::Reachable;
                    s.index = new_index;
                });
                // A blocking query that returns at once with nothing new would spin: Consul
                // asks clients to rate-limit.
                if current == status.borrow().endpoints
                    && started.elapsed() < Duration::from_millis(50)
                    && index.is_some_and(|i| i > 1)
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                let endpoints = status.borrow().endpoints.len();
                if failures == 1 {
                    tracing::warn!(
                        service,
                        error = %err,
                        endpoints,
                        "Consul unreachable: keeping the last known endpoints"
                    );
                } else {
                    tracing::debug!(service, error = %err, failures, "Consul still unreachable");
                }
                status.send_modify(|s| {
                    s.consul = ConsulState::Unreachable {
                        error: err.to_string(),
                        failures,
                    };
                });
                let exponent = failures.saturating_sub(1).min(16);
                let delay = options
                    .min_backoff
                    .saturating_mul(1 << exponent)
                    .min(options.max_backoff);
                tokio::select! {
                    () = instances.closed() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// The endpoints for the `host:port` keys in `wanted`, skipping (and logging) invalid ones.
fn endpoints(wanted: &BTreeSet<String>, options: ChannelOptions) -> BTreeMap<String, Endpoint> {
    wanted
        .iter()
        .filter_map(|key| match Endpoint::from_shared(format!("http://{key}")) {
            Ok(endpoint) => Some((key.clone(), endpoint.connect_timeout(options.connect_timeout))),
            Err(err) => {
                tracing::warn!(endpoint = key, error = %err, "ignoring an invalid address from Consul");
                None
            }
        })
        .collect()
}
