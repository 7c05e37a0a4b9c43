#!/usr/bin/env bash
# The verification benchmark (issue 5): builds Locksmith and the load generator in
# release mode, starts Locksmith against a scratch database, seeds keys through the REST
# API, and drives it from a separate process (bench/, `loadgen`), measuring in one run:
#   (a) GET /healthz, a bare axum route of the same server returning a small JSON body;
#   (b) POST /v1/verify for a cached valid key with a rate limit and a quota;
#   (c) the same with a mix of 90% valid, 5% unknown and 5% revoked keys;
#   (d) (b) at half of its peak throughput, for the latency at a sustainable load;
#   (e) the same over 8 connections instead of 64.
# Prints throughput, p50/p99 latency, the ratio (b)/(a) and the quota writes per 100
# verifications. Needs PostgreSQL like the test suite (DATABASE_URL, the local server, or
# a throwaway cluster). BENCH_SECONDS (default 10) sets the length of each run;
# BENCH_PERF=<file> records a CPU profile of the server during (b) with perf (build with
# BENCH_PROFILE=profiling for symbols).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres

seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-64}
port=${BENCH_PORT:-38111}
work=$(mktemp -d)
db="locksmith_bench_$$"
server_pid=

cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql "$DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
    stop_private_test_cluster
}
trap cleanup EXIT

profile=${BENCH_PROFILE:-release}
bin="target/$profile"
echo "[bench] building locksmith and loadgen ($profile)" >&2
cargo build --profile "$profile" --quiet -p locksmith-server --bin locksmith -p locksmith-bench --bin loadgen
psql "$DATABASE_URL" -qAtc "CREATE DATABASE $db" >/dev/null
bench_url="${DATABASE_URL%/*}/$db"

export DATABASE_URL="$bench_url"
export LOCKSMITH_PORT=$port LOCKSMITH_LOG=warn LOCKSMITH_DATA_DIR="$work/data"
export LOCKSMITH_JWT_SECRET=bench-jwt-secret-0123456789abcdefghijkl
export LOCKSMITH_SESSION_SECRET=bench-session-secret-0123456789abcdef
export LOCKSMITH_KEY_PEPPER=bench-key-pepper-0123456789abcdefghijk
# Seeding makes many management calls; the unknown keys of (c) are the point of (c).
export LOCKSMITH_API_RATE_LIMIT_PER_MINUTE=0 LOCKSMITH_VERIFY_UNKNOWN_KEYS_PER_MINUTE=0

"$bin/locksmith" migrate >/dev/null
printf 'correct horse battery staple 42' | "$bin/locksmith" user create \
    --email bench@locksmith.invalid --role admin --password-stdin >/dev/null
"$bin/locksmith" serve >"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
api() { # method path [body]
    curl -sS --fail-with-body -X "$1" "$base$2" -H "authorization: Bearer $admin" \
        -H 'content-type: application/json' ${3:+--data "$3"}
}
admin=$(curl -fsS "$base/v1/auth/token" -H 'content-type: application/json' \
    --data '{"email":"bench@locksmith.invalid","password":"correct horse battery staple 42"}' | json "['access_token']")
keyspace=$(api POST /v1/keyspaces '{"name":"Bench","prefix":"bench"}' | json "['id']")
verifier=$(api POST "/v1/keyspaces/$keyspace/verifiers" '{"name":"loadgen"}' | json "['token']")
limited='"rate_limit":{"limit":1000000,"window_seconds":1},"quota":{"limit":1000000000000,"period":"day"}'
valid=$(api POST /v1/keys "{\"keyspace_id\":\"$keyspace\",\"name\":\"valid\",$limited}" | json "['key']")
revoked_key=$(api POST /v1/keys "{\"keyspace_id\":\"$keyspace\",\"name\":\"revoked\"}")
api POST "/v1/keys/$(echo "$revoked_key" | json "['id']")/revoke" '{}' >/dev/null
revoked=$(echo "$revoked_key" | json "['key']")
# Unknown but well formed (its checksum is right): a key whose row is gone.
gone_key=$(api POST /v1/keys "{\"keyspace_id\":\"$keyspace\",\"name\":\"gone\"}")
psql "$bench_url" -qAtc "DELETE FROM keys WHERE id = '$(echo "$gone_key" | json "['id']")'" >/dev/null
unknown=$(echo "$gone_key" | json "['key']")

