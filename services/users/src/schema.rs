//! Diesel schema, written by hand to match `migrations/` (no diesel CLI here).

diesel::table! {
    /// Registered users; `lower(email)` is unique (index `users_email_lower_key`).
    users (id) {
        /// Server-assigned id.
        id -> BigInt,
        /// Display name.
        name -> Text,
        /// Email address as given.
        email -> Text,
        /// When the row was inserted.
        created_at -> Timestamptz,
    }
}
