-- The transactional outbox: every status change of a purchase writes its event here in the same
-- transaction, so an event exists exactly when its change committed. The relay publishes pending
-- rows (oldest first) to NATS JetStream and stamps `published_at`; the sweeper purges published
-- rows after a day.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    -- The event's id, also its `Nats-Msg-Id`: JetStream drops a republished copy.
    event_id UUID NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    -- The encoded purchases.v1.PurchaseEvent.
    payload BYTEA NOT NULL,
    -- The W3C trace context of the request that made the change, carried into the message
    -- headers.
    traceparent TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);

-- The relay's question: what is still to publish, in order.
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;
