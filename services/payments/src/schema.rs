//! Diesel schema, written by hand to match `migrations/` (no diesel CLI here).

diesel::table! {
    /// Approved charges; `idempotency_key` is unique (`charges_idempotency_key_key`).
    charges (id) {
        /// Ledger id.
        id -> BigInt,
        /// The caller's key naming the charge.
        idempotency_key -> Text,
        /// Amount in minor units (cents).
        amount_minor -> BigInt,
        /// When the charge was written.
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// Refunds of charges; `idempotency_key` is unique (`refunds_idempotency_key_key`).
    refunds (id) {
        /// Ledger id.
        id -> BigInt,
        /// The caller's key naming the refund.
        idempotency_key -> Text,
        /// The charge refunded.
        charge_id -> BigInt,
        /// Amount in minor units (cents).
        amount_minor -> BigInt,
        /// When the refund was written.
        created_at -> Timestamptz,
    }
}

diesel::joinable!(refunds -> charges (charge_id));
diesel::allow_tables_to_appear_in_same_query!(charges, refunds);
