//! The purchases gRPC service: records purchases after checking users and products over gRPC.
