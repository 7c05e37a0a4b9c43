#!/usr/bin/env bash
# Schema-driven fuzzing of the REST API: Schemathesis (PyPI, pinned) reads the served
# /v1/openapi.json and sends generated requests to every operation, in all its phases
# (examples, coverage, fuzzing, and the stateful phase that follows the document's
# links), with all of its checks. The bar is zero failures: no 5xx, every answer as the
# document declares it (status, content type, body schema), problem bodies with a
# request_id (our own check, in scripts/fuzz/hooks.py).
#
# Usage: scripts/fuzz-api.sh [--max-examples N]. scripts/test.sh runs it with a small
# count; a longer run is this script with a bigger one. It needs the debug server binary
# (`cargo test` builds it) and DATABASE_URL pointing at a server where it may create a
# scratch database (scripts/test.sh sets both up).
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

: "${DATABASE_URL:?DATABASE_URL must name a server the fuzzer may create a database on}"
bin=${LOCKSMITH_FUZZ_BIN:-target/debug/locksmith}
[ -x "$bin" ] || { echo "[fuzz] $bin is missing: run cargo test (or cargo build) first" >&2; exit 1; }

work=$(mktemp -d)
db="locksmith_fuzz_$$"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql "$DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$DATABASE_URL" -qAtc "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="${DATABASE_URL%/*}/$db"
export LOCKSMITH_DATA_DIR="$work/data" LOCKSMITH_PORT=0 LOCKSMITH_LOG_FORMAT=json LOCKSMITH_LOG=warn,locksmith_server=info
# The management rate limits would turn most generated requests into 429s (declared, so
# not failures, but tests of nothing); the fuzzer tests the API, not its throttles.
export LOCKSMITH_API_RATE_LIMIT_PER_MINUTE=0 LOCKSMITH_AUTH_RATE_LIMIT_PER_MINUTE=0
"$bin" migrate >/dev/null
admin_password="fuzzing passphrase $$ $RANDOM"
printf '%s\n' "$admin_password" | "$bin" user create --email fuzz-admin@example.com --role admin --password-stdin >/dev/null

"$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
# The listening line names the address; wait for it (the server's own event).
for _ in $(seq 1 600); do
    addr=$(grep -o '"addr":"[^"]*"' "$work/server.log" 2>/dev/null | head -n 1 | cut -d'"' -f4 || true)
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { echo "[fuzz] the server did not start" >&2; exit 1; }
base="http://$addr"

api() { curl -fsS -H 'content-type: application/json' "$@"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
token=$(api -X POST "$base/v1/auth/token" \
    -d "{\"email\":\"fuzz-admin@example.com\",\"password\":\"$admin_password\"}" | json_field access_token)
keyspace=$(api -X POST "$base/v1/keyspaces" -H "authorization: Bearer $token" \
    -d '{"name":"Fuzzed API","prefix":"fz"}' | json_field id)
verifier=$(api -X POST "$base/v1/keyspaces/$keyspace/verifiers" -H "authorization: Bearer $token" \
    -d '{"name":"fuzzer"}' | json_field token)
key_ids=""
for n in 1 2 3; do
    id=$(api -X POST "$base/v1/keys" -H "authorization: Bearer $token" \
        -d "{\"keyspace_id\":\"$keyspace\",\"name\":\"fuzz target $n\"}" | json_field id)
    key_ids="${key_ids:+$key_ids,}$id"
done
export LOCKSMITH_FUZZ_ADMIN_TOKEN=$token LOCKSMITH_FUZZ_VERIFIER_TOKEN=$verifier \
    LOCKSMITH_FUZZ_KEYSPACE_ID=$keyspace LOCKSMITH_FUZZ_KEY_IDS=$key_ids

echo "[fuzz] schemathesis against $base, $max_examples examples per operation and phase" >&2
SCHEMATHESIS_HOOKS=scripts.fuzz.hooks PYTHONPATH="$PWD" \
    "$venv/bin/schemathesis" --config-file scripts/fuzz/schemathesis.toml run "$base/v1/openapi.json" \
    --max-examples "$max_examples" --seed "${FUZZ_SEED:-$RANDOM}" \
    --report junit --report-dir "$work/report" \
    || { status=$?; grep -E '"level":"(ERROR|WARN)"' "$work/server.log" | tail -n 20 >&2 || true; exit $status; }
