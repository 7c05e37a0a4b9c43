#!/usr/bin/env bash
# Refreshes .sqlx/, the compile-time query data, after a query or migration changed:
# applies the migrations to a scratch database and compiles with SQLX_OFFLINE_DIR set,
# which makes the sqlx macros record every query they check. It builds the test
# binaries (not just `cargo check`), so that the test run that follows reuses them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres
trap stop_private_test_cluster EXIT
scratch="locksmith_sqlx_prepare"
psql "$DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" -c "CREATE DATABASE $scratch" >/dev/null
url="${DATABASE_URL%/*}/$scratch"
for migration in migrations/*.sql; do psql "$url" -q -v ON_ERROR_STOP=1 -f "$migration" >/dev/null; done
rm -rf .sqlx && mkdir .sqlx
touch core/src/lib.rs app/src/lib.rs server/src/lib.rs
SQLX_OFFLINE=false DATABASE_URL="$url" SQLX_OFFLINE_DIR="$PWD/.sqlx" \
    cargo test --workspace --exclude locksmith-frontend --no-run
psql "$DATABASE_URL" -qAtc "DROP DATABASE $scratch WITH (FORCE)" >/dev/null
echo "[sqlx-prepare] $(ls .sqlx | wc -l) queries recorded in .sqlx/"
