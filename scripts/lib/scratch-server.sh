# Sourced by scripts/fuzz-api.sh and scripts/soak.sh: runs a Locksmith binary on a
# scratch database with a first admin, and sets up what a client needs.
#
#   start_scratch_server BIN NAME   creates database locksmith_NAME_<pid> on DATABASE_URL,
#                                   migrates it, creates an admin, starts `BIN serve` on a
#                                   free port and waits for its listening line; sets
#                                   SCRATCH_BASE, SCRATCH_PID, SCRATCH_DATABASE_URL,
#                                   SCRATCH_TOKEN (an admin's access token),
#                                   SCRATCH_KEYSPACE and SCRATCH_VERIFIER (a verifier token).
#   stop_scratch_server             stops it and drops the database (also on EXIT).
# Environment for the server (rate limits, pool size...) is taken from the caller's.

scratch_work=""
scratch_db=""
SCRATCH_PID=""

stop_scratch_server() {
    if [ -n "$SCRATCH_PID" ]; then
        kill "$SCRATCH_PID" 2>/dev/null && wait "$SCRATCH_PID" 2>/dev/null
        SCRATCH_PID=""
    fi
    if [ -n "$scratch_db" ]; then
        psql "$scratch_admin_url" -qAtc "DROP DATABASE IF EXISTS $scratch_db WITH (FORCE)" >/dev/null 2>&1 || true
        scratch_db=""
    fi
    [ -n "$scratch_work" ] && rm -rf "$scratch_work"
    scratch_work=""
    # A throwaway cluster that scripts/test-postgres.sh started for a standalone run.
    if declare -F stop_private_test_cluster >/dev/null; then stop_private_test_cluster; fi
}

scratch_api() { curl -fsS -H 'content-type: application/json' "$@"; }
scratch_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

start_scratch_server() {
    local bin=$1 name=$2
    : "${DATABASE_URL:?DATABASE_URL must name a server where a scratch database may be created}"
    [ -x "$bin" ] || { echo "[$name] $bin is missing: build it first" >&2; return 1; }
    trap stop_scratch_server EXIT
    scratch_work=$(mktemp -d)
    scratch_db="locksmith_${name}_$$"
    scratch_admin_url=$DATABASE_URL
    psql "$scratch_admin_url" -qAtc "CREATE DATABASE $scratch_db" >/dev/null
    SCRATCH_DATABASE_URL="${DATABASE_URL%/*}/$scratch_db"
    local password="scratch passphrase $$ $RANDOM"
    (
        export DATABASE_URL=$SCRATCH_DATABASE_URL LOCKSMITH_DATA_DIR="$scratch_work/data"
        "$bin" migrate >/dev/null
        printf '%s\n' "$password" | "$bin" user create --email scratch-admin@example.com --role admin --password-stdin >/dev/null
    )
    DATABASE_URL=$SCRATCH_DATABASE_URL LOCKSMITH_DATA_DIR="$scratch_work/data" LOCKSMITH_PORT=0 \
        LOCKSMITH_LOG_FORMAT=json LOCKSMITH_LOG=${LOCKSMITH_LOG:-warn,locksmith_server=info} \
        "$bin" serve >"$scratch_work/server.log" 2>&1 &
    SCRATCH_PID=$!
    local addr=""
    # The listening line names the address; wait for that event of the server's.
    for _ in $(seq 1 600); do
        addr=$(grep -o '"addr":"[^"]*"' "$scratch_work/server.log" 2>/dev/null | head -n 1 | cut -d'"' -f4 || true)
        [ -n "$addr" ] && break
        kill -0 "$SCRATCH_PID" 2>/dev/null || { cat "$scratch_work/server.log" >&2; return 1; }
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "[$name] the server did not start" >&2; return 1; }
    SCRATCH_BASE="http://$addr"
    SCRATCH_LOG="$scratch_work/server.log"
    SCRATCH_TOKEN=$(scratch_api -X POST "$SCRATCH_BASE/v1/auth/token" \
        -d "{\"email\":\"scratch-admin@example.com\",\"password\":\"$password\"}" | scratch_field access_token)
    SCRATCH_KEYSPACE=$(scratch_api -X POST "$SCRATCH_BASE/v1/keyspaces" -H "authorization: Bearer $SCRATCH_TOKEN" \
        -d "{\"name\":\"Scratch $name\",\"prefix\":\"sc\"}" | scratch_field id)
    SCRATCH_VERIFIER=$(scratch_api -X POST "$SCRATCH_BASE/v1/keyspaces/$SCRATCH_KEYSPACE/verifiers" \
        -H "authorization: Bearer $SCRATCH_TOKEN" -d '{"name":"scratch"}' | scratch_field token)
}
