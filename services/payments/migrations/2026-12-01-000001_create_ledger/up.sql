-- The ledger. Amounts are integer minor units (cents), never floating point. A charge or refund
-- is named by its caller's idempotency key: the unique keys are what makes a retried Charge or
-- Refund write nothing new (INSERT ... ON CONFLICT DO NOTHING, then compare with the stored row).
CREATE TABLE charges (
    id BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT charges_idempotency_key_key UNIQUE (idempotency_key)
);

CREATE TABLE refunds (
    id BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    charge_id BIGINT NOT NULL REFERENCES charges (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT refunds_idempotency_key_key UNIQUE (idempotency_key)
);

-- A charge's refunds, summed before each new refund.
CREATE INDEX refunds_charge_id_idx ON refunds (charge_id);
