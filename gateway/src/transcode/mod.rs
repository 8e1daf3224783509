//! JSON <-> protobuf transcoding for one route: [`request`] builds the upstream request message
//! from the path, body and query; [`response`] turns the upstream answer into the HTTP body.
//! [`stream`] splits a client stream's body into its messages; [`sse`] frames a server stream as
//! Server-Sent Events. The JSON mapping itself is prost-reflect's (proto3 canonical JSON).

pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod sse;
pub(crate) mod stream;
