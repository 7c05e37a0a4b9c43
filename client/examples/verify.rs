//! Verifies one key and prints Locksmith's verdict as JSON.
//!
//! ```sh
//! LOCKSMITH_URL=http://127.0.0.1:8080 LOCKSMITH_VERIFIER_TOKEN=lsv_... \
//!     cargo run -p locksmith-client --example verify -- lsk_... [--cost N] [--ip ADDR] [SCOPE...]
//! ```
//!
//! Exits with 0 for a `VALID` key, 1 for a refused one, 2 when there was no decision.

#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use locksmith_client::{Client, VerifyRequest};

const USAGE: &str = "usage: verify KEY [--cost N] [--ip ADDR] [SCOPE...]";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// Whether the key is valid; what went wrong otherwise.
async fn run() -> Result<bool, String> {
    let mut args = std::env::args().skip(1);
    let key = args.next().ok_or(USAGE)?;
    let mut request = VerifyRequest::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cost" => {
                let cost = args.next().ok_or(USAGE)?;
                request = request.cost(cost.parse().map_err(|_| format!("bad cost {cost:?}"))?);
            }
            "--ip" => {
                let ip = args.next().ok_or(USAGE)?;
                request = request.client_ip(ip.parse().map_err(|_| format!("bad address {ip:?}"))?);
            }
            scope => request = request.scope(scope),
        }
    }
    let url = std::env::var("LOCKSMITH_URL").map_err(|_| "LOCKSMITH_URL is not set")?;
    let token = std::env::var("LOCKSMITH_VERIFIER_TOKEN")
        .map_err(|_| "LOCKSMITH_VERIFIER_TOKEN is not set")?;
    let client = Client::builder(url, token)
        .build()
        .map_err(|e| e.to_string())?;
    let verdict = client
        .verify(&key, &request)
        .await
        .map_err(|e| format!("no decision: {e}"))?;
    let json = serde_json::to_string_pretty(&verdict).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(verdict.valid)
}
