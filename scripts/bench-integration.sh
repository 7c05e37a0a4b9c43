#!/usr/bin/env bash
# The benchmark of the ways a service integrates (issue 20), all in one run against one
# release build of Locksmith on a scratch database:
#   (a) GET /healthz, the bare route (loadgen), the baseline of (b), (e) and (f);
#   (b) POST /v1/verify of a valid key without limits (loadgen);
#   (c) nginx -> upstream, no authentication (loadgen through nginx);
#   (d) nginx -> auth_request through Locksmith (GET /v1/authz) -> upstream, with the
#       deployment's own deploy/nginx files (loadgen through nginx);
#   (e) Client::verify of locksmith-client, cache off (clientload);
#   (f) Client::verify with the local cache on (clientload);
#   (g) GET /v1/authz straight to Locksmith, the key in X-API-Key (loadgen).
# Scenarios run in BENCH_ROUNDS interleaved rounds (default 3) so that a noisy moment of
# the machine hits a round rather than a scenario; the ratios are medians of the
# rounds' ratios: (d)/(c) is what proxy authentication costs, (g)/(b) whether the
# proxy's endpoint is as fast as /v1/verify, (e)/(b) what the client adds, and (f)/(e)
# what its cache saves. nginx runs one worker; the upstream is a
# second nginx server answering 200 from memory. BENCH_SECONDS (default 8) sets each
# run's length. Needs PostgreSQL like the test suite, and nginx (scripts/bootstrap.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
source scripts/test-postgres.sh
ensure_test_postgres
source scripts/lib/scratch-server.sh

seconds=${BENCH_SECONDS:-8}
rounds=${BENCH_ROUNDS:-3}
connections=${BENCH_CONNECTIONS:-64}
echo "[bench] building locksmith, loadgen and clientload (release)" >&2
cargo build --release --quiet -p locksmith-server --bin locksmith -p locksmith-bench --bin loadgen --bin clientload
bin=target/release
# Seeding makes management calls; the benchmark measures verification, not throttles.
export LOCKSMITH_API_RATE_LIMIT_PER_MINUTE=0
start_scratch_server "$bin/locksmith" benchint
base=$SCRATCH_BASE
key=$(scratch_api -X POST "$base/v1/keys" -H "authorization: Bearer $SCRATCH_TOKEN" \
    -d "{\"keyspace_id\":\"$SCRATCH_KEYSPACE\",\"name\":\"bench\"}" | scratch_field key)
printf '{"key":"%s"}\n' "$key" >"$scratch_work/valid.jsonl"

nginx_dir="$scratch_work/nginx"
mkdir -p "$nginx_dir"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
front=$(port) upstream=$(port)
user=""; [ "$(id -u)" = 0 ] && user="user root;"
cat >"$nginx_dir/nginx.conf" <<NGINX
$user
daemon off;
worker_processes 1;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    # nginx closes a client connection after 1000 requests by default; the load
    # generator keeps its connections for the whole run.
    keepalive_requests 100000000;
    client_body_temp_path $nginx_dir/body;
    proxy_temp_path $nginx_dir/proxy;
    fastcgi_temp_path $nginx_dir/fastcgi;
    uwsgi_temp_path $nginx_dir/uwsgi;
    scgi_temp_path $nginx_dir/scgi;
    upstream locksmith { server ${base#http://}; keepalive 64; keepalive_requests 100000000; }
    upstream service { server 127.0.0.1:$upstream; keepalive 64; keepalive_requests 100000000; }
    server {
        listen 127.0.0.1:$upstream;
        location / { return 200 "upstream answered\n"; }
    }
    server {
        listen 127.0.0.1:$front;
        set \$locksmith_verifier "$SCRATCH_VERIFIER";
        include $PWD/deploy/nginx/locksmith-authz.conf;
        location /open/ {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://service;
        }
        location /protected/ {
            include $PWD/deploy/nginx/locksmith-protect.conf;
            proxy_pass http://service;
        }
    }
}
NGINX
nginx -c "$nginx_dir/nginx.conf" -p "$nginx_dir" &
nginx_pid=$!
trap 'kill -TERM $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null; stop_scratch_server' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$front/open/" >/dev/null 2>&1 && break
    sleep 0.1
done
test "$(curl -sS -o /dev/null -w '%{http_code}' -H "x-api-key: $key" "http://127.0.0.1:$front/protected/")" = 200
test "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$front/protected/")" = 401

