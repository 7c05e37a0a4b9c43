#!/usr/bin/env bash
# The keys list at 1,000,000 keys: seeds a scratch database (through #[sqlx::test], so it
# is dropped afterwards) and prints, for every filter shape and order of GET /v1/keys, the plan's
# access path and the median server-side execution time of 7 runs (EXPLAIN ANALYZE of the
# exact statement in core/queries/keys_list.sql, planned with its parameters as Locksmith's
# connections do). Needs PostgreSQL like the test suite: DATABASE_URL, the local server,
# or a throwaway cluster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres
trap stop_private_test_cluster EXIT
cargo test -p locksmith-core --lib keys::list_plans::bench_list_at_one_million_keys \
    -- --ignored --nocapture --exact 2>&1 | grep -E '^(keys list|\|)'
