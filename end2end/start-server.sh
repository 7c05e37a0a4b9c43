#!/usr/bin/env bash
# Starts the server for the Playwright suite: creates its users through the real command
# line (as an operator would), then serves. Playwright waits on /readyz.
set -euo pipefail
bin="$(dirname "${BASH_SOURCE[0]}")/../target/debug/locksmith"
"$bin" migrate
for spec in "admin@e2e.test admin" "owner@e2e.test owner" "locked@e2e.test owner"; do
    set -- $spec
    printf '%s\n' "$E2E_PASSWORD" | "$bin" user create --email "$1" --role "$2" --password-stdin >/dev/null
done
exec "$bin" serve