load() { "$bin/loadgen" --seconds "$seconds" --connections "$connections" "$@"; }
client() { "$bin/clientload" --seconds "$seconds" --tasks "$connections" --url "$base" --verifier "$SCRATCH_VERIFIER" --key "$key" "$@"; }
echo "[bench] $rounds rounds of (a)..(g), ${seconds}s each, $connections connections" >&2
results=()
for _ in $(seq 1 "$rounds"); do
    results+=("$(load --label a --url "$base/healthz")")
    results+=("$(load --label b --url "$base/v1/verify" --bearer "$SCRATCH_VERIFIER" --bodies "$scratch_work/valid.jsonl")")
    results+=("$(load --label c --url "http://127.0.0.1:$front/open/")")
    results+=("$(load --label d --url "http://127.0.0.1:$front/protected/" --header "x-api-key: $key")")
    results+=("$(client --label e)")
    results+=("$(client --label f --cache)")
    results+=("$(load --label g --url "$base/v1/authz" --header "x-locksmith-verifier: $SCRATCH_VERIFIER" --header "x-api-key: $key")")
done
printf '%s\n' "${results[@]}" >"$scratch_work/results.jsonl"
python3 - "$scratch_work/results.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = {}
for r in runs:
    by.setdefault(r["label"], []).append(r)
def med(label, field):
    return statistics.median(r[field] for r in by[label])
names = {
    "a": "(a) GET /healthz, bare route",
    "b": "(b) POST /v1/verify, valid key",
    "c": "(c) nginx -> upstream",
    "d": "(d) nginx -> auth_request via /v1/authz -> upstream",
    "e": "(e) locksmith-client, cache off",
    "f": "(f) locksmith-client, cache on",
    "g": "(g) GET /v1/authz, valid key",
}
print("| scenario | requests/s | p50 ms | p99 ms | answers |")
print("|---|---|---|---|---|")
for label, name in names.items():
    answers = {}
    for r in by[label]:
        for k, v in r["statuses"].items():
            answers[k] = answers.get(k, 0) + v
        for k in ("errors", "invalid"):
            if r.get(k):
                answers[k] = answers.get(k, 0) + r[k]
    shown = ", ".join(f"{k}: {v}" for k, v in answers.items()) or "all valid"
    print(f"| {name} | {med(label, 'rps'):.0f} | {med(label, 'p50_ms'):.3f} | {med(label, 'p99_ms'):.3f} | {shown} |")
def ratio(x, y):
    return statistics.median(a["rps"] / b["rps"] for a, b in zip(by[x], by[y]))
print()
print(f"(d)/(c) = {ratio('d', 'c'):.2f}: nginx with proxy authentication through Locksmith, against nginx alone")
print(f"(b)/(a) = {ratio('b', 'a'):.2f}: /v1/verify against the bare route")
print(f"(g)/(b) = {ratio('g', 'b'):.2f}: /v1/authz against /v1/verify")
print(f"(e)/(b) = {ratio('e', 'b'):.2f}: the client without its cache, against loadgen on /v1/verify")
print(f"(f)/(e) = {ratio('f', 'e'):.2f}: the client with its cache, against without")
print(f"(f)/(a) = {ratio('f', 'a'):.2f}: the cached client, against the bare route over HTTP")
last = by["f"][-1]
print(f"cache hits in the last (f) run: {last['cache_hits']} of {last['cache_hits'] + last['cache_misses']} verifications")
PY
