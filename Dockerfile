# syntax=docker/dockerfile:1
# Locksmith's image: built with the project's own toolchain recipe (scripts/bootstrap.sh
# pins the same versions), run as an unprivileged user with only the binary, the
# portal's assets and PostgreSQL's client tools (for `locksmith backup` / `restore`).
# It needs an external PostgreSQL (DATABASE_URL): the embedded cluster is for one
# machine, not for containers. See docs/production.md.

FROM rust:1.95-bookworm AS build
ARG CARGO_LEPTOS_VERSION=0.3.10
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nodejs npm mold pkg-config \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown
RUN cargo install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION" --features no_downloads
WORKDIR /src
# The wasm-bindgen CLI must equal the library in Cargo.lock.
COPY Cargo.lock ./
RUN version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock) \
 && cargo install --locked wasm-bindgen-cli --version "$version"
COPY package.json package-lock.json ./
RUN npm install --no-save --no-audit --no-fund --loglevel=error
COPY . .
ENV PATH="/src/node_modules/.bin:${PATH}" SQLX_OFFLINE=true
RUN cargo leptos build --release \
 && strip target/release/locksmith

FROM debian:bookworm-slim AS runtime
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates curl postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/locksmith --create-home \
      --shell /usr/sbin/nologin locksmith
COPY --from=build /src/target/release/locksmith /usr/local/bin/locksmith
COPY --from=build /src/target/site /opt/locksmith/site
USER 10001:10001
WORKDIR /var/lib/locksmith
ENV LOCKSMITH_PROFILE=production \
    LOCKSMITH_HOST=0.0.0.0 \
    LOCKSMITH_PORT=3000 \
    LOCKSMITH_SITE_ROOT=/opt/locksmith/site \
    LOCKSMITH_DATA_DIR=/var/lib/locksmith \
    LOCKSMITH_LOG_FORMAT=json
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:3000/readyz"]
ENTRYPOINT ["/usr/local/bin/locksmith"]
CMD ["serve"]
