//! Queries on `purchases`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shop_common::Id;

use super::models::{NewPurchaseRow, PurchaseRow};
use crate::domain::{NewPurchase, PurchaseStatus, Settlement};
use crate::schema::purchases;

/// Inserts `purchase` as PENDING and returns the stored row.
#[tracing::instrument(skip_all)]
pub async fn insert_purchase(
    conn: &mut AsyncPgConnection,
    purchase: &NewPurchase,
) -> QueryResult<PurchaseRow> {
    diesel::insert_into(purchases::table)
        .values(NewPurchaseRow {
            user_id: purchase.user_id.get(),
            product_id: purchase.product_id.get(),
            amount_minor: purchase.amount.get(),
            status: PurchaseStatus::Pending.as_db(),
        })
        .returning(PurchaseRow::as_returning())
        .get_result(conn)
        .await
}

/// Settles purchase `id` if it is still PENDING; `None` when it is not (someone settled it
/// first). The status condition makes settling once a property of the row, whoever races.
#[tracing::instrument(skip(conn))]
pub async fn settle_purchase(
    conn: &mut AsyncPgConnection,
    id: Id,
    settlement: &Settlement,
) -> QueryResult<Option<PurchaseRow>> {
    let (status, reason) = match settlement {
        Settlement::Completed => (PurchaseStatus::Completed, None),
        Settlement::Failed(reason) => (PurchaseStatus::Failed, Some(reason.as_str())),
    };
    diesel::update(purchases::table)
        .filter(purchases::id.eq(id.get()))
        .filter(purchases::status.eq(PurchaseStatus::Pending.as_db()))
        .set((
            purchases::status.eq(status.as_db()),
            purchases::failure_reason.eq(reason),
            purchases::updated_at.eq(diesel::dsl::now),
        ))
        .returning(PurchaseRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Marks purchase `id` REFUNDED if it is COMPLETED; `None` when it is not.
#[tracing::instrument(skip(conn))]
pub async fn mark_refunded(
    conn: &mut AsyncPgConnection,
    id: Id,
) -> QueryResult<Option<PurchaseRow>> {
    diesel::update(purchases::table)
        .filter(purchases::id.eq(id.get()))
        .filter(purchases::status.eq(PurchaseStatus::Completed.as_db()))
        .set((
            purchases::status.eq(PurchaseStatus::Refunded.as_db()),
            purchases::updated_at.eq(diesel::dsl::now),
        ))
        .returning(PurchaseRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Up to `limit` PENDING purchases created before `cutoff`, oldest first.
#[tracing::instrument(skip(conn))]
pub async fn pending_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<PurchaseRow>> {
    purchases::table
        .filter(purchases::status.eq(PurchaseStatus::Pending.as_db()))
        .filter(purchases::created_at.lt(cutoff))
        .order(purchases::created_at.asc())
        .limit(limit)
        .select(PurchaseRow::as_select())
        .load(conn)
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

/// Up to `limit` purchases of `user_id` with ids above `after_id`, oldest first: one keyset
/// page (the `(user_id, id)` index serves it).
#[tracing::instrument(skip(conn))]
pub async fn purchases_of_user(
    conn: &mut AsyncPgConnection,
    user_id: Id,
    after_id: i64,
    limit: i64,
) -> QueryResult<Vec<PurchaseRow>> {
    purchases::table
        .filter(purchases::user_id.eq(user_id.get()))
        .filter(purchases::id.gt(after_id))
        .order(purchases::id.asc())
        .limit(limit)
        .select(PurchaseRow::as_select())
        .load(conn)
        .await
}
