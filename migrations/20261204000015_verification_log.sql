-- "Why is my key failing?": the last verifications of each key (time, answer, the
-- caller's address and the verifier that asked), written in batches off the hot path
-- and trimmed to the newest N per key on every write (N is a setting), so the table
-- stays bounded by the number of keys.
CREATE TABLE verification_log (
    id          bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id      uuid         NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    at          timestamptz  NOT NULL,
    code        text         NOT NULL CHECK (code IN ('REVOKED', 'DISABLED', 'EXPIRED',
                             'FORBIDDEN_IP', 'INSUFFICIENT_SCOPES', 'RATE_LIMITED',
                             'QUOTA_EXCEEDED', 'VALID')),
    client_ip   inet,
    -- Verifiers are revoked, never deleted; no foreign key, so a write checks nothing.
    verifier_id uuid         NOT NULL
);
CREATE INDEX verification_log_key_idx ON verification_log (key_id, id);

-- Each verifier's traffic, hour by hour (every request it made, whatever the answer).
CREATE TABLE verifier_usage (
    verifier_id uuid        NOT NULL REFERENCES verifiers (id) ON DELETE CASCADE,
    bucket      timestamptz NOT NULL,
    requests    bigint      NOT NULL DEFAULT 0 CHECK (requests >= 0),
    PRIMARY KEY (verifier_id, bucket)
);
