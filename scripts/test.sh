#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests against a real PostgreSQL (and Redis,
# for the shared rate-limit mode), then the
# Playwright suite in Debian's Chromium against the real server.
# On a fresh machine it installs what it needs first (scripts/bootstrap.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$(date +%s)

scripts/bootstrap.sh
source scripts/env.sh
source scripts/test-postgres.sh
source scripts/test-redis.sh
source scripts/test-smtp.sh
ensure_test_postgres
ensure_test_redis
ensure_test_smtpd
stop_services() { stop_private_test_cluster; stop_private_test_redis; }
trap stop_services EXIT

step() { printf '\n[test] == %s (%ss)\n' "$*" "$(( $(date +%s) - started ))" >&2; }

# Formatting and lints first: they fail in seconds where the suite takes minutes. Both
# feature sets, warnings denied.
step "cargo fmt --check and clippy (ssr and hydrate)"
cargo fmt --all -- --check
cargo clippy --workspace --exclude locksmith-frontend --all-targets -- -D warnings
cargo clippy -p locksmith-frontend -p locksmith-app --target wasm32-unknown-unknown -- -D warnings

# The operator's deployment files: Prometheus rules parse and pass their unit tests, every
# alert has its runbook, the dashboard queries only exported metrics, the compose file
# sets only real settings.
step "deployment files (promtool, dashboard, compose)"
scripts/check-deploy.sh

# The portal's assets (WASM, JS, CSS) into target/site. The server binary is built by
# `cargo test` below, with the same features the tests use, so it is compiled once.
step "building the portal assets"
cargo leptos build --frontend-only --split

step "Rust tests (unit and integration, PostgreSQL at ${DATABASE_URL%%@*}@…)"
cargo test --workspace --exclude locksmith-frontend --no-fail-fast -- --skip chaos::

# The chaos tests on their own: their instances run verification load flat out, which
# would starve the other tests' servers of the 2 cores and turn their timeouts into
# flakes; alone they take about 10 s.
step "chaos tests (real processes, broken on purpose)"
cargo test -p locksmith-server --test api -- chaos::

# Schema-driven fuzzing of the served OpenAPI document (Schemathesis, every phase and
# check) against the debug server `cargo test` just built: a fixed seed and 50 examples
# per operation and phase keep CI reproducible and near a minute; the long form is
# `FUZZ_SEED=$RANDOM scripts/fuzz-api.sh --max-examples 500`.
step "Schemathesis against the served OpenAPI document"
FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz-api.sh --max-examples "${FUZZ_MAX_EXAMPLES:-50}"

# The soak's short form: 45 s of mixed load on the debug build, failing on any failed
# request or on memory, descriptors or connections that grow after warm-up. The long
# form is `scripts/soak.sh` (ten minutes, release build).
step "soak (short form)"
SOAK_SECONDS=${SOAK_SECONDS:-45} scripts/soak.sh --debug

step "Playwright end-to-end tests in Chromium"
e2e_db="locksmith_e2e_$$"
psql "$DATABASE_URL" -qAtc "CREATE DATABASE $e2e_db" >/dev/null
drop_e2e_db() { psql "$DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $e2e_db WITH (FORCE)" >/dev/null 2>&1 || true; stop_services; }
trap drop_e2e_db EXIT
export LOCKSMITH_E2E_DATABASE_URL="${DATABASE_URL%/*}/$e2e_db"
(cd end2end && npx playwright test)

step "all tests passed"
