#!/usr/bin/env bash
# The verification benchmark (issue 5): builds Locksmith and the load generator in
# release mode, starts Locksmith against a scratch database, seeds keys through the REST
# API, and drives it from a separate process (bench/, `loadgen`), measuring in one run:
#   (a) GET /healthz, a bare axum route of the same server returning a small JSON body;
#   (b) POST /v1/verify for a cached valid key with a rate limit and a quota, from 64
#       client addresses in 16 networks;
#   (c) the same with a mix of 90% valid, 5% unknown and 5% revoked keys;
#   (d) (b) at half of its peak throughput, for the latency at a sustainable load;
#   (e) the same over 8 connections instead of 64;
#   (f) (a) at the rate of (d): the latency this machine and harness add to any answer.
# (a), (b) and (c) run in BENCH_ROUNDS interleaved rounds (default 5), so that a noisy
# moment of the machine hits a round rather than one scenario; the ratios are the
# medians of the rounds' ratios. Prints throughput, p50/p99 latency, the ratio (b)/(a)
# and the quota writes per 100 verifications. Needs PostgreSQL like the test suite
# (DATABASE_URL, the local server, or a throwaway cluster). BENCH_SECONDS (default 10)
# sets the length of each run; BENCH_PERF=<file> records a CPU profile of the server
# during the first (b) with perf (build with BENCH_PROFILE=profiling for symbols).
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

# Each request names its end user's address, as services do: 64 addresses in 16 /24
# networks, so the per-network counts of unusual-use detection are on the measured path.
for i in $(seq 0 63); do
    printf '{"key":"%s","client_ip":"198.51.%d.%d"}\n' "$valid" $((i % 16)) $((i + 1))
done >"$work/valid.jsonl"
{
    for i in $(seq 1 18); do printf '{"key":"%s","client_ip":"198.51.%d.7"}\n' "$valid" $((i % 16)); done
    printf '{"key":"%s","client_ip":"203.0.113.9"}\n' "$unknown"
    printf '{"key":"%s","client_ip":"203.0.113.9"}\n' "$revoked"
} >"$work/mix.jsonl"

quota_writes() {
    curl -fsS "$base/metrics" | awk '/^verify_quota_(leases|returns)_total/ { s += $2 } END { print s + 0 }'
}
load() { "$bin/loadgen" --seconds "$seconds" --connections "$connections" "$@"; }
# The server's own histogram of verification answers (from the first layer to the
# answer, so without the machine's scheduling and the load generator): "le count" lines.
verify_histogram() {
    curl -fsS "$base/metrics" | awk -F'le="' '/^http_request_duration_seconds_bucket\{.*route="\/v1\/verify",status="200"/ {
        split($2, rest, "\""); split($0, fields, " "); print rest[1], fields[2] }'
}

rounds=${BENCH_ROUNDS:-5}
echo "[bench] $rounds rounds of (a) bare route, (b) verify, (c) mix; then (d, e) verify at half of (b)'s peak; ${seconds}s each" >&2
results=()
writes=0
for round in $(seq 1 "$rounds"); do
    results+=("$(load --label a --url "$base/healthz")")
    before=$(quota_writes)
    if [ "$round" = 1 ] && [ -n "${BENCH_PERF:-}" ]; then # a CPU profile of the server, for `perf report`
        (sleep 3; perf record -q -F 499 -g -p "$server_pid" -o "$BENCH_PERF" -- sleep 5 >/dev/null 2>&1) &
    fi
    results+=("$(load --label b --url "$base/v1/verify" --bearer "$verifier" --bodies "$work/valid.jsonl")")
    writes=$((writes + $(quota_writes) - before))
    results+=("$(load --label c --url "$base/v1/verify" --bearer "$verifier" --bodies "$work/mix.jsonl")")