printf '{"key":"%s"}\n' "$valid" >"$work/valid.jsonl"
{
    for _ in $(seq 1 18); do printf '{"key":"%s"}\n' "$valid"; done
    printf '{"key":"%s"}\n' "$unknown"
    printf '{"key":"%s"}\n' "$revoked"
} >"$work/mix.jsonl"

quota_writes() {
    curl -fsS "$base/metrics" | awk '/^verify_quota_(leases|returns)_total/ { s += $2 } END { print s + 0 }'
}
load() { "$bin/loadgen" --seconds "$seconds" --connections "$connections" "$@"; }

echo "[bench] (a) bare route, (b) verify, (c) mix, (d, e) verify at half of (b)'s peak; ${seconds}s each" >&2
a=$(load --label a --url "$base/healthz")
writes_before=$(quota_writes)
if [ -n "${BENCH_PERF:-}" ]; then # a CPU profile of the server during (b), for `perf report`
    (sleep 3; perf record -q -F 499 -g -p "$server_pid" -o "$BENCH_PERF" -- sleep 5 >/dev/null 2>&1) &
fi
b=$(load --label b --url "$base/v1/verify" --bearer "$verifier" --bodies "$work/valid.jsonl")
writes_after=$(quota_writes)
c=$(load --label c --url "$base/v1/verify" --bearer "$verifier" --bodies "$work/mix.jsonl")
half=$(echo "$b" | json "['rps']" | awk '{ printf "%d", $1 / 2 }')
d=$(load --label d --url "$base/v1/verify" --bearer "$verifier" --bodies "$work/valid.jsonl" --rate "$half")
e=$("$bin/loadgen" --seconds "$seconds" --connections 8 --label e --url "$base/v1/verify" \
    --bearer "$verifier" --bodies "$work/valid.jsonl" --rate "$half")

python3 - "$a" "$b" "$c" "$d" "$e" "$writes_before" "$writes_after" <<'PY'
import json, sys
a, b, c, d, e = (json.loads(x) for x in sys.argv[1:6])
writes = int(float(sys.argv[7])) - int(float(sys.argv[6]))
rows = [
    ("(a) GET /healthz (bare route)", a),
    ("(b) verify, valid key, rate limit + quota", b),
    ("(c) verify, 90% valid / 5% unknown / 5% revoked", c),
    (f"(d) verify as (b), open loop at {d['target_rate']}/s", d),
    (f"(e) as (d) over 8 connections", e),
]
print(f"| scenario | connections | requests/s | p50 ms | p99 ms | statuses |")
print(f"|---|---|---|---|---|---|")
for name, r in rows:
    statuses = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
    if r["errors"]:
        statuses += f", errors: {r['errors']}"
    print(f"| {name} | {r['connections']} | {r['rps']:.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {statuses} |")
print()
print(f"ratio (b)/(a) = {b['rps'] / a['rps']:.2f}")
print(f"ratio (c)/(a) = {c['rps'] / a['rps']:.2f}")
verifications = b["requests"]
for name, r in (("(d)", d), ("(e)", e)):
    print(f"{name} from send to answer (without the load generator's 1 ms timer lateness): "
          f"p50 {r['service_p50_ms']:.3f} ms, p99 {r['service_p99_ms']:.3f} ms")
print(f"quota writes during (b) incl. warm-up: {writes} for about {verifications} verifications "
      f"({100 * writes / max(verifications, 1):.3f} per 100)")
PY
