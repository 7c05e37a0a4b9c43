# Sourced by scripts/test.sh: makes DATABASE_URL point at a PostgreSQL server on which
# the tests may create databases. In order of preference:
#   1. DATABASE_URL as given;
#   2. a server already answering on 127.0.0.1:5432 as `postgres` (as on CI machines);
#   3. a private throwaway cluster, started here and stopped when the tests end.

test_pg_dir="${TMPDIR:-/tmp}/locksmith-test-pg-$(id -u)"
test_pg_port=55432

pg_bin_dir() {
    if command -v pg_ctl >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v pg_ctl)")"; return; fi
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$newest" ] && echo "$newest"
}

# Runs a PostgreSQL tool as an unprivileged user when we are root (postgres refuses root).
pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_private_test_cluster() {
    local bin; bin=$(pg_bin_dir)
    if [ -z "$bin" ]; then echo "[test] no PostgreSQL binaries found" >&2; return 1; fi
    if [ ! -f "$test_pg_dir/PG_VERSION" ]; then
        echo "[test] creating a throwaway PostgreSQL cluster in $test_pg_dir" >&2
        mkdir -p "$test_pg_dir"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$test_pg_dir"
        chmod 700 "$test_pg_dir"
        # Trust on the loopback address only: a test cluster holding test data alone.
        pg_as_owner "$bin/initdb" -D "$test_pg_dir" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
    fi
    if ! pg_as_owner "$bin/pg_ctl" status -D "$test_pg_dir" >/dev/null 2>&1; then
        pg_as_owner "$bin/pg_ctl" start -D "$test_pg_dir" -w -t 60 -l "$test_pg_dir/server.log" \
            -o "-c listen_addresses=127.0.0.1 -p $test_pg_port -k $test_pg_dir -c max_connections=300 -c fsync=off" >/dev/null
        test_pg_started_here=1
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$test_pg_port/postgres"
}

stop_private_test_cluster() {
    if [ "${test_pg_started_here:-}" = 1 ]; then
        pg_as_owner "$(pg_bin_dir)/pg_ctl" stop -D "$test_pg_dir" -m fast -w >/dev/null 2>&1 || true
    fi
}

ensure_test_postgres() {
    if [ -n "${DATABASE_URL:-}" ]; then
        echo "[test] using the PostgreSQL given in DATABASE_URL" >&2
    elif psql "postgres://postgres@127.0.0.1:5432/postgres" -qAtc 'select 1' >/dev/null 2>&1; then
        echo "[test] using the PostgreSQL on 127.0.0.1:5432" >&2
        export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    else
        start_private_test_cluster
    fi
}
