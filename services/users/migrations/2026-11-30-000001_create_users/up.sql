CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    email TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Emails are unique regardless of case; CreateUser maps a violation to ALREADY_EXISTS.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
