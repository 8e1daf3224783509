//! The gateway's configuration, independent of how it was given (flags, env, tests).

use std::time::Duration;

use crate::upstream::Upstreams;

/// Default maximum request body size: 4 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Default per-request deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Field names in JSON responses (input always accepts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonNames {
    /// Proto field names (`user_id`): the default, as the seed's responses use.
    #[default]
    Proto,
    /// lowerCamelCase JSON names (`userId`), or the field's `json_name`.
    Camel,
}

/// Everything [`crate::app`] needs besides the route table and descriptors.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Channels to the upstream gRPC services, by service name.
    pub upstreams: Upstreams,
    /// Maximum request body size in bytes; larger bodies get 413.
    pub body_limit: usize,
    /// Per-request deadline; a smaller client `Grpc-Timeout` wins. Exceeded: 504.
    pub timeout: Duration,
    /// Origins allowed by CORS (`*` for any); empty disables CORS.
    pub cors_origins: Vec<String>,
    /// Field names in responses.
    pub json_names: JsonNames,
    /// Write fields holding their default value (`0`, `""`, `false`, `[]`) in responses.
    /// Default `true`: every declared field is always present, which is what typed clients
    /// generated from the OpenAPI document expect (grpc-gateway v2's default too).
    pub emit_unpopulated: bool,
    /// The OpenAPI document (JSON) served at `/openapi.json` and shown by Swagger UI at `/docs`.
    pub openapi_json: Option<&'static str>,
    /// The same document as YAML, served at `/openapi.yaml`.
    pub openapi_yaml: Option<&'static str>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            upstreams: Upstreams::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            timeout: DEFAULT_TIMEOUT,
            cors_origins: Vec::new(),
            json_names: JsonNames::Proto,
            emit_unpopulated: true,
            openapi_json: None,
            openapi_yaml: None,
        }
    }
}
