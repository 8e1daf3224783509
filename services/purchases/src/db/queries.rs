//! Queries on `purchases`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shop_common::Id;

use super::models::{NewPurchaseRow, PurchaseRow};
use crate::domain::NewPurchase;
use crate::schema::purchases;

/// Inserts `purchase` and returns the stored row.
#[tracing::instrument(skip_all)]
pub async fn insert_purchase(
    conn: &mut AsyncPgConnection,
    purchase: &NewPurchase,
) -> QueryResult<PurchaseRow> {
    diesel::insert_into(purchases::table)
        .values(NewPurchaseRow {
            user_id: purchase.user_id.get(),
            product_id: purchase.product_id.get(),
            amount: purchase.amount.get(),
            status: purchase.status.as_db(),
        })
        .returning(PurchaseRow::as_returning())
        .get_result(conn)
        .await
}

/// The purchase with `id`, if any.
#[tracing::instrument(skip(conn))]
pub async fn find_purchase(
    conn: &mut AsyncPgConnection,
    id: Id,
) -> QueryResult<Option<PurchaseRow>> {
    purchases::table
        .find(id.get())
        .select(PurchaseRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// All purchases of `user_id`, oldest first.
#[tracing::instrument(skip(conn))]
pub async fn purchases_of_user(
    conn: &mut AsyncPgConnection,
    user_id: Id,
) -> QueryResult<Vec<PurchaseRow>> {
    purchases::table
        .filter(purchases::user_id.eq(user_id.get()))
        .order(purchases::id.asc())
        .select(PurchaseRow::as_select())
        .load(conn)
        .await
}
