//! Service discovery for gRPC clients and servers: a logical service name in, a balanced tonic
//! channel out, and the registration that puts a server into that answer.
//!
//! Two backends behind one seam ([`Discovery`]): a static table of names to addresses (the
//! single-machine default) and Consul (chosen by `CONSUL_HTTP_ADDR`), where servers register
//! through the local agent with a gRPC health check and clients follow the passing instances
//! with blocking queries. The gateway runtime and the shop's services both use it; it knows no
//! service of its own.

mod args;
mod channel;

pub mod failover;

pub mod consul;

pub use args::{AdvertiseArgs, ConsulArgs};
pub use channel::{
    ChannelOptions, ConsulDiscovery, Discovery, DiscoveryError, StaticDiscovery, split_addresses,
};
pub use consul::{ConsulClient, ConsulError, Registration, RegistrationHandle};
pub use failover::{Instances, Retry};
