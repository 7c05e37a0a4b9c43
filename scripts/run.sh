#!/usr/bin/env bash
# Builds Locksmith (release) and runs the portal and API on http://127.0.0.1:3000.
# Without DATABASE_URL it runs a private PostgreSQL in ./.locksmith (LOCKSMITH_DATA_DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
source scripts/env.sh
cargo leptos build --release --split
exec target/release/locksmith serve "$@"
