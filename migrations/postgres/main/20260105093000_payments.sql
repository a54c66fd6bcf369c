-- Payments: coin purchases, tips between users and subscriptions.

CREATE TYPE payment_kind AS ENUM ('coins', 'tip', 'subscription');
CREATE TYPE payment_status AS ENUM ('pending', 'succeeded', 'failed', 'refunded');
CREATE TYPE payment_provider AS ENUM ('stripe', 'apple', 'google');

CREATE SEQUENCE invoice_number_seq START WITH 100001;

CREATE TABLE payments (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    invoice_number bigint NOT NULL UNIQUE DEFAULT nextval('invoice_number_seq'),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    recipient_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    kind           payment_kind NOT NULL,
    status         payment_status NOT NULL DEFAULT 'pending',
    provider       payment_provider NOT NULL,
    provider_ref   text NOT NULL,
    amount_cents   bigint NOT NULL,
    currency       char(3) NOT NULL DEFAULT 'USD',
    created_at     timestamptz NOT NULL DEFAULT now(),
    settled_at     timestamptz,
    CONSTRAINT payments_amount_positive CHECK (amount_cents > 0),
    CONSTRAINT payments_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT payments_tip_has_recipient CHECK (kind <> 'tip' OR recipient_id IS NOT NULL),
    CONSTRAINT payments_provider_ref_key UNIQUE (provider, provider_ref)
);
ALTER SEQUENCE invoice_number_seq OWNED BY payments.invoice_number;
CREATE INDEX payments_user_created_idx ON payments (user_id, created_at DESC);

CREATE TABLE coin_balances (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    coins      bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT coin_balances_not_negative CHECK (coins >= 0)
);
