//! The users gRPC service, backed by its own PostgreSQL database.
