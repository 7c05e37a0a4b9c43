//! The client load generator of `scripts/bench-integration.sh`: `--tasks` concurrent
//! tasks verifying one key through `locksmith-client` as fast as answers come, with the
//! local cache on or off. Prints one JSON line like `loadgen`'s: requests per second and
//! latency percentiles of `Client::verify`, and how many answers came from the cache.

use std::time::{Duration, Instant};

use clap::Parser;
use locksmith_client::{CacheConfig, Client, VerifyRequest};

#[derive(Parser, Debug)]
struct Args {
    /// Locksmith's base URL, e.g. http://127.0.0.1:3000.
    #[arg(long)]
    url: String,
    /// A verifier token.
    #[arg(long)]
    verifier: String,
    /// The key to verify.
    #[arg(long)]
    key: String,
    /// Whether the local cache answers (kept coherent by the invalidation stream).
    #[arg(long)]
    cache: bool,
    /// Concurrent tasks (each a verification in flight at a time).
    #[arg(long, default_value_t = 64)]
    tasks: usize,
    /// Measured seconds (after `--warmup`).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured seconds first.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// A label for the output line.
    #[arg(long, default_value = "run")]
    label: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut builder = Client::builder(args.url.clone(), args.verifier.clone());
    if args.cache {
        builder = builder.cache(CacheConfig::default());
    }
    let client = builder.build()?;
    if args.cache && !client.wait_until_cache_live(Duration::from_secs(10)).await {
        return Err("the invalidation stream did not come up".into());
    }
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let end = measure_from + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.tasks)
        .map(|_| {
            let (client, key) = (client.clone(), args.key.clone());
            tokio::spawn(async move {
                let request = VerifyRequest::new();
                let (mut latencies_us, mut errors, mut invalid) = (Vec::new(), 0_u64, 0_u64);
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let result = client.verify(&key, &request).await;
                    if sent < measure_from {
                        continue;
                    }
                    match result {
                        Ok(verdict) if verdict.valid => {
                            let us = sent.elapsed().as_micros();
                            latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                        }
                        Ok(_) => invalid += 1,
                        Err(_) => errors += 1,
                    }
                }
                (latencies_us, errors, invalid)
            })
        })
        .collect();
    let (mut latencies, mut errors, mut invalid) = (Vec::new(), 0, 0);
    for task in tasks {
        let (l, e, i) = task.await?;
        latencies.extend(l);
        errors += e;
        invalid += i;
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[idx]) / 1000.0
    };
    let stats = client.stats();
    let line = serde_json::json!({
        "label": args.label,
        "connections": args.tasks,
        "requests": latencies.len(),
        "errors": errors,
        "invalid": invalid,
        "rps": latencies.len() as f64 / args.seconds as f64,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "cache_hits": stats.hits,
        "cache_misses": stats.misses,
        "statuses": {},
    });
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
    Ok(())
}
