//! Queries on `outbox`: events are written with their change, read by the relay in order,
//! stamped when JetStream has them, and purged a day later.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::{NewOutboxRow, PendingEvent};
use crate::schema::outbox;

/// Writes `event`, in the caller's transaction (the one that makes the change it tells of).
#[tracing::instrument(skip_all)]
pub async fn insert_event(conn: &mut AsyncPgConnection, event: &NewOutboxRow) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values(event)
        .execute(conn)
        .await
        .map(drop)
}

/// Up to `limit` unpublished events, oldest first, locked for the caller's transaction; rows
/// another relay instance holds are skipped, so instances share the work instead of waiting.
#[tracing::instrument(skip(conn))]
pub async fn lock_pending_events(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> QueryResult<Vec<PendingEvent>> {
    outbox::table
        .filter(outbox::published_at.is_null())
        .order(outbox::id.asc())
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(PendingEvent::as_select())
        .load(conn)
        .await
}

/// Stamps the events `ids` as published now.
#[tracing::instrument(skip_all, fields(events = ids.len()))]
pub async fn mark_published(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<usize> {
    diesel::update(outbox::table)
        .filter(outbox::id.eq_any(ids))
        .set(outbox::published_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

/// How many events wait to be published, and when the oldest of them was written.
#[tracing::instrument(skip(conn))]
pub async fn pending_backlog(
    conn: &mut AsyncPgConnection,
) -> QueryResult<(i64, Option<DateTime<Utc>>)> {
    outbox::table
        .filter(outbox::published_at.is_null())
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(outbox::created_at),
        ))
        .first(conn)
        .await
}

/// Deletes events published before `cutoff`; returns how many.
#[tracing::instrument(skip(conn))]
pub async fn purge_published(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::delete(outbox::table)
        .filter(outbox::published_at.lt(cutoff))
        .execute(conn)
        .await
}
