-- Units sold, counted from the purchase events on NATS JetStream (completed +1, refunded -1).
ALTER TABLE products ADD COLUMN sold_count BIGINT NOT NULL DEFAULT 0;

-- The purchase events already counted: an event delivered again (JetStream redelivers what was
-- not acknowledged) finds its id here and changes nothing. Counting and remembering happen in
-- one transaction.
CREATE TABLE processed_events (
    event_id UUID PRIMARY KEY,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
