#!/usr/bin/env bash
# Soak: mixed load (verifications of valid, unknown and revoked keys; key management and
# the audit trail; portal pages) against one Locksmith on a scratch database, sampling
# its memory, open file descriptors, database connections, throughput and p99 latency
# every few seconds (scripts/soak.py). Fails on any failed request, or on memory,
# descriptors or connections that keep growing after warm-up.
#
#   scripts/soak.sh                          ten minutes against a release build
#   SOAK_SECONDS=45 scripts/soak.sh --debug  the short form scripts/test.sh runs
#   scripts/soak.sh --bin PATH               a binary built elsewhere
# Needs PostgreSQL like the test suite (DATABASE_URL, the local server, or a throwaway
# cluster).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres

if [ "${1:-}" = "--debug" ]; then
    bin=target/debug/locksmith
    [ -x "$bin" ] || cargo build --quiet -p locksmith-server --bin locksmith
elif [ "${1:-}" = "--bin" ]; then
    bin=$2
else
    echo "[soak] building locksmith (release)" >&2
    cargo build --release --quiet -p locksmith-server --bin locksmith
    bin=target/release/locksmith
fi

source scripts/lib/scratch-server.sh
# The load is the point here, not the throttles: management calls and unknown keys
# (1 in 20 verifications) would otherwise be answered 429 after their first minute.
export LOCKSMITH_API_RATE_LIMIT_PER_MINUTE=0 LOCKSMITH_VERIFY_UNKNOWN_KEYS_PER_MINUTE=0
start_scratch_server "$bin" soak
echo "[soak] $bin on $SCRATCH_BASE for ${SOAK_SECONDS:-600} s" >&2
SOAK_BASE=$SCRATCH_BASE SOAK_PID=$SCRATCH_PID SOAK_SECONDS=${SOAK_SECONDS:-600} \
    SOAK_DATABASE_URL=$SCRATCH_DATABASE_URL SOAK_ADMIN_TOKEN=$SCRATCH_TOKEN \
    SOAK_VERIFIER_TOKEN=$SCRATCH_VERIFIER SOAK_KEYSPACE_ID=$SCRATCH_KEYSPACE \
    python3 scripts/soak.py
