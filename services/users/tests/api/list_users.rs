use proto::users::v1::ListUsersRequest;
use tonic::Code;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn pages_through_users_by_id_and_refuses_edited_tokens() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(
            app.create_user("User", &format!("user{n}@example.com"))
                .await,
        );
    }
    let mut client = app.client.clone();
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_users(ListUsersRequest {
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.users.len() <= 2);
        listed.extend(page.users);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(listed, created);

    let all = client
        .list_users(ListUsersRequest::default())
        .await
        .expect("default page")
        .into_inner();
    assert_eq!(all.users.len(), 5, "the default page holds them all");
    assert!(all.next_page_token.is_empty());

    let status = client
        .list_users(ListUsersRequest {
            page_size: 1,
            page_token: "bm90IGEgdG9rZW4".into(),
        })
        .await
        .expect_err("not a token");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("page_token:"), "{status:?}");
}
