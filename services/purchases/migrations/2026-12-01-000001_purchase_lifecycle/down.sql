DROP TABLE idempotency_keys;
DROP INDEX purchases_pending_created_at_idx;
UPDATE purchases SET status = 'CANCELLED' WHERE status IN ('FAILED', 'REFUNDED');
ALTER TABLE purchases
    DROP COLUMN updated_at,
    DROP CONSTRAINT purchases_failure_reason_check,
    DROP CONSTRAINT purchases_status_check,
    ADD CONSTRAINT purchases_status_check CHECK (status IN ('PENDING', 'COMPLETED', 'CANCELLED')),
    DROP COLUMN failure_reason,
    ADD COLUMN amount DOUBLE PRECISION;
UPDATE purchases SET amount = amount_minor / 100.0;
ALTER TABLE purchases
    ALTER COLUMN amount SET NOT NULL,
    ADD CONSTRAINT purchases_amount_check CHECK (amount >= 0 AND amount < 'Infinity'),
    DROP COLUMN amount_minor;
