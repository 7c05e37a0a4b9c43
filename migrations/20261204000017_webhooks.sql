-- Webhooks (core/src/webhooks): endpoints that subscribe to the event log, and one
-- durable delivery per (event, endpoint).

-- Events that no change caused (`key.expiring`, `webhook.disabled` after failures...)
-- have no audit row of their own.
ALTER TABLE events ALTER COLUMN audit_id DROP NOT NULL;
-- The endpoint a `webhook.*` event is about (a test goes to it alone).
ALTER TABLE events ADD COLUMN webhook_id uuid;

CREATE TABLE webhooks (
    id              uuid        PRIMARY KEY,
    url             text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    -- The event types it receives; NULL: every type.
    event_types     text[],
    -- Only events of this keyspace; NULL: every keyspace.
    keyspace_id     uuid        REFERENCES keyspaces (id),
    -- An owner's endpoint receives only events of that owner's keys; NULL: an
    -- installation endpoint (created by an admin), which receives every event.
    owner_id        uuid        REFERENCES users (id),
    enabled         boolean     NOT NULL DEFAULT true,
    -- Why it was switched off by Locksmith (a 410, days of failures); NULL otherwise.
    disabled_reason text,
    -- Since when every attempt has failed; NULL after a success.
    failing_since   timestamptz,
    -- The signing secret, encrypted (XChaCha20-Poly1305 with a key derived from the
    -- key pepper); during a rotation's overlap the previous one is still sent.
    secret          bytea       NOT NULL,
    previous_secret bytea,
    previous_secret_until timestamptz,
    created_by      uuid,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (previous_secret IS NULL OR previous_secret_until IS NOT NULL)
);

CREATE INDEX webhooks_owner_idx ON webhooks (owner_id, created_at);

CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY,
    webhook_id      uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_position  bigint      NOT NULL,
    -- The `webhook-id` header: the event's id, the same on every attempt.
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    -- pending (waiting for its next attempt, or being attempted), delivered, or failed
    -- (every attempt failed, or the endpoint answered 410).
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    -- When a pending delivery may be attempted; a claimed attempt moves it past the
    -- attempt's timeout (a lease), so a crashed sender's attempt is taken up again.
    next_attempt_at timestamptz,
    last_attempt_at timestamptz,
    response_status integer,
    latency_ms      integer,
    -- The first KiB of the last answer, or why there was none.
    response_body   text,
    error           text,
    created_at      timestamptz NOT NULL,
    UNIQUE (webhook_id, event_id)
);

-- The head of each endpoint's queue, and the claim's scan.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (webhook_id, event_position)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, created_at DESC, id DESC);

-- Every attempt of a delivery, for its log.
CREATE TABLE webhook_attempts (
    delivery_id     uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         integer     NOT NULL,
    at              timestamptz NOT NULL,
    response_status integer,
    latency_ms      integer     NOT NULL,
    error           text,
    PRIMARY KEY (delivery_id, attempt)
);

-- How far each consumer of the event log (the webhook fan-out, the email fan-out) has
-- read it. A consumer's row is locked by the instance that reads on, so instances take
-- turns and never fan out twice.
CREATE TABLE event_consumers (
    name     text   PRIMARY KEY,
    position bigint NOT NULL
);
-- Consumers receive what happens from now on, not the history before this migration.
INSERT INTO event_consumers (name, position)
SELECT consumer, coalesce(max(position), 0)
FROM (VALUES ('webhooks'), ('notifications')) AS c(consumer) LEFT JOIN events ON true
GROUP BY consumer;

-- Lifecycle events no change causes (core/src/lifecycle): one row per reminder sent, so
-- each is sent once across restarts and instances. `moment` is what the reminder is
-- about (the expiry, the grace end, the quota period's start): a moved expiry is a new
-- moment, and re-arms its reminders.
CREATE TABLE key_reminders (
    key_id  uuid        NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    -- expiring:<seconds before>, expired, grace_ending, quota:<percent>
    kind    text        NOT NULL,
    moment  timestamptz NOT NULL,
    sent_at timestamptz NOT NULL,
    PRIMARY KEY (key_id, kind, moment)
);
-- The minute's checks read keys by expiry (keys_expires_idx), by quota (keys_quota_idx)
-- and, here, by the end of a rotation's grace.
CREATE INDEX keys_grace_idx ON keys (grace_ends_at)
    WHERE grace_ends_at IS NOT NULL AND revoked_at IS NULL;

-- Email notifications (core/src/notify): a per-user preference, and one durable
-- notification per (event, recipient), sent through SMTP when it is configured.
ALTER TABLE users ADD COLUMN notify_email boolean NOT NULL DEFAULT true;

CREATE TABLE notifications (
    id              uuid        PRIMARY KEY,
    event_id        uuid        NOT NULL,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_type      text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    sent_at         timestamptz,
    error           text,
    created_at      timestamptz NOT NULL,
    UNIQUE (event_id, user_id)
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'pending';
