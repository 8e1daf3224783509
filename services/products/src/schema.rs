//! Diesel schema, written by hand to match `migrations/` (no diesel CLI here).

diesel::table! {
    /// Products for sale.
    products (id) {
        /// Server-assigned id.
        id -> BigInt,
        /// Display name.
        name -> Text,
        /// Current price, finite and not negative.
        price -> Double,
        /// When the row was inserted.
        created_at -> Timestamptz,
    }
}
