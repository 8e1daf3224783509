//! End-to-end tests over real sockets: HTTP client -> gateway -> echo gRPC server.

mod docs;
mod errors;
mod headers;
mod helpers;
mod transcode;
