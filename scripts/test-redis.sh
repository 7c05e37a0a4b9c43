# Sourced by scripts/test.sh: makes LOCKSMITH_TEST_REDIS_URL point at a Redis for the
# tests of the shared rate-limit mode. In order of preference:
#   1. LOCKSMITH_TEST_REDIS_URL as given;
#   2. a Redis already answering on 127.0.0.1:6379 (as on CI machines);
#   3. a private throwaway redis-server (no persistence), stopped when the tests end.

test_redis_port=56379
test_redis_dir="${TMPDIR:-/tmp}/locksmith-test-redis-$(id -u)"

redis_answers() { # host port
    local reply
    { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    read -r -t 2 reply <&3 || true
    exec 3<&- 3>&-
    [[ "$reply" == +PONG* ]]
}

stop_private_test_redis() {
    if [ "${test_redis_started_here:-}" = 1 ] && [ -f "$test_redis_dir/redis.pid" ]; then
        kill "$(cat "$test_redis_dir/redis.pid")" 2>/dev/null || true
    fi
}

ensure_test_redis() {
    if [ -n "${LOCKSMITH_TEST_REDIS_URL:-}" ]; then
        echo "[test] using the Redis given in LOCKSMITH_TEST_REDIS_URL" >&2
    elif redis_answers 127.0.0.1 6379; then
        echo "[test] using the Redis on 127.0.0.1:6379" >&2
        export LOCKSMITH_TEST_REDIS_URL="redis://127.0.0.1:6379"
    else
        echo "[test] starting a throwaway Redis on 127.0.0.1:$test_redis_port" >&2
        mkdir -p "$test_redis_dir"
        if ! redis_answers 127.0.0.1 "$test_redis_port"; then
            redis-server --daemonize yes --bind 127.0.0.1 --port "$test_redis_port" --save "" \
                --appendonly no --dir "$test_redis_dir" --pidfile "$test_redis_dir/redis.pid" \
                --logfile "$test_redis_dir/redis.log"
            test_redis_started_here=1
            for _ in $(seq 1 50); do redis_answers 127.0.0.1 "$test_redis_port" && break; sleep 0.1; done
        fi
        export LOCKSMITH_TEST_REDIS_URL="redis://127.0.0.1:$test_redis_port"
    fi
}
