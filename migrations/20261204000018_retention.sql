-- Retention (core/src/retention) and archived audit segments.

-- Where the folding of hourly usage into daily sums has reached: every day before it
-- holds one row per key (and per owner, and one in the totals) at its midnight.
CREATE TABLE retention_state (
    singleton           boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    usage_folded_before timestamptz
);
INSERT INTO retention_state DEFAULT VALUES;

-- The last row of the audit trail's archived segments (`locksmith audit archive`): the
-- chain of what remains starts from its hash instead of the genesis.
CREATE TABLE audit_anchor (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id     bigint      NOT NULL,
    last_hash   bytea       NOT NULL CHECK (length(last_hash) = 32),
    last_at     timestamptz NOT NULL,
    archived    bigint      NOT NULL,
    archived_at timestamptz NOT NULL
);

-- The trail stays append-only, except that rows at or before the anchor, archived and
-- checked by `locksmith audit archive` in the transaction that moved the anchor, may go.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.id <= (SELECT last_id FROM audit_anchor) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- What retention deletes by age.
CREATE INDEX webhook_deliveries_done_idx ON webhook_deliveries (created_at)
    WHERE status <> 'pending';
CREATE INDEX notifications_done_idx ON notifications (created_at) WHERE status <> 'pending';
CREATE INDEX events_occurred_idx ON events (occurred_at);
CREATE INDEX keys_dead_idx ON keys ((LEAST(revoked_at, expires_at, grace_ends_at)))
    WHERE revoked_at IS NOT NULL OR expires_at IS NOT NULL OR grace_ends_at IS NOT NULL;
