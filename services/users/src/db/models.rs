//! Rows of the `users` table.

use diesel::prelude::*;

use crate::schema::users;

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    /// Server-assigned id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Email as given.
    pub email: String,
}

/// The columns an insert sets.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct NewUserRow<'a> {
    pub name: &'a str,
    pub email: &'a str,
}
