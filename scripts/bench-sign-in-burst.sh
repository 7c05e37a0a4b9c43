#!/usr/bin/env bash
# What a burst of sign-ins costs one instance, with the password checks bounded (the
# default: one per core, eight per core queued) and, as the baseline in the same run,
# unbounded (256 at once, 10 000 queued: every check goes straight to the blocking
# pool, as before the sign-in gate). Prints one JSON line per mode
# (scripts/bench_sign_in_burst.py). The address rate and the address lockout are turned
# off so that only the bound on hashing is measured.
#
#   scripts/bench-sign-in-burst.sh            200 sign-ins at once, debug build
#   BURST_SIZE=400 scripts/bench-sign-in-burst.sh --bin target/release/locksmith
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres

bin=target/debug/locksmith
if [ "${1:-}" = "--bin" ]; then bin=$2; fi
[ -x "$bin" ] || cargo build --quiet -p locksmith-server --bin locksmith

source scripts/lib/scratch-server.sh
export LOCKSMITH_AUTH_RATE_LIMIT_PER_MINUTE=0 LOCKSMITH_LOCKOUT_ADDRESS_FAILURES=0
for mode in unbounded bounded; do
    if [ "$mode" = unbounded ]; then
        export LOCKSMITH_PASSWORD_CHECKS_CONCURRENT=256 LOCKSMITH_PASSWORD_CHECKS_QUEUE=10000
    else
        unset LOCKSMITH_PASSWORD_CHECKS_CONCURRENT LOCKSMITH_PASSWORD_CHECKS_QUEUE
    fi
    start_scratch_server "$bin" burst
    printf '%s ' "$mode"
    BURST_BASE=$SCRATCH_BASE BURST_PID=$SCRATCH_PID python3 scripts/bench_sign_in_burst.py
    stop_scratch_server
done
