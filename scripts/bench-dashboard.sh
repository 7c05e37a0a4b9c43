#!/usr/bin/env bash
# The dashboard at scale: seeds a scratch database with 100 000 keys and about 10 million
# hourly usage rows (scripts/sql/seed-large.sql, a few minutes), then prints the server
# time of one dashboard, cold and warm, for an admin and for an owner. Needs PostgreSQL
# like the test suite: DATABASE_URL, the local server, or a throwaway cluster. Keeps the
# database (locksmith_seed) for a second run; BENCH_RESEED=1 seeds it again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres
trap stop_private_test_cluster EXIT
seed="locksmith_seed"
url="${DATABASE_URL%/*}/$seed"
exists=$(psql "$DATABASE_URL" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$seed'")
if [ -z "$exists" ] || [ "${BENCH_RESEED:-0}" = 1 ]; then
    echo "[bench-dashboard] seeding $seed (100k keys, ~10M usage rows)"
    psql "$DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $seed WITH (FORCE)" -c "CREATE DATABASE $seed" >/dev/null
    for migration in migrations/*.sql; do psql "$url" -q -v ON_ERROR_STOP=1 -f "$migration" >/dev/null; done
    psql "$url" -q -f scripts/sql/seed-large.sql
fi
LOCKSMITH_BENCH_DATABASE_URL="$url" cargo test -p locksmith-core --lib dashboard::bench \
    -- --ignored --nocapture 2>&1 | grep -E '^(dashboard|\|)'
