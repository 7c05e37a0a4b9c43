-- Verifications of all keys per UTC hour and outcome, for the dashboard: its charts read
-- at most 720 rows here instead of every key's rows in key_usage. The usage flusher adds
-- to both tables in one transaction, so they always agree.
CREATE TABLE usage_totals (
    bucket         timestamptz PRIMARY KEY CHECK (bucket = date_trunc('hour', bucket, 'UTC')),
    valid          bigint      NOT NULL DEFAULT 0 CHECK (valid >= 0),
    rate_limited   bigint      NOT NULL DEFAULT 0 CHECK (rate_limited >= 0),
    quota_exceeded bigint      NOT NULL DEFAULT 0 CHECK (quota_exceeded >= 0),
    forbidden      bigint      NOT NULL DEFAULT 0 CHECK (forbidden >= 0),
    other          bigint      NOT NULL DEFAULT 0 CHECK (other >= 0)
);

INSERT INTO usage_totals (bucket, valid, rate_limited, quota_exceeded, forbidden, other)
SELECT bucket, sum(valid), sum(rate_limited), sum(quota_exceeded), sum(forbidden), sum(other)
FROM key_usage
GROUP BY bucket;

-- The same per owner, for an owner's dashboard (their keys' rows are spread over the
-- whole of key_usage; these are at most 720 rows per owner). A key never changes owner.
CREATE TABLE owner_usage (
    owner_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bucket         timestamptz NOT NULL CHECK (bucket = date_trunc('hour', bucket, 'UTC')),
    valid          bigint      NOT NULL DEFAULT 0 CHECK (valid >= 0),
    rate_limited   bigint      NOT NULL DEFAULT 0 CHECK (rate_limited >= 0),
    quota_exceeded bigint      NOT NULL DEFAULT 0 CHECK (quota_exceeded >= 0),
    forbidden      bigint      NOT NULL DEFAULT 0 CHECK (forbidden >= 0),
    other          bigint      NOT NULL DEFAULT 0 CHECK (other >= 0),
    PRIMARY KEY (owner_id, bucket)
);

INSERT INTO owner_usage (owner_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
SELECT k.owner_id, u.bucket, sum(u.valid), sum(u.rate_limited), sum(u.quota_exceeded),
       sum(u.forbidden), sum(u.other)
FROM key_usage u JOIN keys k ON k.id = u.key_id
GROUP BY k.owner_id, u.bucket;

-- "Quotas above 80%": only live keys with a quota are looked at.
CREATE INDEX keys_quota_idx ON keys (id) WHERE quota_limit IS NOT NULL AND revoked_at IS NULL;

-- "Top keys by traffic": the last day's rows of key_usage, read from the index alone.
DROP INDEX key_usage_bucket_idx;
CREATE INDEX key_usage_bucket_idx ON key_usage (bucket)
    INCLUDE (key_id, valid, rate_limited, quota_exceeded, forbidden, other);
