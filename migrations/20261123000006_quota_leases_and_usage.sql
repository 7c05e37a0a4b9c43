-- Quota leases and usage counters for verification.
--
-- Quotas: each instance leases blocks of credit from a key's quota and spends them in
-- memory, so a busy key costs one write per block instead of one per verification.
-- `quota_used` counts credit spent or leased; unused credit is given back when a lease
-- expires or the instance stops. A key rotated with a grace period charges its
-- successor's quota (the end of its `rotated_to` chain), so the two keys together never
-- spend more than one quota.

-- When the period containing `at` began (the Unix epoch for `total`), in UTC; the same
-- rule as `QuotaPeriod::start` in core.
CREATE FUNCTION locksmith_quota_period_start(period quota_period, at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE period
        WHEN 'day' THEN date_trunc('day', at, 'UTC')
        WHEN 'month' THEN date_trunc('month', at, 'UTC')
        ELSE timestamptz '1970-01-01 00:00:00+00'
    END
$$;

-- Variables are prefixed `v_` so that none can be mistaken for a column.
-- Leases up to `want` credits (at least `need`, or nothing) for verifications of
-- `key_id` at `at`. The row of the key that pays is locked for the update, so
-- concurrent leases from any number of instances never hand out more than the limit.
-- Returns one row when the paying key has a quota (`granted` is 0 when fewer than `need`
-- credits are left) and no row when it has none.
CREATE FUNCTION locksmith_lease_quota(key_id uuid, want bigint, need bigint, at timestamptz)
RETURNS TABLE (
    account uuid,
    quota_limit bigint,
    quota_period quota_period,
    period_start timestamptz,
    used bigint,
    granted bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_payer uuid := key_id;
    v_successor uuid;
    v_hops int := 0;
    v_key keys%ROWTYPE;
    v_start timestamptz;
    v_spent bigint;
    v_grant bigint;
    v_left bigint;
BEGIN
    LOOP
        -- Follow rotations to the newest key (bounded, in case of a damaged chain).
        LOOP
            SELECT rotated_to INTO v_successor FROM keys WHERE id = v_payer;
            EXIT WHEN v_successor IS NULL OR v_hops >= 32;
            v_payer := v_successor;
            v_hops := v_hops + 1;
        END LOOP;
        SELECT * INTO v_key FROM keys WHERE id = v_payer FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        -- Rotated while this call waited for the lock: the successor pays.
        EXIT WHEN v_key.rotated_to IS NULL OR v_hops >= 32;
        v_payer := v_key.rotated_to;
        v_hops := v_hops + 1;
    END LOOP;
    IF v_key.quota_limit IS NULL THEN
        RETURN;
    END IF;
    v_start := locksmith_quota_period_start(v_key.quota_period, at);
    -- An instance whose clock runs behind never moves the period back (which would
    -- start it again from 0).
    IF v_key.quota_period_start > v_start THEN
        v_start := v_key.quota_period_start;
    END IF;
    v_spent := CASE WHEN v_key.quota_period_start = v_start THEN v_key.quota_used ELSE 0 END;
    v_left := v_key.quota_limit - v_spent;
    -- At most an eighth of what is left (but at least `need`), so that a nearly spent
    -- quota is shared between instances rather than taken by one.
    v_grant := LEAST(want, GREATEST(need, v_left / 8), v_left);
    IF v_grant < need OR v_grant < 0 THEN
        v_grant := 0;
    END IF;
    IF v_grant > 0 OR v_spent <> v_key.quota_used OR v_key.quota_period_start IS DISTINCT FROM v_start THEN
        UPDATE keys SET quota_used = v_spent + v_grant, quota_period_start = v_start
        WHERE id = v_payer;
    END IF;
    RETURN QUERY SELECT v_payer, v_key.quota_limit, v_key.quota_period, v_start, v_spent + v_grant, v_grant;
END;
$$;

-- Verifications per key, outcome and hour, written in batches by each instance (at most
-- once a second, and when it stops). Day totals are sums of the hours of a UTC day.
CREATE TABLE key_usage (
    key_id         uuid        NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    bucket         timestamptz NOT NULL CHECK (bucket = date_trunc('hour', bucket, 'UTC')),
    valid          bigint      NOT NULL DEFAULT 0 CHECK (valid >= 0),
    rate_limited   bigint      NOT NULL DEFAULT 0 CHECK (rate_limited >= 0),
    quota_exceeded bigint      NOT NULL DEFAULT 0 CHECK (quota_exceeded >= 0),
    forbidden      bigint      NOT NULL DEFAULT 0 CHECK (forbidden >= 0),
    other          bigint      NOT NULL DEFAULT 0 CHECK (other >= 0),
    PRIMARY KEY (key_id, bucket)
);

-- The dashboard's "last 24 hours / 30 days" across all keys.
CREATE INDEX key_usage_bucket_idx ON key_usage (bucket);
