-- Keyspaces, their verifier tokens and API keys.
--
-- Secrets are never stored: keys and verifier tokens are kept as HMAC-SHA-256 digests
-- under a server-side pepper, so a database dump alone cannot test candidate keys.
-- Constraints make invalid states unrepresentable; the key status (active, disabled,
-- revoked, expired) is derived from the columns, never stored.

-- Trigram search on key names (`?q=`). pg_trgm is a trusted extension (PostgreSQL 13+),
-- so the database owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE keyspaces (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    prefix     text        NOT NULL CHECK (prefix ~ '^[a-z0-9]{2,12}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid        REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX keyspaces_prefix_key ON keyspaces (prefix);
CREATE UNIQUE INDEX keyspaces_name_lower_key ON keyspaces (lower(name));
CREATE INDEX keyspaces_created_at_id_idx ON keyspaces (created_at, id);

CREATE TABLE verifiers (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    keyspace_id  uuid        NOT NULL REFERENCES keyspaces (id),
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The first characters of the token, to recognise it in lists.
    start        text        NOT NULL,
    digest       bytea       NOT NULL CHECK (length(digest) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid        REFERENCES users (id) ON DELETE SET NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX verifiers_digest_key ON verifiers (digest);
CREATE INDEX verifiers_keyspace_idx ON verifiers (keyspace_id, created_at, id);

CREATE TYPE quota_period AS ENUM ('day', 'month', 'total');

CREATE TABLE keys (
    id                 uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    keyspace_id        uuid         NOT NULL REFERENCES keyspaces (id),
    owner_id           uuid         NOT NULL REFERENCES users (id),
    name               text         NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    -- `<prefix>_` plus the first 4 characters of the body: safe to show and to search.
    start              text         NOT NULL CHECK (start ~ '^[a-z0-9]{2,12}_[A-Za-z0-9]{4}$'),
    digest             bytea        NOT NULL CHECK (length(digest) = 32),
    enabled            boolean      NOT NULL DEFAULT true,
    scopes             text[]       NOT NULL DEFAULT '{}',
    -- Canonical addresses and networks (`203.0.113.7`, `10.0.0.0/8`), validated by the
    -- application; empty means any address.
    ip_allowlist       text[]       NOT NULL DEFAULT '{}',
    -- The application allows 4 KiB as sent; PostgreSQL's text form can be larger (it
    -- writes decimals out in full), hence the looser bound here.
    meta               jsonb        NOT NULL DEFAULT '{}'
                                    CHECK (jsonb_typeof(meta) = 'object' AND octet_length(meta::text) <= 65536),
    expires_at         timestamptz,
    created_at         timestamptz  NOT NULL DEFAULT now(),
    created_by         uuid         REFERENCES users (id) ON DELETE SET NULL,
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    last_used_at       timestamptz,
    revoked_at         timestamptz,
    revoked_reason     text         CHECK (char_length(revoked_reason) <= 500),
    rotated_from       uuid         REFERENCES keys (id),
    rotated_to         uuid         REFERENCES keys (id),
    quota_limit        bigint       CHECK (quota_limit > 0),
    quota_period       quota_period,
    -- Credit spent in the period that started at `quota_period_start`; an older start
    -- means a new period has begun and nothing is spent yet.
    quota_used         bigint       NOT NULL DEFAULT 0 CHECK (quota_used >= 0),
    quota_period_start timestamptz,
    rate_limit         integer      CHECK (rate_limit > 0),
    rate_window_secs   integer      CHECK (rate_window_secs BETWEEN 1 AND 86400),
    -- Bumped by every change, so caches can refuse a stale read (verification).
    generation         bigint       NOT NULL DEFAULT 0,
    CONSTRAINT keys_quota_complete CHECK ((quota_limit IS NULL) = (quota_period IS NULL)),
    CONSTRAINT keys_quota_period_start CHECK (quota_limit IS NULL OR quota_period_start IS NOT NULL),
    CONSTRAINT keys_rate_limit_complete CHECK ((rate_limit IS NULL) = (rate_window_secs IS NULL)),
    CONSTRAINT keys_reason_needs_revocation CHECK (revoked_reason IS NULL OR revoked_at IS NOT NULL),
    CONSTRAINT keys_not_rotated_to_itself CHECK (rotated_from <> id AND rotated_to <> id)
);
-- The verification lookup.
CREATE UNIQUE INDEX keys_digest_key ON keys (digest);
-- The list page: newest first, by itself or within one keyspace or owner.
-- (Scanned backwards; the cursor is a row comparison on (created_at, id).)
CREATE INDEX keys_created_idx ON keys (created_at, id);
CREATE INDEX keys_keyspace_created_idx ON keys (keyspace_id, created_at, id);
CREATE INDEX keys_owner_created_idx ON keys (owner_id, created_at, id);
-- Status filters for the rarer states (active keys are the bulk and use the indexes above).
CREATE INDEX keys_revoked_idx ON keys (created_at, id) WHERE revoked_at IS NOT NULL;
CREATE INDEX keys_disabled_idx ON keys (created_at, id) WHERE NOT enabled AND revoked_at IS NULL;
CREATE INDEX keys_expires_idx ON keys (expires_at) WHERE expires_at IS NOT NULL AND revoked_at IS NULL;
-- `?q=`: a name substring (trigram) or a start prefix.
CREATE INDEX keys_name_trgm_idx ON keys USING gin (name gin_trgm_ops);
CREATE INDEX keys_start_idx ON keys (start text_pattern_ops);
-- Owner policy (`max_keys`) counts live keys of one owner.
CREATE INDEX keys_owner_live_idx ON keys (owner_id) WHERE revoked_at IS NULL;
-- Rotation links.
CREATE INDEX keys_rotated_from_idx ON keys (rotated_from) WHERE rotated_from IS NOT NULL;
