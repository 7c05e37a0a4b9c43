#!/usr/bin/env bash
# Schema-driven fuzzing of the REST API: Schemathesis (PyPI, pinned) reads the served
# /v1/openapi.json and sends generated requests to every operation, in all its phases
# (examples, coverage, fuzzing, and the stateful phase that follows the document's
# links), with all of its checks. The bar is zero failures: no 5xx, every answer as the
# document declares it (status, content type, body schema), problem bodies with a
# request_id (our own check, in scripts/fuzz/hooks.py).
#
# Usage: scripts/fuzz-api.sh [--max-examples N]. scripts/test.sh runs it with a small
# count; a longer run is this script with a bigger one and a random seed. It needs the
# debug server binary (`cargo test` builds it) and PostgreSQL like the test suite
# (DATABASE_URL, the local server, or a throwaway cluster).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
max_examples=${FUZZ_MAX_EXAMPLES:-20}
if [ "${1:-}" = "--max-examples" ]; then max_examples=$2; fi

SCHEMATHESIS_VERSION=4.32.5
venv="${LOCKSMITH_FUZZ_VENV:-$PWD/target/fuzz-venv}"
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
    echo "[fuzz] installing schemathesis $SCHEMATHESIS_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres
source scripts/lib/scratch-server.sh
# The management rate limits would turn most generated requests into 429s (declared, so
# not failures, but tests of nothing); the fuzzer tests the API, not its throttles.
export LOCKSMITH_API_RATE_LIMIT_PER_MINUTE=0 LOCKSMITH_AUTH_RATE_LIMIT_PER_MINUTE=0
start_scratch_server "${LOCKSMITH_FUZZ_BIN:-target/debug/locksmith}" fuzz
base=$SCRATCH_BASE
key_ids=""
for n in 1 2 3; do
    id=$(scratch_api -X POST "$base/v1/keys" -H "authorization: Bearer $SCRATCH_TOKEN" \
        -d "{\"keyspace_id\":\"$SCRATCH_KEYSPACE\",\"name\":\"fuzz target $n\"}" | scratch_field id)
    key_ids="${key_ids:+$key_ids,}$id"
done
reporter=$(scratch_api -X POST "$base/v1/leak-reporters" -H "authorization: Bearer $SCRATCH_TOKEN" \
    -d '{"name":"fuzz scanner"}' | scratch_field token)
export LOCKSMITH_FUZZ_REPORTER_TOKEN=$reporter
export LOCKSMITH_FUZZ_ADMIN_TOKEN=$SCRATCH_TOKEN LOCKSMITH_FUZZ_VERIFIER_TOKEN=$SCRATCH_VERIFIER \
    LOCKSMITH_FUZZ_KEYSPACE_ID=$SCRATCH_KEYSPACE LOCKSMITH_FUZZ_KEY_IDS=$key_ids

echo "[fuzz] schemathesis against $base, $max_examples examples per operation and phase" >&2
SCHEMATHESIS_HOOKS=scripts.fuzz.hooks PYTHONPATH="$PWD" \
    "$venv/bin/schemathesis" --config-file scripts/fuzz/schemathesis.toml run "$base/v1/openapi.json" \
    --max-examples "$max_examples" --seed "${FUZZ_SEED:-$RANDOM}" \
    || { status=$?; grep -E '"level":"ERROR"' "$SCRATCH_LOG" | tail -n 20 >&2 || true; exit $status; }
