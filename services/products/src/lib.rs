//! The products gRPC service, backed by its own PostgreSQL database.
