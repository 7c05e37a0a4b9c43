//! `loadgen`: drives one HTTP endpoint over keep-alive HTTP/1.1 connections and prints
//! one JSON line: requests, throughput, latency percentiles and status counts.
//!
//! Closed loop by default (each connection sends its next request when the answer
//! arrives: peak throughput). With `--rate`, open loop: requests are scheduled at fixed
//! intervals and latency is measured from the scheduled time, so a stall is counted in
//! full (no coordinated omission). The schedule is kept by a pacer thread that hands
//! each request, on time to within [`PACE`], to the connections in turn; a connection
//! still waiting for its last answer queues the next. (Tokio's own timers tick once a
//! millisecond, so connections sleeping on them would send in bursts of a whole
//! millisecond's requests at once, which is not the load being asked for.)
//!
//! Bodies come from `--bodies` (one JSON body per line, used round-robin per
//! connection, so a file of 18 valid, 1 unknown and 1 revoked line is a 90/5/5 mix).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Target URL, e.g. http://127.0.0.1:3000/v1/verify.
    #[arg(long)]
    url: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds (after `--warmup`).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured seconds first.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Requests per second in total (open loop); 0: as fast as answers come.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// A file of request bodies, one per line (POST); without it, GET.
    #[arg(long)]
    bodies: Option<std::path::PathBuf>,
    /// `authorization: Bearer <token>`.
    #[arg(long)]
    bearer: Option<String>,
    /// Another request header, `name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// A label for the output line.
    #[arg(long, default_value = "run")]
    label: String,
}

/// The open loop's pacer releases what is due at least this often.
const PACE: Duration = Duration::from_micros(100);

struct Outcome {
    /// From the scheduled time (open loop) or the send (closed loop) to the answer.
    latencies_us: Vec<u32>,
    /// From the send to the answer: the server's part, without the load generator's
    /// timer lateness.
    service_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let uri: hyper::Uri = args.url.parse()?;
    let authority = uri.authority().ok_or("the URL needs a host")?.clone();
    let bodies: Vec<Bytes> = match &args.bodies {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Bytes::from(l.to_owned()))
            .collect(),
        None => Vec::new(),
    };
    let start = Instant::now() + Duration::from_millis(200);
    let measure_from = start + Duration::from_secs(args.warmup);
    let end = measure_from + Duration::from_secs(args.seconds);
    let open_loop = args.rate > 0;
    let mut schedules = Vec::new();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        // Open loop: the scheduled times of this connection's requests.
        let mut schedule = open_loop.then(|| {
            let (tx, rx) = mpsc::unbounded_channel::<Instant>();
            schedules.push(tx);
            rx
        });
        let (uri, authority, bodies, bearer) = (
            uri.clone(),
            authority.clone(),
            bodies.clone(),
            args.bearer.clone(),
        );
        let headers: Vec<(String, String)> = args
            .headers
            .iter()
            .filter_map(|h| h.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
            stream.set_nodelay(true)?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    eprintln!("[loadgen] connection: {error}");
                }
            });
            let mut out = Outcome {
                latencies_us: Vec::with_capacity(1 << 16),
                service_us: Vec::with_capacity(1 << 16),
                statuses: BTreeMap::new(),
                errors: 0,
            };
            let mut i = c;
            if schedule.is_none() {
                tokio::time::sleep_until(start.into()).await;
            }
            loop {
                let scheduled = match &mut schedule {
                    Some(schedule) => match schedule.recv().await {
                        Some(at) => at,
                        None => break,
                    },
                    None => Instant::now(),
                };
                if scheduled >= end {
                    break;
                }
                let mut request = Request::builder()
                    .uri(uri.path())
                    .header("host", authority.as_str());
                if let Some(token) = &bearer {
                    request = request.header("authorization", format!("Bearer {token}"));
                }
                for (name, value) in &headers {
                    request = request.header(name.as_str(), value.as_str());
                }
                let request = if bodies.is_empty() {
                    request.method("GET").body(Full::new(Bytes::new()))?
                } else {
                    let body = bodies[i % bodies.len()].clone();
                    i += 1;
                    request
                        .method("POST")
                        .header("content-type", "application/json")
                        .body(Full::new(body))?
                };
                sender.ready().await?;
                let sent = Instant::now();
                let result = sender.send_request(request).await;
                let status = match result {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        response.into_body().collect().await?;
                        Some(status)
                    }
                    Err(_) => None,
                };
                let done = Instant::now();
                if scheduled >= measure_from {
                    match status {
                        Some(s) => {
                            *out.statuses.entry(s).or_default() += 1;
                            let us = done.duration_since(scheduled).as_micros();
                            out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                            let us = done.duration_since(sent).as_micros();
                            out.service_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                        }
                        None => out.errors += 1,
                    }
                }
                if status.is_none() {
                    break;
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(out)
        }));
    }
    if open_loop {
        let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
        std::thread::spawn(move || pace(&schedules, start, end, interval));
    }
    let mut latencies = Vec::new();
    let mut service = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut errors = 0;
    for task in tasks {
        match task.await? {
            Ok(out) => {
                latencies.extend(out.latencies_us);
                service.extend(out.service_us);
                for (s, n) in out.statuses {
                    *statuses.entry(s).or_default() += n;
                }
                errors += out.errors;
            }
            Err(error) => {
                eprintln!("[loadgen] a connection failed: {error}");
                errors += 1;
            }
        }
    }
    latencies.sort_unstable();
    service.sort_unstable();
    let percentile = |sorted: &[u32], p: f64| -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        f64::from(sorted[idx]) / 1000.0
    };
    let pct = |p: f64| percentile(&latencies, p);
    let requests = latencies.len();
    let line = serde_json::json!({
        "label": args.label,
        "connections": args.connections,
        "target_rate": args.rate,
        "requests": requests,
        "errors": errors,
        "rps": requests as f64 / args.seconds as f64,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
        "service_p50_ms": percentile(&service, 0.50),
        "service_p99_ms": percentile(&service, 0.99),
        "statuses": statuses,
    });
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
    Ok(())
}

/// Hands request `k`, scheduled at `start + k * interval`, to connection `k % n` once it
/// is due, until `end`; then closes the schedules, which ends the connections' loops.
fn pace(
    schedules: &[mpsc::UnboundedSender<Instant>],
    start: Instant,
    end: Instant,
    interval: Duration,
) {
    if schedules.is_empty() {
        return;
    }
    let mut k: u32 = 0;
    let mut next = start;
    while next < end {
        let now = Instant::now();
        while next <= now && next < end {
            // A connection that failed has dropped its receiver: its share is not sent.
            let _ = schedules[k as usize % schedules.len()].send(next);
            k = k.wrapping_add(1);
            next = start + interval * k;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()).max(PACE));
    }
}
