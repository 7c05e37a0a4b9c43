-- The keys list: optional filters, search, a choice of order and keyset pagination.
-- A null parameter switches its filter off. Locksmith's connections plan every execution
-- with its parameters (plan_cache_mode = force_custom_plan), so the unused filters fold
-- away, and so do the order's unused CASE arms: `CASE WHEN false THEN x END` is a
-- constant, which the planner drops from the sort, and `CASE WHEN true THEN x END` is
-- `x`. Each order is then a plain index scan (see scripts/bench-key-list.sh, and the
-- plan test in `list_plans.rs`).
-- Keys never used or never expiring sort as -infinity and infinity: the same
-- expressions as the indexes of migration 8.
-- The status conditions mirror `KeyStatus::derive` (a test holds them together).
-- $1 now, $2 keyspace_id, $3 owner_id, $4 status, $5 name pattern (ILIKE),
-- $6 start pattern (LIKE), $7 sort column (created, name, last_used, expires),
-- $8 descending, $9/$10/$11 cursor (the previous page's last row: its name or its time,
-- and its id; $11 null = the first page), $12 limit, $13 live keys only (active or
-- disabled: neither revoked nor expired).
SELECT id, keyspace_id, owner_id, name, start, enabled, scopes, ip_allowlist, meta,
       expires_at, created_at, created_by, last_used_at, revoked_at, revoked_reason,
       rotated_from, rotated_to, quota_limit, quota_period AS "quota_period: QuotaPeriod",
       quota_used, quota_period_start, rate_limit, rate_window_secs, generation,
       grace_ends_at, own_expires_at
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
  AND (NOT $13::bool OR (revoked_at IS NULL
                         AND (NOT enabled OR expires_at IS NULL OR expires_at > $1::timestamptz)))
  AND ($11::uuid IS NULL
       OR ($7::text = 'created' AND $8::bool AND (created_at, id) < ($10::timestamptz, $11))
       OR ($7 = 'created' AND NOT $8 AND (created_at, id) > ($10, $11))
       OR ($7 = 'name' AND $8 AND (name, id) < ($9::text, $11))
       OR ($7 = 'name' AND NOT $8 AND (name, id) > ($9, $11))
       OR ($7 = 'last_used' AND $8
           AND (COALESCE(last_used_at, '-infinity'), id) < (COALESCE($10, '-infinity'), $11))
       OR ($7 = 'last_used' AND NOT $8
           AND (COALESCE(last_used_at, '-infinity'), id) > (COALESCE($10, '-infinity'), $11))
       OR ($7 = 'expires' AND $8
           AND (COALESCE(expires_at, 'infinity'), id) < (COALESCE($10, 'infinity'), $11))
       OR ($7 = 'expires' AND NOT $8
           AND (COALESCE(expires_at, 'infinity'), id) > (COALESCE($10, 'infinity'), $11)))
ORDER BY CASE WHEN $7 = 'created' AND $8 THEN created_at END DESC,
         CASE WHEN $7 = 'created' AND NOT $8 THEN created_at END,
         CASE WHEN $7 = 'name' AND $8 THEN name END DESC,
         CASE WHEN $7 = 'name' AND NOT $8 THEN name END,
         CASE WHEN $7 = 'last_used' AND $8 THEN COALESCE(last_used_at, '-infinity') END DESC,
         CASE WHEN $7 = 'last_used' AND NOT $8 THEN COALESCE(last_used_at, '-infinity') END,
         CASE WHEN $7 = 'expires' AND $8 THEN COALESCE(expires_at, 'infinity') END DESC,
         CASE WHEN $7 = 'expires' AND NOT $8 THEN COALESCE(expires_at, 'infinity') END,
         CASE WHEN $8 THEN id END DESC,
         CASE WHEN NOT $8 THEN id END
LIMIT $12
