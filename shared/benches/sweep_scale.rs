//! The sweep at scale: N deals in the store, some of them due; the scheduled sweep reads only the
//! due ones (the due index), so its cost follows the due deals, not N.
//!
//!     cargo bench -p shared --features embedded --bench sweep_scale [-- 10000 100000 1000000]
//!
//! For each N it fills an embedded store (SQLite, in memory: the load is not what is measured)
//! with N deals, 1 % of them due now and the rest due over the next 30 days, and times:
//! - the due-index read alone (`due_deals`, one page of up to 1,000), median of 21;
//! - a whole sweep (read, rank, enqueue one evaluation per due deal), median of 5;
//! - the same two with exactly 100 deals due, to show N itself costs nothing.
//!
//! On DynamoDB (the emulator, or a real table):
//!
//!     cargo bench -p shared --features embedded,aws,http-client --bench sweep_scale -- --aws 10000 100000
//!
//! with AWS_ENDPOINT_URL, AWS_REGION and PIPELINE_TABLE set (`infra/emulator.py up` prints
//! them; `scripts/bench sweep` does it all). One table grows from size to size with the same 100
//! deals due, so each row shows what N itself costs; the evaluations go to an embedded queue,
//! so the figures are the store's. The emulator answers a GSI query by looking at every item
//! (DynamoDB reads only the index entries asked for), so its times grow with N; the requests
//! and read units it counts per sweep are what DynamoDB bills, and those do not.

// A benchmark report: printing is its interface.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::sweep::{Sweeper, PAGE};
use shared::assembly::{Adapters, Services, Settings};
use shared::config::Config;
use shared::domain::{Deal, DealRef};
use shared::ports::PipelineStore;

