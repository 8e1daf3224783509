//! A small typed client for the parts of Consul's HTTP API we use, and the two things built on
//! it: [`Registration`] (a service announcing itself to its local agent) and the health watch
//! behind [`crate::Discovery::Consul`].
//!
//! Why not `rs-consul`: it registers only through the catalog API (`/v1/catalog/register`), whose
//! checks no agent runs, so agent registration with a gRPC health check needs the plain HTTP API
//! anyway; and it logs through `slog` and brings `ureq` and `hyper-rustls`. The four endpoints
//! below are simple documented JSON, so one client over the hyper stack tonic already pulls in
//! (hyper-util's pooled client) covers them all with one HTTP stack and `tracing` logs:
//!
//! - `PUT /v1/agent/service/register`, `PUT /v1/agent/service/deregister/<id>`,
//!   `GET /v1/agent/service/<id>` (is our registration still there?)
//! - `GET /v1/health/service/<name>?passing&index=N&wait=Xs` (blocking query)

mod registration;
mod watch;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

pub use registration::{DEFAULT_CHECK_INTERVAL, Registration, RegistrationHandle};
pub(crate) use watch::spawn_watch;
pub use watch::{ConsulState, WatchOptions, WatchStatus};

/// The environment variable naming the Consul agent (`http://consul:8500`, or `host:port`).
pub const CONSUL_HTTP_ADDR: &str = "CONSUL_HTTP_ADDR";
/// The environment variable holding the Consul ACL token, sent as `X-Consul-Token`.
pub const CONSUL_HTTP_TOKEN: &str = "CONSUL_HTTP_TOKEN";

/// Longest time a non-blocking Consul request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response body we read from Consul.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Consul client failures.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// `CONSUL_HTTP_ADDR` (or the given address) is not an `http://host:port` address.
    #[error("invalid Consul address `{address}`: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request could not be sent or the response not read (Consul unreachable).
    #[error("Consul request {what} failed: {reason}")]
    Transport {
        /// Which request.
        what: String,
        /// Why.
        reason: String,
    },
    /// Consul answered with an unexpected status.
    #[error("Consul request {what} answered {status}: {body}")]
    Status {
        /// Which request.
        what: String,
        /// The HTTP status.
        status: StatusCode,
        /// The start of the response body (Consul's error text).
        body: String,
    },
    /// The address to register under (`ADVERTISE_ADDR`) cannot be used.
    #[error("{0}")]
    Advertise(String),
    /// Consul's response did not have the documented shape.
    #[error("Consul response to {what} is not as documented: {reason}")]
    Decode {
        /// Which request.
        what: String,
        /// Why.
        reason: String,
    },
}

