-- Staff roles, moderation reports and the audit log studio shows.

CREATE TYPE staff_role AS ENUM ('support', 'moderator', 'admin');
CREATE TYPE report_status AS ENUM ('open', 'actioned', 'dismissed');

CREATE TABLE staff (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    role       staff_role NOT NULL,
    granted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    granted_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reporter_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    drop_id     uuid REFERENCES drops (id) ON DELETE CASCADE,
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    reason      text NOT NULL,
    status      report_status NOT NULL DEFAULT 'open',
    handled_by  uuid REFERENCES staff (user_id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reports_has_subject CHECK (num_nonnulls(drop_id, user_id) = 1)
);
CREATE INDEX reports_open_idx ON reports (created_at) WHERE status = 'open';

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created_brin ON audit_log USING brin (created_at);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id);

CREATE FUNCTION audit(actor uuid, act text, ttype text, tid text, extra jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO audit_log (actor_id, action, target_type, target_id, details)
    VALUES (actor, act, ttype, tid, extra)
    RETURNING id;
$$;
