//! `spawn_app`: a users service on its own fresh database, with a client; stopped when the
//! handle drops (`shop_testkit`).

use proto::users::v1::user_service_client::UserServiceClient;
use shop_testkit::TestApp;
use tonic::transport::Channel;

pub async fn spawn_app() -> TestApp<UserServiceClient<Channel>> {
    shop_testkit::spawn_users()
        .await
        .with_client(UserServiceClient::new)
}
