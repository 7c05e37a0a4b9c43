-- A large installation for measuring the dashboard: 200 owners, 10 keyspaces, 100 000
-- keys (2% disabled, 3% revoked, 5% expired, 1% expiring within 14 days, 10% with a
-- quota, some of them past 80%) and about 10 million rows of hourly usage over the last
-- 30 days, with the hourly totals the usage flusher keeps. Run it with psql against a
-- migrated, empty database (scripts/bench-dashboard.sh does).
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO users (email, password_hash, role)
SELECT 'owner' || g || '@seed.test', 'not-a-hash', 'owner' FROM generate_series(1, 200) g;
INSERT INTO users (email, password_hash, role) VALUES ('admin@seed.test', 'not-a-hash', 'admin');
INSERT INTO keyspaces (name, prefix)
SELECT 'Seed ' || g, 'seed' || g FROM generate_series(1, 10) g;
INSERT INTO keys (keyspace_id, owner_id, name, start, digest, enabled, expires_at, revoked_at,
                  created_at, quota_limit, quota_period, quota_used, quota_period_start)
SELECT ks.ids[1 + g % 10], us.ids[1 + g % 200],
       'seed key ' || g,
       'seed' || (1 + g % 10) || '_' || lpad(to_hex(g % 65536), 4, '0'),
       sha256(int8send(g)),
       g % 50 <> 0,
       CASE WHEN g % 20 = 0 THEN now() - interval '1 day'
            WHEN g % 100 = 1 THEN now() + make_interval(hours => g % 300)
            WHEN g % 7 = 0 THEN now() + interval '90 days' END,
       CASE WHEN g % 33 = 0 THEN now() END,
       now() - make_interval(secs => g * 20),
       CASE WHEN g % 10 = 3 THEN 100000 END,
       CASE WHEN g % 10 = 3 THEN 'month'::quota_period END,
       CASE WHEN g % 10 = 3 THEN (g * 7919) % 100000 ELSE 0 END,
       CASE WHEN g % 10 = 3 THEN locksmith_quota_period_start('month', now()) END
FROM generate_series(1, 100000) g,
     (SELECT array_agg(id ORDER BY name) AS ids FROM keyspaces) ks,
     (SELECT array_agg(id ORDER BY email) AS ids FROM users WHERE role = 'owner') us;
COMMIT;

-- Usage: each key is seen in one hour out of seven over 720 hours (about 10.3 M rows).
CREATE TEMP TABLE seed_keys AS
SELECT id, row_number() OVER (ORDER BY id) AS n FROM keys;
INSERT INTO key_usage (key_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
SELECT k.id, date_trunc('hour', now(), 'UTC') - make_interval(hours => h),
       1 + (k.n * 31 + h) % 200, (k.n + h) % 5, (k.n + h) % 11 / 10, (k.n + h) % 13 / 12, 0
FROM seed_keys k, generate_series(0, 719) h
WHERE (k.n + h) % 7 = 0;
INSERT INTO usage_totals (bucket, valid, rate_limited, quota_exceeded, forbidden, other)
SELECT bucket, sum(valid), sum(rate_limited), sum(quota_exceeded), sum(forbidden), sum(other)
FROM key_usage GROUP BY bucket;
INSERT INTO owner_usage (owner_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
SELECT k.owner_id, u.bucket, sum(u.valid), sum(u.rate_limited), sum(u.quota_exceeded),
       sum(u.forbidden), sum(u.other)
FROM key_usage u JOIN keys k ON k.id = u.key_id
GROUP BY k.owner_id, u.bucket;
VACUUM ANALYZE owner_usage;
VACUUM ANALYZE keys;
VACUUM ANALYZE key_usage;
VACUUM ANALYZE usage_totals;