done
half=$(printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
print(int(statistics.median(r["rps"] for r in map(json.loads, sys.stdin) if r["label"] == "b") / 2))')
verify_histogram >"$work/histogram-before"
results+=("$(load --label d --url "$base/v1/verify" --bearer "$verifier" --bodies "$work/valid.jsonl" --rate "$half")")
verify_histogram >"$work/histogram-after"
results+=("$("$bin/loadgen" --seconds "$seconds" --connections 8 --label e --url "$base/v1/verify" \
    --bearer "$verifier" --bodies "$work/valid.jsonl" --rate "$half")")
# The latency baseline: what the same open loop sees of the bare route, which is what
# this machine and harness add to any answer (the load generator shares the 2 cores).
results+=("$(load --label f --url "$base/healthz" --rate "$half")")

printf '%s\n' "${results[@]}" >"$work/results.jsonl"
python3 - "$work/results.jsonl" "$writes" "$work/histogram-before" "$work/histogram-after" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]).read().splitlines()]
writes = int(sys.argv[2])
def histogram(path):
    return {le: float(n) for le, n in (line.split() for line in open(path) if line.strip())}
before, after = histogram(sys.argv[3]), histogram(sys.argv[4])
by = {}
for r in runs:
    by.setdefault(r["label"], []).append(r)
def med(label, field):
    return statistics.median(r[field] for r in by[label])
def statuses(label):
    total = {}
    for r in by[label]:
        for k, v in r["statuses"].items():
            total[k] = total.get(k, 0) + v
        if r["errors"]:
            total["errors"] = total.get("errors", 0) + r["errors"]
    return ", ".join(f"{k}: {v}" for k, v in total.items())
rows = [
    ("(a) GET /healthz (bare route)", "a"),
    ("(b) verify, valid key, rate limit + quota", "b"),
    ("(c) verify, 90% valid / 5% unknown / 5% revoked", "c"),
    (f"(d) verify as (b), open loop at {by['d'][0]['target_rate']}/s", "d"),
    ("(e) as (d) over 8 connections", "e"),
    ("(f) latency baseline: (a) open loop at the rate of (d)", "f"),
]
print(f"| scenario | connections | requests/s | p50 ms | p99 ms | statuses |")
print(f"|---|---|---|---|---|---|")
for name, label in rows:
    print(f"| {name} | {by[label][0]['connections']} | {med(label, 'rps'):.0f} | "
          f"{med(label, 'p50_ms'):.3f} | {med(label, 'p99_ms'):.3f} | {statuses(label)} |")
print()
print("(a), (b), (c): medians of the rounds")
for i, (a, b, c) in enumerate(zip(by["a"], by["b"], by["c"]), 1):
    print(f"round {i}: (a) {a['rps']:.0f}/s, (b) {b['rps']:.0f}/s, (c) {c['rps']:.0f}/s: "
          f"(b)/(a) = {b['rps'] / a['rps']:.2f}, (c)/(a) = {c['rps'] / a['rps']:.2f}")
print(f"ratio (b)/(a) = {statistics.median(b['rps'] / a['rps'] for a, b in zip(by['a'], by['b'])):.2f} (median of the rounds)")
print(f"ratio (c)/(a) = {statistics.median(c['rps'] / a['rps'] for a, c in zip(by['a'], by['c'])):.2f} (median of the rounds)")
for label in ("d", "e", "f"):
    r = by[label][0]
    print(f"({label}) from send to answer (without the time a request waited for its "
          f"connection): p50 {r['service_p50_ms']:.3f} ms, p99 {r['service_p99_ms']:.3f} ms")
# Answers during (d) (warm-up included) by bucket of the server's own histogram.
during = sorted(((float(le), after[le] - before.get(le, 0.0)) for le in after), key=lambda b: b[0])
total = during[-1][1] if during else 0
for share in (0.99, 0.999):
    bucket = next((le for le, n in during if total and n >= share * total), float("inf"))
    print(f"(d) in the server (its request histogram, first layer to answer): "
          f"{100 * share:g}% of {total:.0f} answers within {bucket * 1000:g} ms")
verifications = sum(r["requests"] for r in by["b"])
print(f"quota writes during (b) incl. warm-up: {writes} for about {verifications} verifications "
      f"({100 * writes / max(verifications, 1):.3f} per 100)")
PY
