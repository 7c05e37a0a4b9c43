#!/usr/bin/env bash
# Webhook delivery throughput: events per second delivered to a receiver on localhost by
# a release build, with one endpoint (one delivery at a time, in order) and four, as a
# ratio against the same receiver's rate for plain sequential POSTs measured in the same
# run. BENCH_EVENTS (default 2000) events per case.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres
trap stop_private_test_cluster EXIT
cargo test --release -p locksmith-server --test api webhooks::bench_delivery_throughput \
    -- --ignored --nocapture 2>&1 | grep '^BENCH'
