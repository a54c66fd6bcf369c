-- Keys that sign access tokens; the public halves are served as the JWKS.

CREATE TYPE key_algorithm AS ENUM ('EdDSA', 'ES256', 'RS256');

CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,
    algorithm       key_algorithm NOT NULL,
    public_jwk      jsonb NOT NULL,
    private_key_ref text NOT NULL,    -- where the private key lives (KMS / sealed secret), never the key
    created_at      timestamptz NOT NULL DEFAULT now(),
    activates_at    timestamptz NOT NULL DEFAULT now(),
    retires_at      timestamptz,
    CONSTRAINT signing_keys_kid_format CHECK (kid ~ '^[A-Za-z0-9_-]{8,64}$'),
    CONSTRAINT signing_keys_jwk_is_public CHECK (NOT (public_jwk ? 'd')),
    CONSTRAINT signing_keys_retire_after_activation CHECK (retires_at IS NULL OR retires_at > activates_at)
);

CREATE VIEW jwks AS
    SELECT kid, algorithm, public_jwk
    FROM signing_keys
    WHERE activates_at <= now() AND (retires_at IS NULL OR retires_at > now());
