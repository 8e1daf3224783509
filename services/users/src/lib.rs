//! The users gRPC service (`users.v1.UserService`), backed by its own PostgreSQL database.
//!
//! Start-up, serving and shutdown are shared by every shop service ([`shop_common::Application`]);
//! this crate adds what is its own: the schema, the handlers and the binary's identity
//! ([`UsersService`]).

mod db;
mod error;
mod grpc;
mod schema;

pub mod domain;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use proto::users::v1::user_service_server::{SERVICE_NAME, UserServiceServer};
use shop_common::{Database, ServiceBinary, ShopService};
use tonic::service::Routes;

pub use error::UserError;
pub use grpc::UsersGrpc;

/// What the service needs to start: the listen address and its database.
pub type Config = shop_common::ServiceConfig;

/// A bound, ready-to-run users service: [`Application::build`] binds,
/// [`Application::run_until`] serves.
pub type Application = shop_common::Application<UsersService>;

/// The users service's part of the shared scaffold. It needs nothing but its database.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsersService;

impl ShopService for UsersService {
    const BINARY: ServiceBinary = ServiceBinary {
        // The Consul name the other services look it up by.
        name: shop_common::names::USERS_SERVICE,
        version: env!("CARGO_PKG_VERSION"),
        description: env!("CARGO_PKG_DESCRIPTION"),
        grpc_service: SERVICE_NAME,
        default_listen: "127.0.0.1:50051",
    };
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

    fn routes(self, db: Database) -> Routes {
        Routes::new(UserServiceServer::new(UsersGrpc::new(db)))
    }
}
