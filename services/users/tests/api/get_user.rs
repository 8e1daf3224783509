use proto::users::v1::GetUserRequest;
use tonic::Code;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn reads_back_a_created_user() {
    let app = spawn_app().await;
    let created = app.create_user("John Doe", "john@example.com").await;
    let read = app
        .client
        .clone()
        .get_user(GetUserRequest { id: created.id })
        .await
        .expect("get user")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(read, created);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_user_is_not_found() {
    let app = spawn_app().await;
    let status = app
        .client
        .clone()
        .get_user(GetUserRequest { id: 4242 })
        .await
        .expect_err("missing");
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("4242"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_positive_id_is_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    for id in [0, -1] {
        let status = app
            .client
            .clone()
            .get_user(GetUserRequest { id })
            .await
            .expect_err("invalid id");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(shop_testkit::violated_fields(&status), ["id"], "{status:?}");
    }
}
