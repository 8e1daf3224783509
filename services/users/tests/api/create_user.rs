use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use proto::users::v1::CreateUserRequest;
use tonic::Code;

use crate::helpers::spawn_app;

fn request(name: &str, email: &str) -> CreateUserRequest {
    CreateUserRequest {
        name: name.into(),
        email: email.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_the_seed_user() {
    let app = spawn_app().await;
    let user = app.create_user("John Doe", "john@example.com").await;
    assert!(user.id > 0);
    assert_eq!(user.name, "John Doe");
    assert_eq!(user.email, "john@example.com");

    // It is really stored.
    let mut conn = AsyncPgConnection::establish(app.db.url())
        .await
        .expect("connect");
    let stored: (String, String) = diesel::sql_query("SELECT name, email FROM users")
        .get_result::<NameEmail>(&mut conn)
        .await
        .map(|row| (row.name, row.email))
        .expect("row");
    assert_eq!(
        stored,
        ("John Doe".to_owned(), "john@example.com".to_owned())
    );
}

#[derive(QueryableByName)]
struct NameEmail {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_fields_are_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (request("", "john@example.com"), "name"),
        (request("   ", "john@example.com"), "name"),
        // PostgreSQL text cannot hold NUL: refused by the rule, never a database error.
        (request("Jo\0hn", "john@example.com"), "name"),
        (request(&"x".repeat(201), "john@example.com"), "name"),
        (request("John", ""), "email"),
        (request("John", "not-an-email"), "email"),
        (request("John", " john@example.com"), "email"),
    ];
    for (req, field) in cases {
        let status = app
            .client
            .clone()
            .create_user(req)
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            shop_testkit::violated_fields(&status),
            [field],
            "{status:?}"
        );
    }
    // A 200-character name is still fine.
    app.create_user(&"x".repeat(200), "long@example.com").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_email_is_already_exists_whatever_its_case() {
    let app = spawn_app().await;
    app.create_user("John Doe", "john@example.com").await;
    let status = app
        .client
        .clone()
        .create_user(request("Other John", "JOHN@Example.COM"))
        .await
        .expect_err("duplicate");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        !status.message().to_lowercase().contains("constraint"),
        "{status:?}"
    );
    assert!(
        !status.message().contains("users_email_lower_key"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creates_with_one_email_let_exactly_one_succeed() {
    let app = spawn_app().await;
    let attempts = (0..8).map(|i| {
        let mut client = app.client.clone();
        async move {
            client
                .create_user(request(&format!("Racer {i}"), "race@example.com"))
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(s) if s.code() == Code::AlreadyExists))
        .count();
    assert_eq!((ok, taken), (1, results.len() - 1), "{results:?}");
}
