-- Failed and successful logins, for rate limiting and the account security page.

CREATE TABLE login_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  uuid REFERENCES accounts (id) ON DELETE CASCADE,
    email       text NOT NULL,
    ip          inet,
    succeeded   boolean NOT NULL,
    reason      text,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email_time_idx ON login_attempts (lower(email), occurred_at DESC);
