-- Purchases are paid through the payments service: the amount becomes integer cents (what is
-- charged; the API still shows the decimal price), a purchase can FAIL with a reason or be
-- REFUNDED, and CANCELLED is gone (no code ever wrote it; any such row becomes FAILED).
ALTER TABLE purchases ADD COLUMN amount_minor BIGINT;
UPDATE purchases SET amount_minor = round(amount::numeric * 100)::bigint;
ALTER TABLE purchases
    ALTER COLUMN amount_minor SET NOT NULL,
    ADD CONSTRAINT purchases_amount_minor_check CHECK (amount_minor >= 0),
    DROP COLUMN amount;

ALTER TABLE purchases ADD COLUMN failure_reason TEXT;
UPDATE purchases SET status = 'FAILED', failure_reason = 'cancelled' WHERE status = 'CANCELLED';
ALTER TABLE purchases
    DROP CONSTRAINT purchases_status_check,
    ADD CONSTRAINT purchases_status_check
        CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED', 'REFUNDED')),
    -- A reason exactly when FAILED.
    ADD CONSTRAINT purchases_failure_reason_check
        CHECK ((status = 'FAILED') = (failure_reason IS NOT NULL)),
    ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- The sweeper's question: which purchases are still PENDING, oldest first.
CREATE INDEX purchases_pending_created_at_idx ON purchases (created_at) WHERE status = 'PENDING';

-- Idempotency keys of CreatePurchase and RefundPurchase. The primary key is what makes
-- concurrent requests with one key safe: exactly one INSERT claims it, the others find it.
-- `request_hash` tells a replay from a different request; `claimed_at` is the owner's fencing
-- token; `purchase_id` binds a CreatePurchase key to the purchase it wrote (in the same
-- transaction); `response` is the encoded answer every replay gets.
CREATE TABLE idempotency_keys (
    idempotency_key TEXT PRIMARY KEY CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    request_hash BYTEA NOT NULL,
    purchase_id BIGINT REFERENCES purchases (id),
    response BYTEA,
    claimed_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- The sweeper purges expired keys.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
