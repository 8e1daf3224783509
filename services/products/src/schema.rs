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
        /// Units sold, from the purchase events.
        sold_count -> BigInt,
    }
}

diesel::table! {
    /// Purchase events already counted, so a redelivered one counts once.
    processed_events (event_id) {
        /// The event's id.
        event_id -> Uuid,
        /// When it was counted.
        processed_at -> Timestamptz,
    }
}
