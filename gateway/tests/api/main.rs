//! End-to-end tests over real sockets: HTTP client -> gateway -> echo gRPC server.

mod compose;
mod conformance;
mod docs;
mod errors;
mod headers;
mod helpers;
mod overload;
mod serving;
mod sse;
mod startup;
mod streams;
mod transcode;
mod validation;
