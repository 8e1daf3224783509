//! Queries on `idempotency_keys`. Every change after the claim is fenced by the owner's
//! `claimed_at`: an owner presumed dead and taken over can no longer bind, answer or release
//! the key.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Double, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shop_common::{Id, IdempotencyKey};

use super::models::KeyRow;
use crate::schema::idempotency_keys;

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Timestamptz)]
    claimed_at: DateTime<Utc>,
}

/// Claims `key` for a request hashing to `request_hash`, kept `ttl_secs` seconds: the claim
/// (its fencing token) when this request now owns the key, `None` when a live key holds it.
/// An expired key is claimed afresh, as if it had never been used.
///
/// One statement (`INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`), so of any number of
/// concurrent requests exactly one claims the key: no check-then-insert race.
#[tracing::instrument(skip(conn, request_hash))]
pub async fn claim_key(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
    request_hash: &[u8],
    ttl_secs: f64,
) -> QueryResult<Option<DateTime<Utc>>> {
    diesel::sql_query(
        "INSERT INTO idempotency_keys (idempotency_key, request_hash, claimed_at, expires_at) \
         VALUES ($1, $2, clock_timestamp(), clock_timestamp() + make_interval(secs => $3)) \
         ON CONFLICT (idempotency_key) DO UPDATE \
         SET request_hash = EXCLUDED.request_hash, purchase_id = NULL, response = NULL, \
             claimed_at = EXCLUDED.claimed_at, expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at <= clock_timestamp() \
         RETURNING claimed_at",
    )
    .bind::<Text, _>(key.as_str())
    .bind::<Bytea, _>(request_hash)
    .bind::<Double, _>(ttl_secs)
    .get_result::<Claimed>(conn)
    .await
    .optional()
    .map(|claimed| claimed.map(|c| c.claimed_at))
}

/// The live (unexpired) key `key`, if any.
#[tracing::instrument(skip(conn))]
pub async fn find_key(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
) -> QueryResult<Option<KeyRow>> {
    idempotency_keys::table
        .find(key.as_str())
        .filter(idempotency_keys::expires_at.gt(diesel::dsl::now))
        .select(KeyRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Takes over `key` from an owner presumed dead (its claim `stale` is old, nothing was written
/// under it): the new claim, or `None` if anything changed meanwhile (someone else took it
/// over, or the owner finished after all).
#[tracing::instrument(skip(conn))]
pub async fn take_over_key(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
    stale: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    diesel::sql_query(
        "UPDATE idempotency_keys SET claimed_at = clock_timestamp() \
         WHERE idempotency_key = $1 AND claimed_at = $2 \
           AND purchase_id IS NULL AND response IS NULL \
         RETURNING claimed_at",
    )
    .bind::<Text, _>(key.as_str())
    .bind::<Timestamptz, _>(stale)
    .get_result::<Claimed>(conn)
    .await
    .optional()
    .map(|claimed| claimed.map(|c| c.claimed_at))
}

/// Binds the owner's `key` to the purchase `purchase_id` it wrote (in the insert's
/// transaction); false if the claim was lost.
#[tracing::instrument(skip(conn))]
pub async fn bind_key_to_purchase(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
    claim: DateTime<Utc>,
    purchase_id: Id,
) -> QueryResult<bool> {
    let updated = diesel::update(idempotency_keys::table)
        .filter(idempotency_keys::idempotency_key.eq(key.as_str()))
        .filter(idempotency_keys::claimed_at.eq(claim))
        .filter(idempotency_keys::purchase_id.is_null())
        .set(idempotency_keys::purchase_id.eq(purchase_id.get()))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Stores the owner's answer under `key`; false if the claim was lost.
#[tracing::instrument(skip(conn, response))]
pub async fn store_response(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
    claim: DateTime<Utc>,
    response: &[u8],
) -> QueryResult<bool> {
    let updated = diesel::update(idempotency_keys::table)
        .filter(idempotency_keys::idempotency_key.eq(key.as_str()))
        .filter(idempotency_keys::claimed_at.eq(claim))
        .set(idempotency_keys::response.eq(response))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Stores an answer built by a replay (from a purchase settled after its owner gave up) unless
/// one is stored already; false if one was.
#[tracing::instrument(skip(conn, response))]
pub async fn store_response_once(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
    response: &[u8],
) -> QueryResult<bool> {
    let updated = diesel::update(idempotency_keys::table)
        .filter(idempotency_keys::idempotency_key.eq(key.as_str()))
        .filter(idempotency_keys::response.is_null())
        .set(idempotency_keys::response.eq(response))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Gives `key` up after a failure that wrote nothing (no purchase bound to it), so a retry runs
/// the request again instead of waiting for an answer that will never come.
#[tracing::instrument(skip(conn))]
pub async fn release_key(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
    claim: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::delete(idempotency_keys::table)
        .filter(idempotency_keys::idempotency_key.eq(key.as_str()))
        .filter(idempotency_keys::claimed_at.eq(claim))
        .filter(idempotency_keys::purchase_id.is_null())
        .execute(conn)
        .await
        .map(drop)
}

/// Deletes the expired keys; returns how many.
#[tracing::instrument(skip(conn))]
pub async fn purge_expired_keys(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table)
        .filter(idempotency_keys::expires_at.le(diesel::dsl::now))
        .execute(conn)
        .await
}
