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

// A benchmark report: printing is its interface.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::sweep::{Sweeper, PAGE};
use shared::app::Core;
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

/// N deals; `due` of them due a minute ago, the rest due later (spread over 30 days).
async fn fill(store: &EmbeddedStore, n: usize, due: usize, now: Timestamp) {
    let created = now - SignedDuration::from_hours(24 * 10);
    let stride = (n / due.max(1)).max(1);
    for i in 0..n {
        let mut deal = Deal::new(DealRef::new("bench", format!("{i}")), created);
        deal.version = 1;
        deal.next_due_at = Some(if i % stride == 0 && i / stride < due {
            now - SignedDuration::from_mins(1)
        } else {
            now + SignedDuration::from_secs(60 + (i as i64 * 7919) % (30 * 86_400))
        });
        store.put_deal(&deal).await.expect("stored");
    }
}

async fn measure(n: usize, due: usize) -> (usize, Duration, Duration, Duration) {
    let now: Timestamp = NOW.parse().unwrap();
    let store = EmbeddedStore::open_in_memory().expect("store");
    let started = Instant::now();
    fill(&store, n, due, now).await;
    let load = started.elapsed();
    let clock = Arc::new(ManualClock::new(now));
    let core = Core {
        config: Arc::new(Config::bundled().expect("the bundled config")),
        store: store.clone(),
        audit: store.clone(),
        clock,
    };
    let sweeper = Sweeper {
        core,
        evaluate_queue: store.queue("evaluate"),
        draft_queue: store.queue("drafts"),
    };
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
    (found, load, median(reads), median(sweeps))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    println!("Sweep at scale (embedded store); a sweep reads at most {PAGE} due deals");
    println!(
        "{:>10} {:>7} {:>10} {:>14} {:>11} {:>16}",
        "deals", "due", "load s", "due read ms", "sweep ms", "sweep µs/due"
    );
    for &n in &sizes {
        for due in [n / 100, 100] {
            let (found, load, read, sweep) = measure(n, due).await;
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
    }
}
