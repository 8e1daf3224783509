-- Prices are DOUBLE PRECISION because the API's price is a proto double: what a client sends is
-- exactly what it reads back. `price < 'Infinity'` also rejects NaN (NaN sorts above Infinity).
CREATE TABLE products (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    price DOUBLE PRECISION NOT NULL CHECK (price >= 0 AND price < 'Infinity'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
