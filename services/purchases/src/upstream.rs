//! Clients for the users and products services, found through discovery, with a deadline on
//! every call.

use std::time::Duration;

use discovery::{Discovery, DiscoveryError};
use proto::products::v1::product_service_client::ProductServiceClient;
use proto::products::v1::{GetProductRequest, Product};
use proto::users::v1::user_service_client::UserServiceClient;
use proto::users::v1::{GetUserRequest, User};
use shop_common::Id;
use shop_common::names::{PRODUCTS_SERVICE, USERS_SERVICE};
use tonic::Request;
use tonic::transport::Channel;

use crate::error::PurchaseError;

/// The two services purchases depends on.
#[derive(Debug, Clone)]
pub struct Upstreams {
    users: UserServiceClient<Channel>,
    products: ProductServiceClient<Channel>,
    deadline: Duration,
}

impl Upstreams {
    /// Clients over the channels `discovery` gives for `users-service` and `products-service`;
    /// every call gets `deadline` (sent as `grpc-timeout` and enforced here too, since a
    /// balancer with no reachable instance would otherwise wait).
    pub fn new(discovery: &Discovery, deadline: Duration) -> Result<Self, DiscoveryError> {
        Ok(Self {
            users: UserServiceClient::new(discovery.channel(USERS_SERVICE)?),
            products: ProductServiceClient::new(discovery.channel(PRODUCTS_SERVICE)?),
            deadline,
        })
    }

    /// The user `id`.
    #[tracing::instrument(skip(self))]
    pub async fn user(&self, id: Id) -> Result<User, PurchaseError> {
        let mut request = Request::new(GetUserRequest { id: id.get() });
        request.set_timeout(self.deadline);
        let mut client = self.users.clone();
        let response = self
            .call(USERS_SERVICE, "user", id, client.get_user(request))
            .await?;
        response.user.ok_or_else(|| PurchaseError::UpstreamFailed {
            service: USERS_SERVICE,
            cause: "GetUser answered without a user".into(),
        })
    }

    /// The product `id`.
    #[tracing::instrument(skip(self))]
    pub async fn product(&self, id: Id) -> Result<Product, PurchaseError> {
        let mut request = Request::new(GetProductRequest { id: id.get() });
        request.set_timeout(self.deadline);
        let mut client = self.products.clone();
        let response = self
            .call(PRODUCTS_SERVICE, "product", id, client.get_product(request))
            .await?;
        response
            .product
            .ok_or_else(|| PurchaseError::UpstreamFailed {
                service: PRODUCTS_SERVICE,
                cause: "GetProduct answered without a product".into(),
            })
    }

    async fn call<T>(
        &self,
        service: &'static str,
        entity: &'static str,
        id: Id,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, PurchaseError> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(PurchaseError::from_upstream(
                service,
                entity,
                id.get(),
                status,
            )),
            Err(_elapsed) => Err(PurchaseError::UpstreamUnavailable {
                service,
                cause: format!("no answer within {:?}", self.deadline),
            }),
        }
    }
}
