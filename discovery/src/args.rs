//! The discovery flags every binary shares (clap): where the Consul agent is, and the address a
//! service registers under. Without an agent address everything stays static.

/// Consul flags: `--consul-http-addr` (`CONSUL_HTTP_ADDR`) and `--consul-http-token`
/// (`CONSUL_HTTP_TOKEN`), the variables the Consul CLI reads. Without an address, discovery is
/// static and nothing registers.
#[derive(Clone, clap::Args)]
pub struct ConsulArgs {
    /// Consul agent address (`http://consul:8500`). Set: register in Consul and find upstreams
    /// through it.
    #[arg(long, env = "CONSUL_HTTP_ADDR")]
    pub consul_http_addr: Option<String>,
    /// Consul ACL token, sent as `X-Consul-Token`.
    #[arg(long, env = "CONSUL_HTTP_TOKEN", hide_env_values = true)]
    pub consul_http_token: Option<String>,
}

impl std::fmt::Debug for ConsulArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulArgs")
            .field("consul_http_addr", &self.consul_http_addr)
            .field(
                "consul_http_token",
                &self.consul_http_token.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl ConsulArgs {
    /// Consul discovery when an address is given, else `None` (use the static table).
    pub fn discovery(&self) -> Result<Option<crate::Discovery>, crate::ConsulError> {
        Ok(self.client()?.map(|client| {
            crate::Discovery::Consul(crate::ConsulDiscovery::new(
                client,
                crate::ChannelOptions::default(),
                crate::consul::WatchOptions::default(),
            ))
        }))
    }

    /// The registration of a server bound to `bound` as an instance of `name` serving
    /// `grpc_service`, advertised as `advertise` says; `None` without a Consul address.
    pub fn registration(
        &self,
        advertise: &AdvertiseArgs,
        bound: std::net::SocketAddr,
        name: &str,
        grpc_service: &str,
        version: &str,
    ) -> Result<Option<crate::Registration>, crate::ConsulError> {
        let Some(client) = self.client()? else {
            return Ok(None);
        };
        let (host, port) = advertise
            .resolve(bound)
            .map_err(crate::ConsulError::Advertise)?;
        let interval = std::time::Duration::from_secs(advertise.consul_check_interval_secs.max(1));
        Ok(Some(
            crate::Registration::new(client, name, grpc_service, &host, port, version)
                .check_every(interval),
        ))
    }

    /// The Consul client, or `None` when no address is given (static mode).
    pub fn client(&self) -> Result<Option<crate::ConsulClient>, crate::ConsulError> {
        match self.consul_http_addr.as_deref().map(str::trim) {
            Some(address) if !address.is_empty() => {
                crate::ConsulClient::new(address, self.consul_http_token.clone()).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// Where other processes reach this instance: `--advertise-addr` (`ADVERTISE_ADDR`), `host` or
/// `host:port`. In containers the listen address (`0.0.0.0:50051`) is not reachable, so this is
/// what gets registered in Consul.
#[derive(Debug, Clone, clap::Args)]
pub struct AdvertiseArgs {
    /// Address registered in Consul (`users-service:50051`, or a host alone to use the bound
    /// port). Default: the listen address, unless it is a wildcard.
    #[arg(long, env = "ADVERTISE_ADDR")]
    pub advertise_addr: Option<String>,
    /// How often Consul runs this instance's gRPC health check, in seconds. A crashed instance
    /// keeps getting (failing) requests until a check fails, so this bounds failover time.
    #[arg(long, env = "CONSUL_CHECK_INTERVAL_SECS", default_value_t = 10)]
    pub consul_check_interval_secs: u64,
}

impl AdvertiseArgs {
    /// The host and port to advertise for a server bound to `bound`.
    pub fn resolve(&self, bound: std::net::SocketAddr) -> Result<(String, u16), String> {
        let Some(given) = self.advertise_addr.as_deref().map(str::trim) else {
            if bound.ip().is_unspecified() {
                return Err(format!(
                    "listening on {bound}, which others cannot dial: set ADVERTISE_ADDR (--advertise-addr) to the address they reach this instance at"
                ));
            }
            return Ok((bound.ip().to_string(), bound.port()));
        };
        if let Ok(addr) = given.parse::<std::net::SocketAddr>() {
            return Ok((addr.ip().to_string(), addr.port()));
        }
        match given.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && !host.contains(':') => port
                .parse()
                .map(|port| (host.to_owned(), port))
                .map_err(|_| format!("ADVERTISE_ADDR `{given}`: `{port}` is not a port")),
            None if !given.is_empty() => Ok((given.to_owned(), bound.port())),
            _ => Err(format!(
                "ADVERTISE_ADDR `{given}` is not host, host:port or ip:port"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_address() {
        let bound: std::net::SocketAddr = "0.0.0.0:50051".parse().expect("literal");
        let args = |a: Option<&str>| AdvertiseArgs {
            advertise_addr: a.map(str::to_owned),
            consul_check_interval_secs: 10,
        };
        assert!(args(None).resolve(bound).is_err());
        assert_eq!(
            args(None).resolve("127.0.0.1:7".parse().expect("literal")),
            Ok(("127.0.0.1".to_owned(), 7))
        );
        assert_eq!(
            args(Some("users-service:50051")).resolve(bound),
            Ok(("users-service".to_owned(), 50051))
        );
        assert_eq!(
            args(Some("users-service")).resolve(bound),
            Ok(("users-service".to_owned(), 50051))
        );
        assert!(args(Some("h:x")).resolve(bound).is_err());
    }
}
