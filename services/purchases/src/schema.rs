//! Diesel schema, written by hand to match `migrations/` (no diesel CLI here).

diesel::table! {
    /// Recorded purchases. `user_id` and `product_id` live in other services' databases.
    purchases (id) {
        /// Server-assigned id.
        id -> BigInt,
        /// The buyer (users service id).
        user_id -> BigInt,
        /// The product bought (products service id).
        product_id -> BigInt,
        /// Price paid.
        amount -> Double,
        /// `PENDING`, `COMPLETED` or `CANCELLED`.
        status -> Text,
        /// When the purchase was recorded.
        created_at -> Timestamptz,
    }
}