const NOW: &str = "2026-11-30T10:00:00Z";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Deals `from..n`, the `due` in `from..n` due a minute ago, the rest due later (spread
/// over 30 days); 16 written at a time.
async fn fill(store: &dyn PipelineStore, from: usize, n: usize, due: usize, now: Timestamp) {
    use futures_util::stream::{self, StreamExt};
    let created = now - SignedDuration::from_hours(24 * 10);
    let stride = ((n - from) / due.max(1)).max(1);
    let results: Vec<_> = stream::iter(from..n)
        .map(|i| async move {
            let mut deal = Deal::new(DealRef::new("bench", format!("{i}")), created);
            deal.version = 1;
            let j = i - from;
            deal.next_due_at = Some(if j.is_multiple_of(stride) && j / stride < due {
                now - SignedDuration::from_mins(1)
            } else {
                now + SignedDuration::from_secs(60 + (i as i64 * 7919) % (30 * 86_400))
            });
            store.put_deal(&deal).await
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        r.expect("stored");
    }
}

/// Times the due-index read and whole sweeps on `store` as it is.
async fn time_sweep(
    store: Arc<dyn PipelineStore>,
    queues: &Arc<EmbeddedStore>,
    now: Timestamp,
) -> (usize, Duration, Duration, Sweeper) {
    let clock = Arc::new(ManualClock::new(now));
    // The tables read are `store`'s; the audit log and the queues are the embedded store's.
    let sweeper = Services::build(
        Adapters {
            store: store.clone(),
            ..Adapters::embedded(queues, clock)
        },
        Settings::new(Arc::new(Config::bundled().expect("the bundled config"))),
    )
    .sweeper();
    let mut reads = Vec::new();
    let mut found = 0;
    for _ in 0..21 {
        let t = Instant::now();
        found = store.due_deals(now, PAGE).await.expect("read").len();
        reads.push(t.elapsed());
    }
    let mut sweeps = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let summary = sweeper.run().await.expect("sweep");
        sweeps.push(t.elapsed());
        assert_eq!(
            summary.enqueued, found,
            "every due deal of the page is enqueued"
        );
    }
    (found, median(reads), median(sweeps), sweeper)
}

async fn measure(n: usize, due: usize) -> (usize, Duration, Duration, Duration) {
    let now: Timestamp = NOW.parse().unwrap();
    let store = EmbeddedStore::open_in_memory().expect("store");
    let started = Instant::now();
    fill(&*store, 0, n, due, now).await;
    let load = started.elapsed();
    let (found, read, sweep, _) = time_sweep(store.clone(), &store, now).await;
    (found, load, read, sweep)
}

fn row(n: usize, found: usize, load: Duration, read: Duration, sweep: Duration) {
    println!(
        "{:>10} {:>7} {:>10.1} {:>14.2} {:>11.2} {:>16.1}",
        n,
        found,
        load.as_secs_f64(),
        ms(read),
        ms(sweep),
        sweep.as_secs_f64() * 1e6 / found.max(1) as f64
    );
}

/// The same on DynamoDB: one table grown from size to size, the first 100 deals due.
#[cfg(all(feature = "aws", feature = "http-client"))]
async fn on_dynamodb(sizes: &[usize]) {
    let sdk = shared::adapters::aws::load_sdk_config().await;
    let table = std::env::var("PIPELINE_TABLE").expect("PIPELINE_TABLE (infra/emulator.py up)");
    let store = Arc::new(shared::adapters::aws::DynamoPipelineStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table,
    ));
    let queues = EmbeddedStore::open_in_memory().expect("queues");
    let now: Timestamp = NOW.parse().unwrap();
    let endpoint = sdk.endpoint_url().unwrap_or("AWS").to_string();
    // The emulator counts requests and read units (`GET /draftgate/counts`): what a real
    // table bills, whatever the emulator's own speed.
    let counts = format!("{}/draftgate/counts", endpoint.trim_end_matches('/'));
    let http = reqwest::Client::new();
    println!("Sweep at scale (DynamoDB: {endpoint})");
    println!(
        "{:>10} {:>7} {:>10} {:>14} {:>11} {:>16} {:>22}",
        "deals",
        "due",
        "load s",
        "due read ms",
        "sweep ms",
        "sweep µs/due",
        "per sweep: requests RRU"
    );
    let mut have = 0;
    for &n in sizes {
        let started = Instant::now();
        fill(&*store, have, n, if have == 0 { 100 } else { 0 }, now).await;
        let load = started.elapsed();
        have = n;
        let (found, read, sweep, sweeper) = time_sweep(store.clone(), &queues, now).await;
        // One more sweep, counted.
        let before = dynamodb_counts(&http, &counts).await;
        sweeper.run().await.expect("sweep");
        let after = dynamodb_counts(&http, &counts).await;
        let per = |i: usize| match (before, after) {
            (Some(b), Some(a)) => a[i] - b[i],
            _ => f64::NAN,
        };
        println!(
            "{:>10} {:>7} {:>10.1} {:>14.2} {:>11.2} {:>16.1} {:>13.1} {:>8.1}",
            n,
            found,
            load.as_secs_f64(),
            ms(read),
            ms(sweep),
            sweep.as_secs_f64() * 1e6 / found.max(1) as f64,
            per(0),
            per(1)
        );
    }
}

/// DynamoDB requests and read units so far, from the emulator (`None` on a real account).
#[cfg(all(feature = "aws", feature = "http-client"))]
async fn dynamodb_counts(http: &reqwest::Client, url: &str) -> Option<[f64; 2]> {
    let counts: std::collections::HashMap<String, f64> =
        http.get(url).send().await.ok()?.json().await.ok()?;
    let requests = counts
        .iter()
        .filter(|(k, _)| k.starts_with("DynamoDB."))
        .map(|(_, v)| v)
        .sum();
    Some([
        requests,
        counts.get("DynamoDB:ReadUnits").copied().unwrap_or(0.0),
    ])
}

fn header() {
    println!(
        "{:>10} {:>7} {:>10} {:>14} {:>11} {:>16}",
        "deals", "due", "load s", "due read ms", "sweep ms", "sweep µs/due"
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args
        .iter()
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    if args.iter().any(|a| a == "--aws") {
        #[cfg(all(feature = "aws", feature = "http-client"))]
        {
            let sizes = if sizes.is_empty() {
                vec![10_000, 100_000]
            } else {
                sizes
            };
            on_dynamodb(&sizes).await;
            return;
        }
        #[cfg(not(all(feature = "aws", feature = "http-client")))]
        panic!("--aws needs --features embedded,aws,http-client");
    }
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    println!("Sweep at scale (embedded store); a sweep reads at most {PAGE} due deals");
    header();
    for &n in &sizes {
        for due in [n / 100, 100] {
            let (found, load, read, sweep) = measure(n, due).await;
            row(n, found, load, read, sweep);
        }
    }
}
