-- Crews: groups of players with a shared chat and feed.

CREATE TYPE crew_role AS ENUM ('owner', 'admin', 'member');

CREATE TABLE crews (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    owner_id    uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    game_id     integer REFERENCES games (id) ON DELETE SET NULL,
    is_private  boolean NOT NULL DEFAULT false,
    max_members integer NOT NULL DEFAULT 50,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crews_slug_format CHECK (slug ~ '^[a-z0-9-]{3,32}$'),
    CONSTRAINT crews_max_members_range CHECK (max_members BETWEEN 2 AND 500)
);

CREATE TABLE crew_memberships (
    crew_id   uuid NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      crew_role NOT NULL DEFAULT 'member',
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (crew_id, user_id)
);
CREATE INDEX crew_memberships_user_idx ON crew_memberships (user_id);
CREATE UNIQUE INDEX crew_memberships_one_owner ON crew_memberships (crew_id) WHERE role = 'owner';

CREATE TABLE crew_invites (
    code       text PRIMARY KEY,
    crew_id    uuid NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    invited_by uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    max_uses   integer NOT NULL DEFAULT 1,
    uses       integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    CONSTRAINT crew_invites_uses_range CHECK (uses >= 0 AND uses <= max_uses)
);
