//! Queries on the ledger.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shop_common::IdempotencyKey;

use super::models::{ChargeRow, NewChargeRow, NewRefundRow, RefundRow};
use crate::domain::{NewCharge, NewRefund};
use crate::schema::{charges, refunds};

/// Inserts `charge` unless its key is taken; `None` when it is (a concurrent request with the
/// same key won), which the caller resolves by reading the stored charge. No check-then-insert
/// race: the unique key decides.
#[tracing::instrument(skip_all)]
pub async fn insert_charge(
    conn: &mut AsyncPgConnection,
    charge: &NewCharge,
) -> QueryResult<Option<ChargeRow>> {
    diesel::insert_into(charges::table)
        .values(NewChargeRow {
            idempotency_key: charge.key.as_str(),
            amount_minor: charge.amount.get(),
        })
        .on_conflict(charges::idempotency_key)
        .do_nothing()
        .returning(ChargeRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The charge made under `key`, if any.
#[tracing::instrument(skip(conn))]
pub async fn find_charge(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
) -> QueryResult<Option<ChargeRow>> {
    charges::table
        .filter(charges::idempotency_key.eq(key.as_str()))
        .select(ChargeRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The charge made under `key`, locked (`FOR UPDATE`) until the transaction ends, so that the
/// refunds of one charge are summed and written one at a time.
#[tracing::instrument(skip(conn))]
pub async fn lock_charge(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
) -> QueryResult<Option<ChargeRow>> {
    charges::table
        .filter(charges::idempotency_key.eq(key.as_str()))
        .select(ChargeRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// The sum of the refunds of charge `charge_id`, in minor units. Summed here with checked
/// arithmetic (PostgreSQL's `sum(bigint)` is `numeric`); a charge has few refunds.
#[tracing::instrument(skip(conn))]
pub async fn refunded_total(
    conn: &mut AsyncPgConnection,
    charge_id: i64,
) -> QueryResult<Option<i64>> {
    let amounts: Vec<i64> = refunds::table
        .filter(refunds::charge_id.eq(charge_id))
        .select(refunds::amount_minor)
        .load(conn)
        .await?;
    Ok(amounts
        .into_iter()
        .try_fold(0i64, |total, amount| total.checked_add(amount)))
}

/// The refund made under `key`, if any.
#[tracing::instrument(skip(conn))]
pub async fn find_refund(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
) -> QueryResult<Option<RefundRow>> {
    refunds::table
        .filter(refunds::idempotency_key.eq(key.as_str()))
        .select(RefundRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts `refund` of charge `charge_id` unless its key is taken; `None` when it is.
#[tracing::instrument(skip_all)]
pub async fn insert_refund(
    conn: &mut AsyncPgConnection,
    charge_id: i64,
    refund: &NewRefund,
) -> QueryResult<Option<RefundRow>> {
    diesel::insert_into(refunds::table)
        .values(NewRefundRow {
            idempotency_key: refund.key.as_str(),
            charge_id,
            amount_minor: refund.amount.get(),
        })
        .on_conflict(refunds::idempotency_key)
        .do_nothing()
        .returning(RefundRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}
