//! A small axum service whose routes are protected by Locksmith API keys.
//!
//! ```sh
//! LOCKSMITH_URL=http://127.0.0.1:8080 LOCKSMITH_VERIFIER_TOKEN=lsv_... \
//!     cargo run -p locksmith-client --example service
//! curl -H 'x-api-key: lsk_...' http://127.0.0.1:3000/orders
//! curl -X POST -H 'x-api-key: lsk_...' http://127.0.0.1:3000/orders/42/refund
//! ```
//!
//! `PORT` sets the port (default 3000); `RUST_LOG` the log filter (default `info`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use locksmith_client::{CacheConfig, Client, UnavailablePolicy, VerifiedKey, VerifyLayer};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let url = env("LOCKSMITH_URL")?;
    let token = env("LOCKSMITH_VERIFIER_TOKEN")?;
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT {port:?} is not a port"))?,
        Err(_) => 3000,
    };

    let client = Client::builder(url, token)
        // Answers for keys without quota or rate limit are served from memory while the
        // invalidation stream is up; a revoked key stops working within moments.
        .cache(CacheConfig::default())
        // Fail open, for at most 5 minutes: when Locksmith is unreachable or degraded, a
        // key that was VALID for the same request within the last 5 minutes is still let
        // in (its quota and rate limit are not counted meanwhile), and any other key is
        // refused with 503. This keeps the service up through a short Locksmith outage,
        // at the price of accepting a key revoked while the invalidation stream was down
        // too, for as long as the record is younger than `max_age`. A service where a
        // revoked key must stop at once (payments, administration) keeps the default,
        // `UnavailablePolicy::FailClosed`.
        .unavailable_policy(UnavailablePolicy::FailOpen {
            max_age: Duration::from_secs(300),
        })
        .build()?;

    let app = Router::new()
        .route("/orders", get(list_orders))
        .route("/me", get(me))
        // Every route above needs a key granting `orders:read`.
        .route_layer(VerifyLayer::new(client.clone()).scopes(["orders:read"]))
        // A refund needs `orders:refund` and spends 5 credits of the key's quota.
        .route(
            "/orders/{id}/refund",
            post(refund).route_layer(VerifyLayer::new(client).scopes(["orders:refund"]).cost(5)),
        )
        // Routes added after the layers are public.
        .route("/health", get(|| async { "ok" }));

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    // The peer address is the client address the key's IP allowlist is checked against.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The value of the environment variable `name`, which must be set.
fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

async fn list_orders(key: VerifiedKey) -> Json<Value> {
    Json(json!({ "owner_id": key.owner_id, "orders": [] }))
}

async fn refund(key: VerifiedKey, Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "order": id, "refunded_by": key.name }))
}

async fn me(key: VerifiedKey) -> Json<Value> {
    Json(json!({
        "key_id": key.key_id,
        "name": key.name,
        "scopes": key.scopes,
        "meta": key.meta,
        "expires_at": key.expires_at,
        "answered_by": format!("{:?}", key.source),
    }))
}
