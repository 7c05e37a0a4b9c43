-- The limits an admin sets on an owner's keys: the quota, rate limit and lifetime their
-- keys get (and may not exceed), and whether the owner may change them at all (by
-- default not: the admin's values are shown to the owner read-only).
ALTER TABLE users
    ADD COLUMN max_quota_limit       bigint   CHECK (max_quota_limit > 0),
    ADD COLUMN max_quota_period      quota_period,
    ADD COLUMN max_rate_limit        integer  CHECK (max_rate_limit > 0),
    ADD COLUMN max_rate_window_secs  integer  CHECK (max_rate_window_secs BETWEEN 1 AND 86400),
    ADD COLUMN max_key_lifetime_secs bigint   CHECK (max_key_lifetime_secs > 0),
    ADD COLUMN may_change_limits     boolean  NOT NULL DEFAULT false,
    ADD CONSTRAINT users_max_quota_complete
        CHECK ((max_quota_limit IS NULL) = (max_quota_period IS NULL)),
    ADD CONSTRAINT users_max_rate_complete
        CHECK ((max_rate_limit IS NULL) = (max_rate_window_secs IS NULL));

-- A rotation's grace period no longer overwrites the old key's own expiry. `expires_at`
-- stays the moment the key stops working (what verification reads): the earlier of its
-- own expiry and the grace end. `grace_ends_at` is set on the old key of a rotation and
-- `own_expires_at` then keeps the key's own expiry (null: it had none).
ALTER TABLE keys
    ADD COLUMN grace_ends_at  timestamptz,
    ADD COLUMN own_expires_at timestamptz,
    ADD CONSTRAINT keys_own_expiry_needs_grace
        CHECK (own_expires_at IS NULL OR grace_ends_at IS NOT NULL);
-- Keys rotated before this migration: the grace end was written over `expires_at`; it is
-- the grace end they keep. Their own expiry was written over too, but the new key of the
-- rotation inherited it: that is the best record of it (null: it had none).
UPDATE keys k
SET grace_ends_at = k.expires_at, own_expires_at = s.expires_at
FROM keys s
WHERE s.id = k.rotated_to AND k.expires_at IS NOT NULL;

-- The portal's keys list shows keys that are not revoked (nor expired) by default.
CREATE INDEX keys_unrevoked_created_idx ON keys (created_at, id) WHERE revoked_at IS NULL;
