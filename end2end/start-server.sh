#!/usr/bin/env bash
# Starts the server for the Playwright suite: creates its users through the real command
# line (as an operator would), then serves. Playwright waits on /readyz.
# LOCKSMITH_E2E_BIN runs the suite against another build, e.g. target/release/locksmith
# after `cargo leptos build --release --split` (the release WASM needs the release server).
set -euo pipefail
bin="${LOCKSMITH_E2E_BIN:-$(dirname "${BASH_SOURCE[0]}")/../target/debug/locksmith}"
"$bin" migrate
for spec in "admin@e2e.test admin" "auditor@e2e.test auditor" "owner@e2e.test owner" "locked@e2e.test owner"; do
    set -- $spec
    printf '%s\n' "$E2E_PASSWORD" | "$bin" user create --email "$1" --role "$2" --password-stdin >/dev/null
done
# The webhook journeys deliver to a receiver the test runs on 127.0.0.1.
export LOCKSMITH_WEBHOOK_ALLOW_PRIVATE=true
exec "$bin" serve