/// Where the Consul agent is and how to authenticate.
#[derive(Clone)]
pub struct ConsulClient {
    base: String,
    token: Option<String>,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for ConsulClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: say only whether there is one.
        f.debug_struct("ConsulClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ConsulClient {
    /// A client for the agent at `address` (`http://host:port`; a bare `host:port` means
    /// http, as for the Consul CLI), sending `token` as `X-Consul-Token` when given. HTTPS is
    /// not supported: the agent is expected on the local host or network, as in our compose file.
    pub fn new(address: &str, token: Option<String>) -> Result<Self, ConsulError> {
        let invalid = |reason: &str| ConsulError::InvalidAddress {
            address: address.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = address.trim().trim_end_matches('/');
        let base = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("http://{trimmed}")
        };
        let uri: Uri = base.parse().map_err(|_| invalid("not a URI"))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid("only http:// is supported"));
        }
        if uri.host().is_none() {
            return Err(invalid("no host"));
        }
        let http = Client::builder(TokioExecutor::new()).build_http();
        Ok(Self {
            base,
            token: token.filter(|t| !t.is_empty()),
            http,
        })
    }

    /// A client from `CONSUL_HTTP_ADDR` and `CONSUL_HTTP_TOKEN`, or `None` when the address is
    /// unset or empty (static discovery, no registration).
    pub fn from_env() -> Result<Option<Self>, ConsulError> {
        match std::env::var(CONSUL_HTTP_ADDR) {
            Ok(address) if !address.trim().is_empty() => {
                Self::new(&address, std::env::var(CONSUL_HTTP_TOKEN).ok()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The agent's base URL, e.g. `http://127.0.0.1:8500`.
    pub fn address(&self) -> &str {
        &self.base
    }

    /// `PUT /v1/agent/service/register`: adds (or replaces, same ID) a service on the agent.
    pub async fn register(&self, service: &AgentServiceRegistration) -> Result<(), ConsulError> {
        let body = serde_json::to_vec(service).map_err(|e| ConsulError::Decode {
            what: "register".to_owned(),
            reason: e.to_string(),
        })?;
        let path = "/v1/agent/service/register".to_owned();
        let (status, body) = self
            .send(Method::PUT, &path, Some(body), REQUEST_TIMEOUT)
            .await?;
        expect_ok(&path, status, &body)
    }

    /// `PUT /v1/agent/service/deregister/<id>`.
    pub async fn deregister(&self, service_id: &str) -> Result<(), ConsulError> {
        let path = format!("/v1/agent/service/deregister/{}", encode(service_id));
        let (status, body) = self
            .send(Method::PUT, &path, Some(Vec::new()), REQUEST_TIMEOUT)
            .await?;
        expect_ok(&path, status, &body)
    }

    /// `GET /v1/agent/service/<id>`: whether the agent still knows the service (it forgets
    /// everything when restarted without persistent state, e.g. a dev agent).
    pub async fn agent_service_exists(&self, service_id: &str) -> Result<bool, ConsulError> {
        let path = format!("/v1/agent/service/{}", encode(service_id));
        let (status, body) = self.send(Method::GET, &path, None, REQUEST_TIMEOUT).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        expect_ok(&path, status, &body).map(|()| true)
    }

    /// `GET /v1/health/service/<name>?passing`, as a blocking query when `index` is given:
    /// Consul holds the request until the result changes past `index` or `wait` elapses.
    /// Returns the passing instances and the new `X-Consul-Index`.
    pub async fn passing_instances(
        &self,
        service: &str,
        index: Option<u64>,
        wait: Duration,
    ) -> Result<(Vec<ServiceEntry>, u64), ConsulError> {
        let mut path = format!("/v1/health/service/{}?passing=true", encode(service));
        if let Some(index) = index {
            path.push_str(&format!("&index={index}&wait={}ms", wait.as_millis()));
        }
        // Consul adds up to wait/16 of jitter to a blocking query; allow for it and the network.
        let timeout = wait + wait / 16 + REQUEST_TIMEOUT;
        let (status, body, consul_index) = self
            .send_with_index(Method::GET, &path, None, timeout)
            .await?;
        expect_ok(&path, status, &body)?;
        let entries: Vec<ServiceEntry> =
            serde_json::from_slice(&body).map_err(|e| ConsulError::Decode {
                what: path.clone(),
                reason: e.to_string(),
            })?;
        let consul_index = consul_index.ok_or_else(|| ConsulError::Decode {
            what: path,
            reason: "no X-Consul-Index header".to_owned(),
        })?;
        Ok((entries, consul_index))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), ConsulError> {
        let (status, body, _) = self.send_with_index(method, path, body, timeout).await?;
        Ok((status, body))
    }

    async fn send_with_index(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes, Option<u64>), ConsulError> {
        let transport = |reason: String| ConsulError::Transport {
            what: format!("{method} {path}"),
            reason,
        };
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("X-Consul-Token", token);
        }
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| transport(e.to_string()))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| transport(format!("{e:#}")))?;
            let status = response.status();
            let index = response
                .headers()
                .get("X-Consul-Index")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| transport(e.to_string()))?
                .to_bytes();
            Ok((status, body, index))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| transport(format!("no answer within {timeout:?}")))?
    }
}

fn expect_ok(what: &str, status: StatusCode, body: &Bytes) -> Result<(), ConsulError> {
    if status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
    Err(ConsulError::Status {
        what: what.to_owned(),
        status,
        body: text,
    })
}

