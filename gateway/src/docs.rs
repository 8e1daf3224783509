//! Swagger UI at `/docs` and the OpenAPI document at `/openapi.json` and `/openapi.yaml`.
//! Swagger UI's files are vendored into the binary (utoipa-swagger-ui `vendored`), so nothing
//! is downloaded at build or run time.

use axum::Router;
use axum::routing::get;
use http::{HeaderValue, header};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::GatewayError;

/// The documentation routes for the given documents (none when `json` is `None`).
pub(crate) fn router(
    json: Option<&'static str>,
    yaml: Option<&'static str>,
) -> Result<Router, GatewayError> {
    let mut router = Router::new();
    if let Some(json) = json {
        let document: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| GatewayError::Config(format!("the OpenAPI document is not JSON: {e}")))?;
        router =
            router.merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", document));
    }
    if let Some(yaml) = yaml {
        router = router.route(
            "/openapi.yaml",
            get(move || async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/yaml"),
                    )],
                    yaml,
                )
            }),
        );
    }
    Ok(router)
}
