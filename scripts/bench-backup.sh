#!/usr/bin/env bash
# Backup and restore at scale: migrates a scratch database with `locksmith migrate`,
# seeds it like scripts/bench-dashboard.sh (100 000 keys, ~10 million hourly usage rows:
# a month of traffic), then times `locksmith backup` and `locksmith restore` into a new
# database, and prints the sizes. Keeps the seeded database for a second run
# (BENCH_RESEED=1 seeds it again).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres
trap stop_private_test_cluster EXIT
bin="${LOCKSMITH_BENCH_BIN:-target/release/locksmith}"
[ -x "$bin" ] || cargo build --release -p locksmith-server --bin locksmith
seed="locksmith_backup_seed"
target="locksmith_backup_restored"
server="${DATABASE_URL%/*}"
export LOCKSMITH_KEY_PEPPER="bench-key-pepper-0123456789abcdefghijk"
export LOCKSMITH_JWT_SECRET="bench-jwt-secret-0123456789abcdefghijkl"
export LOCKSMITH_SESSION_SECRET="bench-session-secret-0123456789abcdef"
export LOCKSMITH_LOG=warn
exists=$(psql "$DATABASE_URL" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$seed'")
if [ -z "$exists" ] || [ "${BENCH_RESEED:-0}" = 1 ]; then
    echo "[bench-backup] seeding $seed (100k keys, ~10M usage rows)"
    psql "$DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $seed WITH (FORCE)" -c "CREATE DATABASE $seed" >/dev/null
    DATABASE_URL="$server/$seed" "$bin" migrate
    psql "$server/$seed" -q -f scripts/sql/seed-large.sql
fi
psql "$DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $target WITH (FORCE)" -c "CREATE DATABASE $target" >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"; psql "$DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $target WITH (FORCE)" >/dev/null; stop_private_test_cluster' EXIT
keys=$(psql "$server/$seed" -qAtc "SELECT count(*) FROM keys")
usage=$(psql "$server/$seed" -qAtc "SELECT count(*) FROM key_usage")
size=$(psql "$server/$seed" -qAtc "SELECT pg_size_pretty(pg_database_size('$seed'))")
start=$(date +%s.%N)
DATABASE_URL="$server/$seed" "$bin" backup --to "$dir/backup"
backed=$(date +%s.%N)
DATABASE_URL="$server/$target" "$bin" restore --from "$dir/backup"
restored=$(date +%s.%N)
dump=$(du -h "$dir/backup/database.dump" | cut -f1)
printf 'backup | %s keys, %s usage rows, database %s, dump %s\n' "$keys" "$usage" "$size" "$dump"
awk -v a="$start" -v b="$backed" -v c="$restored" \
    'BEGIN { printf "backup | backup %.1f s, restore %.1f s (migrations and audit check included)\n", b - a, c - b }'
