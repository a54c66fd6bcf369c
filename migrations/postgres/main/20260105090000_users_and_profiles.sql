-- clikd_main: people on the platform. users.id is the auth service's accounts.id.

CREATE TYPE gaming_platform AS ENUM ('pc', 'playstation', 'xbox', 'switch', 'mobile');

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    handle       text NOT NULL,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    CONSTRAINT users_handle_format CHECK (handle ~ '^[a-z0-9_]{3,24}$'),
    CONSTRAINT users_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 50)
);
CREATE UNIQUE INDEX users_handle_key ON users (handle);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE profiles (
    user_id           uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    bio               text NOT NULL DEFAULT '',
    avatar_key        text,
    banner_key        text,
    country           char(2),
    favorite_platform gaming_platform,
    games             text[] NOT NULL DEFAULT '{}',
    links             jsonb NOT NULL DEFAULT '{}',
    is_private        boolean NOT NULL DEFAULT false,
    CONSTRAINT profiles_bio_length CHECK (char_length(bio) <= 280),
    CONSTRAINT profiles_country_format CHECK (country IS NULL OR country ~ '^[A-Z]{2}$')
);

CREATE TABLE follows (
    follower_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_followee_idx ON follows (followee_id);
