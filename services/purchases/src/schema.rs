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
        /// `PENDING`, `COMPLETED`, `FAILED` or `REFUNDED`.
        status -> Text,
        /// When the purchase was recorded.
        created_at -> Timestamptz,
        /// Price paid in minor units (cents): what was charged.
        amount_minor -> BigInt,
        /// Why it FAILED; set exactly when FAILED.
        failure_reason -> Nullable<Text>,
        /// When the status last changed.
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Idempotency keys of CreatePurchase and RefundPurchase, with their answers.
    idempotency_keys (idempotency_key) {
        /// The client's key.
        idempotency_key -> Text,
        /// SHA-256 of the operation and the request.
        request_hash -> Bytea,
        /// The purchase a CreatePurchase key wrote.
        purchase_id -> Nullable<BigInt>,
        /// The encoded answer, once there is one.
        response -> Nullable<Bytea>,
        /// When the current owner claimed the key: its fencing token.
        claimed_at -> Timestamptz,
        /// When the key may be forgotten.
        expires_at -> Timestamptz,
    }
}

diesel::joinable!(idempotency_keys -> purchases (purchase_id));
diesel::allow_tables_to_appear_in_same_query!(purchases, idempotency_keys, outbox);

diesel::table! {
    /// The transactional outbox: purchase events written with their change, to be published.
    outbox (id) {
        /// Publication order.
        id -> BigInt,
        /// The event's id, also its `Nats-Msg-Id`.
        event_id -> Uuid,
        /// The NATS subject.
        subject -> Text,
        /// The encoded `purchases.v1.PurchaseEvent`.
        payload -> Bytea,
        /// The W3C trace context of the change's request.
        traceparent -> Nullable<Text>,
        /// When the change committed.
        created_at -> Timestamptz,
        /// When JetStream acknowledged it; `NULL` while pending.
        published_at -> Nullable<Timestamptz>,
    }
}