/// Percent-encodes a path segment (service names and IDs are plain, but IDs contain the
/// advertised host, which we do not control).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The body of `PUT /v1/agent/service/register`, in Consul's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentServiceRegistration {
    /// Unique instance ID (`users-service-<host>-<port>`).
    #[serde(rename = "ID")]
    pub id: String,
    /// Logical service name (`users-service`).
    pub name: String,
    /// The address other processes reach this instance at.
    pub address: String,
    /// The port other processes reach this instance at.
    pub port: u16,
    /// Free-form tags (we add `v<version>`).
    pub tags: Vec<String>,
    /// Key/value metadata (we add `version`).
    pub meta: BTreeMap<String, String>,
    /// The health check the agent runs.
    pub check: AgentServiceCheck,
}

/// A gRPC health check as the agent runs it (`grpc.health.v1.Health/Check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentServiceCheck {
    /// `host:port/<grpc service name>`.
    #[serde(rename = "GRPC")]
    pub grpc: String,
    /// Whether the check uses TLS (ours do not).
    #[serde(rename = "GRPCUseTLS")]
    pub grpc_use_tls: bool,
    /// How often the agent checks (`10s`).
    pub interval: String,
    /// How long one check may take (`2s`).
    pub timeout: String,
    /// How long a critical instance stays registered before the agent removes it (`30s`).
    pub deregister_critical_service_after: String,
}

/// One element of `/v1/health/service/<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceEntry {
    /// The node the instance runs on.
    pub node: Node,
    /// The instance.
    pub service: AgentService,
}

/// The node part of a health entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    /// The node's address, used when the service has none of its own.
    #[serde(default)]
    pub address: String,
}

/// The service part of a health entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentService {
    /// Instance ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Service name.
    #[serde(default)]
    pub service: String,
    /// The instance's address; empty means "the node's address".
    #[serde(default)]
    pub address: String,
    /// The instance's port.
    pub port: u16,
}

impl ServiceEntry {
    /// `host:port` to dial, following Consul's rule that an empty service address means the
    /// node's address. IPv6 literals are bracketed.
    pub fn authority(&self) -> String {
        let host = if self.service.address.is_empty() {
            &self.node.address
        } else {
            &self.service.address
        };
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.service.port)
        } else {
            format!("{host}:{}", self.service.port)
        }
    }
}

/// Formats a duration the way Consul parses it (Go's `time.ParseDuration`): `10s`, `500ms`.
pub(crate) fn go_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            ConsulClient::new("127.0.0.1:8500", None)
                .expect("bare host:port is http")
                .address(),
            "http://127.0.0.1:8500"
        );
        assert_eq!(
            ConsulClient::new("http://consul:8500/", Some(String::new()))
                .expect("valid")
                .address(),
            "http://consul:8500"
        );
        assert!(ConsulClient::new("https://consul:8501", None).is_err());
        assert!(ConsulClient::new("http://bad host", None).is_err());
    }

    #[test]
    fn registration_uses_consul_field_names() {
        let registration = AgentServiceRegistration {
            id: "users-service-h-1".into(),
            name: "users-service".into(),
            address: "h".into(),
            port: 1,
            tags: vec!["v0.1.0".into()],
            meta: BTreeMap::from([("version".into(), "0.1.0".into())]),
            check: AgentServiceCheck {
                grpc: "h:1/users.v1.UserService".into(),
                grpc_use_tls: false,
                interval: "10s".into(),
                timeout: "2s".into(),
                deregister_critical_service_after: "30s".into(),
            },
        };
        let json = serde_json::to_value(&registration).expect("serializable");
        assert_eq!(json["ID"], "users-service-h-1");
        assert_eq!(json["Name"], "users-service");
        assert_eq!(json["Check"]["GRPC"], "h:1/users.v1.UserService");
        assert_eq!(json["Check"]["DeregisterCriticalServiceAfter"], "30s");
    }

    #[test]
    fn authority_falls_back_to_the_node_address() {
        let entry: ServiceEntry = serde_json::from_value(serde_json::json!({
            "Node": {"Node": "n1", "Address": "10.0.0.1"},
            "Service": {"ID": "a", "Service": "s", "Address": "", "Port": 7},
            "Checks": []
        }))
        .expect("documented shape");
        assert_eq!(entry.authority(), "10.0.0.1:7");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
    }
}
