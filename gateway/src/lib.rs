//! The REST/JSON gateway: serves the routes generated from `google.api.http` annotations,
//! transcodes JSON to protobuf and back, and calls the upstream gRPC services.
//!
//! [`app`] turns a route table ([`spec::RouteSpec`], written by the generator) and the
//! descriptor set it came from into an axum [`Router`]. The table usually comes from a build
//! script (`build_support::configure().compile(..)`) through [`include_routes!`]; it knows no
//! application, so the same runtime serves any set of annotated protos. Everything is resolved
//! once there; a request costs one match, one JSON parse, one upstream call on a shared channel
//! and one JSON write.
//!
//! Response JSON: proto field names by default ([`JsonNames`]), and fields holding their default
//! value are written (`emit_unpopulated`, default `true`), so every declared field is present.
//! Request bodies accept proto and lowerCamelCase names and reject unknown fields.

mod call;
mod compose;
mod docs;
mod handler;
mod health;
mod matcher;
mod metadata;
mod metrics;
mod middleware;
mod route;
mod transcode;

pub mod codec;
pub mod config;
pub mod error;
pub mod serve;
pub mod upstream;

/// The route table types (`gateway-spec`), under the path generated code names
/// (`::gateway::spec::RouteSpec`).
pub use gateway_spec as spec;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use prost_reflect::DescriptorPool;

pub use config::{GatewayConfig, JsonNames};
pub use error::GatewayError;
pub use upstream::{Upstream, UpstreamSpec, Upstreams};

/// Includes the route table a build script generated with `build_support::configure()`: a
/// `static ROUTES: &[RouteSpec]` and the `FILE_DESCRIPTOR_SET` they resolve in, to hand to
/// [`descriptor_pool`] and [`app`]. Use it inside a module of its own:
///
/// ```ignore
/// mod routes {
///     gateway::include_routes!();
/// }
/// let pool = gateway::descriptor_pool(routes::FILE_DESCRIPTOR_SET)?;
/// let router = gateway::app(config, routes::ROUTES, &pool)?;
/// ```
#[macro_export]
macro_rules! include_routes {
    () => {
        include!(concat!(env!("OUT_DIR"), "/gateway_routes.rs"));
    };
}

/// Decodes an encoded `FileDescriptorSet` (with its imports), e.g. the generator's
/// `FILE_DESCRIPTOR_SET`.
pub fn descriptor_pool(encoded: &[u8]) -> Result<DescriptorPool, GatewayError> {
    DescriptorPool::decode(encoded)
        .map_err(|e| GatewayError::Routes(format!("cannot decode the descriptor set: {e}")))
}

/// Each route's request rules, compiled once (`None` where there are none). A rule that cannot
/// be compiled (a bad pattern, rules for another type) refuses to start, naming the route; rules
/// the gateway does not check are logged, once per request type, as left to the service.
fn request_validators(
    routes: &[route::CompiledRoute],
) -> Result<Vec<Option<proto_validate::MessageRules>>, GatewayError> {
    let mut logged = std::collections::HashSet::new();
    routes
        .iter()
        .map(|route| {
            let rules = proto_validate::MessageRules::compile(&route.input).map_err(|e| {
                GatewayError::Routes(format!(
                    "{} {} ({}): {e}",
                    route.spec.http_method, route.spec.template, route.spec.operation_id
                ))
            })?;
            if !rules.unsupported().is_empty() && logged.insert(route.input.full_name().to_owned())
            {
                tracing::warn!(
                    message_type = route.input.full_name(),
                    rules = ?rules.unsupported(),
                    "buf.validate rules the gateway does not check: left to the service"
                );
            }
            Ok((!rules.is_empty()).then_some(rules))
        })
        .collect()
}

/// Builds the gateway for `routes`, resolving every route against `pool` first: a route that
/// does not resolve fails here, with an error naming it. Must run inside a tokio runtime.
pub fn app(
    config: GatewayConfig,
    routes: &'static [spec::RouteSpec],
    pool: &DescriptorPool,
) -> Result<Router, GatewayError> {
    let compiled = routes
        .iter()
        .map(|spec| route::compile_route(spec, pool, &config.upstreams))
        .collect::<Result<Vec<_>, _>>()?;
    let mut unserved: Vec<&str> = compiled
        .iter()
        .flat_map(route::CompiledRoute::upstreams)
        .filter(|(_, configured)| !configured)
        .map(|(service, _)| service)
        .collect();
    unserved.sort_unstable();
    unserved.dedup();
    for service in unserved {
        tracing::warn!(service, "no upstream configured: its routes answer 503");
    }
    let validators = if config.validate_requests {
        request_validators(&compiled)?
    } else {
        Vec::new()
    };
    let metrics = config
        .metrics
        .then(|| metrics::Metrics::new(routes, &config.upstreams));
    let gateway = Arc::new(handler::Gateway {
        matcher: matcher::Matcher::new(routes.iter().map(|r| (&*r.http_method, &r.pattern))),
        routes: compiled,
        encoder: transcode::response::ResponseEncoder::new(
            config.json_names == JsonNames::Proto,
            config.emit_unpopulated,
        ),
        body_limit: config.body_limit,
        timeout: metadata::DefaultTimeout::new(config.timeout),
        stream_timeout: metadata::DefaultTimeout::new(config.stream_timeout),
        forwarding: metadata::Forwarding::new(&config.forwarded_headers)
            .map_err(GatewayError::Config)?,
        metrics,
        sse_heartbeat: if config.sse_heartbeat.is_zero() {
            config::DEFAULT_SSE_HEARTBEAT
        } else {
            config.sse_heartbeat
        },
        validators,
        in_flight: middleware::InFlightLimit::new(config.max_in_flight),
    });

    let health = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(config.upstreams.clone());
    let mut admin = Router::new();
    if let Some(metrics) = &gateway.metrics {
        // A route of the table at the same path would be shadowed: refuse it instead.
        if let matcher::MatchOutcome::Found { index, .. } =
            gateway.matcher.find("GET", metrics::METRICS_PATH)
        {
            return Err(GatewayError::Routes(format!(
                "route `GET {}` ({}) collides with the metrics endpoint; set `GatewayConfig::metrics` to false to serve it",
                routes[index].template, routes[index].operation_id
            )));
        }
        admin = admin.route(
            metrics::METRICS_PATH,
            get(metrics::serve).with_state(metrics.registry()),
        );
    }
    let mut router = Router::new()
        .fallback(handler::handle)
        .with_state(gateway)
        .merge(admin)
        .merge(health)
        .merge(docs::router(config.openapi_json, config.openapi_yaml)?)
        .layer(middleware::RequestContextLayer);
    if let Some(cors) = middleware::cors(&config.cors_origins)? {
        router = router.layer(cors);
    }
    Ok(router)
}
