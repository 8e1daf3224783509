//! `spawn_app`: a payments service with given rules on its own fresh database, with a client
//! and direct reads of the ledger; stopped when the handle drops (`shop_testkit`).

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use payments_service::Rules;
use proto::payments::v1::payment_service_client::PaymentServiceClient;
use proto::payments::v1::{ChargeRequest, ChargeResponse, RefundRequest, RefundResponse};
use shop_testkit::TestApp;
use tonic::transport::Channel;

pub type App = TestApp<PaymentServiceClient<Channel>>;

pub async fn spawn_app() -> App {
    spawn_with(Rules::default()).await
}

pub async fn spawn_with(rules: Rules) -> App {
    shop_testkit::spawn_payments(rules)
        .await
        .with_client(PaymentServiceClient::new)
}

pub fn charge_request(key: &str, amount_minor: i64) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.into(),
        amount_minor,
    }
}

pub fn refund_request(key: &str, charge: &str, amount_minor: i64) -> RefundRequest {
    RefundRequest {
        idempotency_key: key.into(),
        charge_idempotency_key: charge.into(),
        amount_minor,
    }
}

pub async fn charge(
    app: &App,
    key: &str,
    amount_minor: i64,
) -> Result<ChargeResponse, tonic::Status> {
    app.client
        .clone()
        .charge(charge_request(key, amount_minor))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn refund(
    app: &App,
    key: &str,
    charge: &str,
    amount_minor: i64,
) -> Result<RefundResponse, tonic::Status> {
    app.client
        .clone()
        .refund(refund_request(key, charge, amount_minor))
        .await
        .map(tonic::Response::into_inner)
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
pub struct LedgerRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub idempotency_key: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub amount_minor: i64,
}

/// The rows of `table` (`charges` or `refunds`), by id, read with SQL.
pub async fn ledger(app: &App, table: &str) -> Vec<LedgerRow> {
    let mut conn = AsyncPgConnection::establish(app.db.url())
        .await
        .expect("connect");
    diesel::sql_query(format!(
        "SELECT idempotency_key, amount_minor FROM {table} ORDER BY id"
    ))
    .load(&mut conn)
    .await
    .expect("ledger rows")
}
