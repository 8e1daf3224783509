//! `TestDatabase` against the real server (TEST_DATABASE_URL or the throwaway cluster).

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use test_support::{TestDatabase, server_url};

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

async fn database_exists(name: &str) -> bool {
    let mut conn = AsyncPgConnection::establish(&server_url().expect("server"))
        .await
        .expect("connect to server");
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Exists>(&mut conn)
        .await
        .expect("query")
        .exists
}

#[tokio::test]
async fn each_test_database_is_fresh_usable_and_dropped_afterwards() {
    let first = TestDatabase::create().await.expect("first");
    let second = TestDatabase::create().await.expect("second");
    assert_ne!(first.name(), second.name());

    let mut conn = AsyncPgConnection::establish(first.url())
        .await
        .expect("connect");
    diesel::sql_query("CREATE TABLE t (x INT)")
        .execute(&mut conn)
        .await
        .expect("usable");
    drop(conn);

    let name = first.name().to_owned();
    assert!(database_exists(&name).await);
    drop(first);
    assert!(!database_exists(&name).await, "dropped with the value");
}
