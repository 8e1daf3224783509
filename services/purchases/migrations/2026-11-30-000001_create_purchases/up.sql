-- user_id and product_id point into other services' databases, so there are no foreign keys:
-- the purchases service checks them over gRPC before inserting.
CREATE TABLE purchases (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL CHECK (user_id > 0),
    product_id BIGINT NOT NULL CHECK (product_id > 0),
    -- The product's price at purchase time (a proto double, like the price).
    amount DOUBLE PRECISION NOT NULL CHECK (amount >= 0 AND amount < 'Infinity'),
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'COMPLETED', 'CANCELLED')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- GetUserPurchases: a user's purchases, oldest first.
CREATE INDEX purchases_user_id_id_idx ON purchases (user_id, id);
