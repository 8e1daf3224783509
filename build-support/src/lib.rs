//! The gateway generator: proto descriptors with google.api.http annotations -> axum routes, transcoding tables and an OpenAPI 3.1 document.
