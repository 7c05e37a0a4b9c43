-- The keys list: optional filters, search and keyset pagination, newest first.
-- A null parameter switches its filter off. Locksmith's connections plan every execution
-- with its parameters (plan_cache_mode = force_custom_plan), so the unused filters fold
-- away and each filter shape gets its own index (see scripts/bench-key-list.sh).
-- The status conditions mirror `KeyStatus::derive` (a test holds them together).
-- $1 now, $2 keyspace_id, $3 owner_id, $4 status, $5 name pattern (ILIKE),
-- $6 start pattern (LIKE), $7/$8 cursor (created_at, id), $9 limit.
SELECT id, keyspace_id, owner_id, name, start, enabled, scopes, ip_allowlist, meta,
       expires_at, created_at, created_by, last_used_at, revoked_at, revoked_reason,
       rotated_from, rotated_to, quota_limit, quota_period AS "quota_period: QuotaPeriod",
       quota_used, quota_period_start, rate_limit, rate_window_secs, generation
FROM keys
WHERE ($2::uuid IS NULL OR keyspace_id = $2)
  AND ($3::uuid IS NULL OR owner_id = $3)
  AND ($4::text IS NULL
       OR ($4 = 'revoked' AND revoked_at IS NOT NULL)
       OR ($4 = 'disabled' AND revoked_at IS NULL AND NOT enabled)
       OR ($4 = 'expired' AND revoked_at IS NULL AND enabled AND expires_at <= $1::timestamptz)
       OR ($4 = 'active' AND revoked_at IS NULL AND enabled
           AND (expires_at IS NULL OR expires_at > $1::timestamptz)))
  AND ($5::text IS NULL OR name ILIKE $5 OR start LIKE $6::text)
  AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $9
