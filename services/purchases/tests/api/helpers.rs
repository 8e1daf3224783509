//! `spawn_stack`: users, products, payments and purchases services, each on its own database
//! (`shop_testkit::spawn_shop`), and direct SQL reads of what purchases stored.

use std::time::Duration;

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use proto::purchases::v1::{CreatePurchaseRequest, CreatePurchaseResponse};
pub use shop_testkit::Shop as Stack;
pub use shop_testkit::ShopOptions;
use tonic::metadata::MetadataValue;

pub async fn spawn_stack() -> Stack {
    spawn_stack_with_deadline(Duration::from_secs(3)).await
}

pub async fn spawn_stack_with_deadline(deadline: Duration) -> Stack {
    shop_testkit::spawn_shop(deadline).await
}

pub async fn spawn_stack_with(options: ShopOptions) -> Stack {
    shop_testkit::spawn_shop_with(options).await
}

/// The stack with payments following `rules` (declines, failure rate, delay) and defaults
/// otherwise.
pub async fn spawn_stack_with_payments(rules: payments_service::Rules) -> Stack {
    spawn_stack_with(ShopOptions {
        payments: rules,
        ..ShopOptions::default()
    })
    .await
}

pub fn request(user_id: i64, product_id: i64) -> CreatePurchaseRequest {
    CreatePurchaseRequest {
        user_id,
        product_id,
    }
}

/// `message` with `idempotency-key: key` metadata, as the gateway forwards the header.
pub fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "idempotency-key",
        MetadataValue::try_from(key).expect("ASCII key"),
    );
    request
}

/// Buys `product_id` for `user_id`, panicking on failure.
pub async fn buy(stack: &Stack, user_id: i64, product_id: i64) -> CreatePurchaseResponse {
    stack
        .client()
        .create_purchase(request(user_id, product_id))
        .await
        .expect("create purchase")
        .into_inner()
}

/// A purchase row as stored.
#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
pub struct StoredPurchase {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub status: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub failure_reason: Option<String>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub amount_minor: i64,
}

/// Every purchase row, by id.
pub async fn stored(db_url: &str) -> Vec<StoredPurchase> {
    let mut conn = AsyncPgConnection::establish(db_url).await.expect("connect");
    diesel::sql_query("SELECT id, status, failure_reason, amount_minor FROM purchases ORDER BY id")
        .load(&mut conn)
        .await
        .expect("purchase rows")
}

/// A charge row of the ledger.
#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub idempotency_key: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub amount_minor: i64,
}

/// The ledger's rows of `table` (`charges`, `refunds`) at `db_url`, by id.
pub async fn ledger(db_url: &str, table: &str) -> Vec<LedgerRow> {
    let mut conn = AsyncPgConnection::establish(db_url).await.expect("connect");
    diesel::sql_query(format!(
        "SELECT idempotency_key, amount_minor FROM {table} ORDER BY id"
    ))
    .load(&mut conn)
    .await
    .expect("ledger rows")
}

/// Runs `sql` on the database at `db_url`.
pub async fn execute(db_url: &str, sql: &str) {
    let mut conn = AsyncPgConnection::establish(db_url).await.expect("connect");
    diesel::sql_query(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// The text of `GET http://<addr>/metrics` (a plain HTTP/1.1 request: the body is all we need).
pub async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to /metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
        .await
        .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read the answer");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "/metrics answered {head}");
    body.to_owned()
}

/// The value of the series written exactly as `series` (name and labels) in `text`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}
