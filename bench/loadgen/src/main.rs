//! `loadgen`: signed webhooks at a fixed rate against a draftgate runner, open loop (each request
//! leaves at its scheduled time whether or not earlier ones answered, and its answer time counts
//! from that schedule, so a stalled server cannot hide its queueing).
//!
//!     loadgen --url http://127.0.0.1:8080 --rate 200 --secs 60 [--rate 1000 ...] [--pid PID]
//!
//! Each `--rate` is one step of `--secs` seconds. Each webhook is the generic route's batch of one
//! event for one of `--deals` deals, signed with `--secret` (X-Draftgate-Signature). Per step it
//! prints requests, errors, the rate achieved, p50/p90/p99/max answer time, and with `--pid` the
//! server's CPU (share of one core) and its resident memory at the end and at its peak.

// A command-line tool: its report is its interface.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use shared::providers::signature::draftgate_signature;

#[derive(Parser)]
struct Args {
    /// The runner's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Requests per second; repeat for steps.
    #[arg(long, required = true)]
    rate: Vec<u32>,
    /// Seconds per step.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// The generic route's secret (GENERIC_WEBHOOK_SECRET; the runner's development value).
    #[arg(long, default_value = "dev-generic-secret")]
    secret: String,
    /// Distinct deals the events are spread over.
    #[arg(long, default_value_t = 1000)]
    deals: u64,
    /// The server's process id, for its CPU and memory.
    #[arg(long)]
    pid: Option<u32>,
    /// Print one JSON line per step as well.
    #[arg(long)]
    json: bool,
}

struct Step {
    rate: u32,
    sent: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    micros: Vec<u64>,
    cpu_share: Option<f64>,
    rss_mib: Option<f64>,
    hwm_mib: Option<f64>,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// utime + stime of `pid`, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name's closing parenthesis; utime and stime are 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn status_kib(pid: u32, field: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn step(args: &Args, http: &reqwest::Client, rate: u32, seq: &Arc<AtomicU64>) -> Step {
    let url = format!("{}/webhooks/generic", args.url.trim_end_matches('/'));
    let total = u64::from(rate) * args.secs;
    let every = Duration::from_secs_f64(1.0 / f64::from(rate));
    let ticks_before = args.pid.and_then(cpu_ticks);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let due = started + every.mul_f64(n as f64);
        tokio::time::sleep_until(due.into()).await;
        let i = seq.fetch_add(1, Ordering::Relaxed);
        let deal = i % args.deals;
        let body = serde_json::json!({ "events": [{
            "id": format!("load-{}-{i}", unix_secs()),
            "type": "proposal_sent",
            "occurred_at": (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(30)).to_string(),
            "deal": { "crm": "loadtest", "id": format!("deal-{deal}"), "name": format!("Load deal {deal}"),
                      "contact": { "email": format!("buyer{deal}@example.com"), "first_name": "Kim" } } }] })
        .to_string();
        let ts = unix_secs().to_string();
        let sig = draftgate_signature(args.secret.as_bytes(), &ts, body.as_bytes());
        let req = http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-draftgate-timestamp", ts)
            .header("x-draftgate-signature", sig)
            .body(body);
        tasks.push(tokio::spawn(async move {
            let result = req.send().await;
            let outcome = match result {
                Ok(r) if r.status().is_success() => {
                    // Read the answer: the request is done when its body is.
                    r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                }
                Ok(r) => {
                    let status = r.status();
                    Err(format!("{status}: {}", r.text().await.unwrap_or_default()))
                }
                Err(e) => Err(e.to_string()),
            };
            (due.elapsed().as_micros() as u64, outcome)
        }));
    }
    let mut micros = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok((us, Ok(()))) => micros.push(us),
            Ok((us, Err(e))) => {
                micros.push(us);
                errors += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let elapsed = started.elapsed();
    micros.sort_unstable();
    let cpu_share = match (ticks_before, args.pid.and_then(cpu_ticks)) {
        (Some(a), Some(b)) => Some((b - a) as f64 / 100.0 / elapsed.as_secs_f64()),
        _ => None,
    };
    Step {
        rate,
        sent: total as usize,
        errors,
        first_error,
        elapsed,
        micros,
        cpu_share,
        rss_mib: args
            .pid
            .and_then(|p| status_kib(p, "VmRSS:"))
            .map(|k| k / 1024.0),
        hwm_mib: args
            .pid
            .and_then(|p| status_kib(p, "VmHWM:"))
            .map(|k| k / 1024.0),
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let seq = Arc::new(AtomicU64::new(0));
    println!(
        "{:>6} {:>8} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9}",
        "rate/s",
        "requests",
        "errors",
        "achieved",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "server CPU",
        "RSS MiB",
        "peak MiB"
    );
    let mut failed = false;
    for &rate in &args.rate {
        let s = step(&args, &http, rate, &seq).await;
        let achieved = s.sent as f64 / s.elapsed.as_secs_f64();
        let fmt =
            |v: Option<f64>, scale: f64| v.map_or("-".into(), |v| format!("{:.1}", v * scale));
        println!(
            "{:>6} {:>8} {:>7} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9}% {:>9} {:>9}",
            s.rate,
            s.sent,
            s.errors,
            achieved,
            percentile(&s.micros, 50.0),
            percentile(&s.micros, 90.0),
            percentile(&s.micros, 99.0),
            percentile(&s.micros, 100.0),
            fmt(s.cpu_share, 100.0),
            fmt(s.rss_mib, 1.0),
            fmt(s.hwm_mib, 1.0),
        );
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "rate": s.rate, "requests": s.sent, "errors": s.errors, "achieved": achieved,
                    "p50_ms": percentile(&s.micros, 50.0), "p90_ms": percentile(&s.micros, 90.0),
                    "p99_ms": percentile(&s.micros, 99.0), "max_ms": percentile(&s.micros, 100.0),
                    "server_cpu": s.cpu_share, "rss_mib": s.rss_mib, "peak_rss_mib": s.hwm_mib,
                })
            );
        }
        if let Some(e) = &s.first_error {
            eprintln!("  first error at {rate}/s: {e}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
