-- The event log (core/src/events): a typed domain event for every committed change.
-- Positions are drawn while the audit chain's transaction lock is held, so they become
-- visible in increasing order (see the module's header).
CREATE SEQUENCE event_position AS bigint;

CREATE TABLE events (
    position    bigint      PRIMARY KEY,
    id          uuid        NOT NULL UNIQUE,
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor_id    uuid,
    -- The audit row of the change (no foreign key: an archived trail segment may leave).
    audit_id    bigint      NOT NULL,
    -- What subscribers filter by.
    key_id      uuid,
    owner_id    uuid,
    keyspace_id uuid,
    data        jsonb       NOT NULL
);

CREATE INDEX events_key_idx ON events (key_id, position) WHERE key_id IS NOT NULL;
CREATE INDEX events_owner_idx ON events (owner_id, position) WHERE owner_id IS NOT NULL;
