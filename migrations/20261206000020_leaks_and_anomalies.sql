-- Leaked keys and unusual use (issue 21).
--
-- A leak report (GitHub secret scanning, or a scanner holding a leak-reporter token)
-- that names a live key, and each unusual pattern the detector finds in a key's usage,
-- becomes a finding on the key: shown on its page and the overview until someone
-- acknowledges it. What Locksmith does on its own is each keyspace's policy.

-- What happens to a key reported as leaked, and to a key with a high-severity finding.
ALTER TABLE keyspaces
    ADD COLUMN leak_action    text NOT NULL DEFAULT 'notify'
                              CHECK (leak_action IN ('notify', 'disable', 'revoke')),
    ADD COLUMN anomaly_action text NOT NULL DEFAULT 'notify'
                              CHECK (anomaly_action IN ('notify', 'disable'));

-- Tokens of scanners (or people) that report leaked keys with `POST /v1/leaks`. Like
-- verifier tokens: issued by an admin, shown once, kept as a peppered digest.
CREATE TABLE leak_reporters (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    start        text        NOT NULL,
    digest       bytea       NOT NULL CHECK (length(digest) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid        REFERENCES users (id) ON DELETE SET NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX leak_reporters_digest_key ON leak_reporters (digest);
CREATE INDEX leak_reporters_created_idx ON leak_reporters (created_at, id);

-- The networks (the /24 of an IPv4 address, the /48 of an IPv6 one) each key was used
-- from, hour by hour: counted in memory on the hot path and written with the usage
-- batches, never one row per verification. Kept as long as the detector looks back.
CREATE TABLE key_networks (
    key_id   uuid        NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    bucket   timestamptz NOT NULL CHECK (bucket = date_trunc('hour', bucket, 'UTC')),
    network  cidr        NOT NULL CHECK (masklen(network) IN (24, 48)),
    requests bigint      NOT NULL CHECK (requests > 0),
    PRIMARY KEY (key_id, bucket, network)
);
CREATE INDEX key_networks_bucket_idx ON key_networks (bucket);

-- Findings: a leak report or an unusual pattern, on one key. `dedupe` names what makes
-- two detections the same finding (the reported URL, the hour of a spike), so that
-- every instance and every evaluation records a finding once.
CREATE TABLE key_findings (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    key_id          uuid        NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    kind            text        NOT NULL CHECK (kind IN ('leaked', 'new_network', 'many_networks',
                                'volume_spike', 'refusal_surge', 'late_rotation_use')),
    severity        text        NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL CHECK (window_end >= window_start),
    evidence        jsonb       NOT NULL DEFAULT '{}'
                                CHECK (jsonb_typeof(evidence) = 'object' AND octet_length(evidence::text) <= 16384),
    dedupe          text        NOT NULL CHECK (char_length(dedupe) <= 2100),
    -- What the keyspace's policy did to the key when the finding was made.
    action          text        NOT NULL DEFAULT 'none' CHECK (action IN ('none', 'disabled', 'revoked')),
    detected_at     timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz,
    acknowledged_by uuid        REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT key_findings_acknowledger CHECK (acknowledged_by IS NULL OR acknowledged_at IS NOT NULL),
    UNIQUE (key_id, kind, dedupe)
);
CREATE INDEX key_findings_detected_idx ON key_findings (detected_at DESC, id DESC);
CREATE INDEX key_findings_open_idx ON key_findings (detected_at DESC, id DESC) WHERE acknowledged_at IS NULL;
CREATE INDEX key_findings_key_idx ON key_findings (key_id, detected_at DESC, id DESC);
