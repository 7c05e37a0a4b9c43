#!/usr/bin/env bash
# Takes a fresh machine (Debian, Rust via rustup, Node.js) to a state where Locksmith
# builds and its tests run. Idempotent: a second run checks each tool and does nothing.
# Downloads come only from package registries: Debian's, crates.io and npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# cargo-leptos 0.3.10 is the newest release whose locked dependencies build on Rust 1.95.
CARGO_LEPTOS_VERSION=0.3.10

log() { printf '[bootstrap] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

pg_binaries_present() {
    command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# --- Debian packages -------------------------------------------------------------------
packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v mold >/dev/null 2>&1 || packages+=(mold)
command -v cc >/dev/null 2>&1 || packages+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
pg_binaries_present || packages+=(postgresql)
command -v psql >/dev/null 2>&1 || packages+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v curl >/dev/null 2>&1 || packages+=(curl)
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v nginx >/dev/null 2>&1 || packages+=(nginx-light)
if [ "${#packages[@]}" -gt 0 ]; then
    log "installing Debian packages: ${packages[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# --- Rust targets and tools ----------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi
for component in clippy rustfmt; do
    if ! rustup component list --installed | grep -q "^$component"; then
        rustup component add "$component"
    fi
done

installed_version() { "$@" --version 2>/dev/null | awk '{print $NF}'; }

if [ "$(installed_version cargo-leptos)" != "$CARGO_LEPTOS_VERSION" ]; then
    log "installing cargo-leptos $CARGO_LEPTOS_VERSION (builds from source: ~30 minutes on 2 cores, once per machine)"
    # The registry mirror can lag behind a lockfile; then resolve afresh.
    cargo install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION" --features no_downloads \
        || cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --features no_downloads
fi

# The wasm-bindgen CLI must match the wasm-bindgen library in Cargo.lock exactly.
wasm_bindgen_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$wasm_bindgen_version" ]; then
    log "cannot find wasm-bindgen in Cargo.lock"; exit 1
fi
if [ "$(installed_version wasm-bindgen)" != "$wasm_bindgen_version" ]; then
    log "installing wasm-bindgen-cli $wasm_bindgen_version"
    cargo install --locked wasm-bindgen-cli --version "$wasm_bindgen_version" \
        || cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

# --- npm: Tailwind, Playwright and wasm-opt (binaryen), pinned by package-lock.json --
if ! cmp -s package-lock.json node_modules/.locksmith-lock 2>/dev/null; then
    log "installing npm packages (locked versions)"
    # Not `npm ci`: the registry reached here lists only some of Tailwind's optional
    # per-platform binaries, so the lockfile cannot hold them all and `npm ci` refuses it.
    # `npm install --no-save` installs exactly the locked, integrity-checked versions and
    # leaves package-lock.json untouched.
    npm install --no-save --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.locksmith-lock
fi

log "ready"
