//! Queries on `users`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shop_common::Id;

use super::models::{NewUserRow, UserRow};
use crate::domain::NewUser;
use crate::schema::users;

/// Inserts `user` and returns the stored row. A taken email fails with a unique violation on
/// `users_email_lower_key`.
#[tracing::instrument(skip_all)]
pub async fn insert_user(conn: &mut AsyncPgConnection, user: &NewUser) -> QueryResult<UserRow> {
    diesel::insert_into(users::table)
        .values(NewUserRow {
            name: &user.name,
            email: &user.email,
        })
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

/// The user with `id`, if any.
#[tracing::instrument(skip(conn))]
pub async fn find_user(conn: &mut AsyncPgConnection, id: Id) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id.get())
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Up to `limit` users with ids above `after_id`, by id: one keyset page.
#[tracing::instrument(skip(conn))]
pub async fn users_after(
    conn: &mut AsyncPgConnection,
    after_id: i64,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::id.gt(after_id))
        .order(users::id.asc())
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)
        .await
}
