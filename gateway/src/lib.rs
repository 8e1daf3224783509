//! The REST/JSON gateway: serves the routes generated from `google.api.http` annotations,
//! transcodes JSON to protobuf and back, and calls the upstream gRPC services.

pub mod spec;
