-- clikd_auth: accounts and the credentials that log them in.
-- The auth service (Rust/Axum) owns this database; api refers to accounts by id only.

CREATE TYPE account_status AS ENUM ('pending', 'active', 'suspended', 'deleted');
CREATE TYPE credential_kind AS ENUM ('password', 'oauth_apple', 'oauth_google', 'oauth_discord', 'passkey');

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE accounts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email             text NOT NULL,
    email_verified_at timestamptz,
    phone             text,
    status            account_status NOT NULL DEFAULT 'pending',
    locale            text NOT NULL DEFAULT 'en',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    CONSTRAINT accounts_phone_format CHECK (phone IS NULL OR phone ~ '^\+[0-9]{6,15}$')
);
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));
CREATE INDEX accounts_status_idx ON accounts (status) WHERE status <> 'active';
CREATE TRIGGER accounts_updated_at BEFORE UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE credentials (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id       uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind             credential_kind NOT NULL,
    secret_hash      text,              -- argon2id PHC string for passwords
    provider_subject text,              -- the "sub" of an OAuth provider, or a passkey credential id
    public_key       bytea,             -- passkeys (COSE)
    sign_count       bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz,
    CONSTRAINT credentials_secret_for_password CHECK (
        (kind = 'password' AND secret_hash IS NOT NULL AND provider_subject IS NULL)
        OR (kind <> 'password' AND provider_subject IS NOT NULL)
    ),
    CONSTRAINT credentials_provider_subject_key UNIQUE (kind, provider_subject)
);
CREATE UNIQUE INDEX credentials_one_password ON credentials (account_id) WHERE kind = 'password';
CREATE INDEX credentials_account_idx ON credentials (account_id);
