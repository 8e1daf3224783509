//! `spawn_app`: a products service on its own fresh database, with a client; stopped when the
//! handle drops (`shop_testkit`).

use proto::products::v1::product_service_client::ProductServiceClient;
use shop_testkit::TestApp;
use tonic::transport::Channel;

pub async fn spawn_app() -> TestApp<ProductServiceClient<Channel>> {
    shop_testkit::spawn_products()
        .await
        .with_client(ProductServiceClient::new)
}
