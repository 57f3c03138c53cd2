//! Races on the real binary: 1,000 webhooks, each delivered three times, all in parallel (64 at
//! a time), are exactly 1,000 events; a delivery answered 5xx is retried, as providers do, and a
//! 5xx never stored anything. Afterwards each trigger occurrence has at most one draft.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use shared::providers::signature::draftgate_signature;

mod support;

use support::{free_port, GENERIC_SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_webhooks_delivered_three_times_in_parallel_are_a_thousand_events() {
    let data = tempfile::tempdir().unwrap();
    let runner = support::start(
        data.path(),
        free_port(),
        &[],
        &["GENERIC_WEBHOOK_SECRET", "HUBSPOT_ACCESS_TOKEN"],
    )
    .await;
    // On `serve --aws` (DRAFTGATE_E2E_AWS) the emulator takes one DynamoDB request at a time:
    // 250 webhooks there unless DRAFTGATE_RACE_WEBHOOKS says otherwise.
    let n: u64 = std::env::var("DRAFTGATE_RACE_WEBHOOKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::var_os("DRAFTGATE_E2E_AWS").is_some() {
            250
        } else {
            1000
        });
    let sent_at = (runner.now().await - jiff::SignedDuration::from_mins(5)).to_string();
    let ts = runner.now().await.as_second().to_string();
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/generic", runner.base);
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for delivery in 0..3 {
        for i in 0..n {
            let body = json!({ "events": [{
                "id": format!("race-{i}"), "type": "proposal_sent", "occurred_at": sent_at,
                "deal": { "crm": "notion", "id": format!("deal-{}", i % 250), "name": format!("Deal {}", i % 250),
                          "contact": { "email": format!("buyer{}@example.com", i % 250), "first_name": "Kim" } } }] })
            .to_string();
            let sig = draftgate_signature(GENERIC_SECRET.as_bytes(), &ts, body.as_bytes());
            let (http, url, ts, limit) = (http.clone(), url.clone(), ts.clone(), limit.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                let mut server_errors = 0;
                loop {
                    let r = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-draftgate-timestamp", &ts)
                        .header("x-draftgate-signature", &sig)
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let answer: Value = r.json().await.unwrap_or(Value::Null);
                    match status {
                        200 => return (delivery, answer, server_errors),
                        500..=599 => server_errors += 1,
                        other => panic!("delivery answered {other}: {answer}"),
                    }
                }
            }));
        }
    }
    let (mut accepted, mut duplicates, mut retried) = (0, 0, 0);
    for t in tasks {
        let (_, answer, errors) = t.await.unwrap();
        accepted += answer["accepted"].as_u64().unwrap();
        duplicates += answer["duplicates"].as_u64().unwrap();
        retried += errors;
    }
    assert_eq!(
        (accepted, duplicates),
        (n, 2 * n),
        "{} deliveries ({retried} answered 5xx and retried)",
        3 * n
    );
    let audit = runner.get("/dev/audit").await;
    let events = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "event.accepted")
        .count();
    assert_eq!(
        u64::try_from(events).unwrap(),
        n,
        "each event recorded once"
    );

    // 72 hours on, the proposal follow-ups: at most one draft per occurrence (and per deal, the
    // per-deal cap), however the sweeps interleave.
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 97 * 3600 }))
        .await;
    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let http = http.clone();
            let url = format!("{}/dev/sweep", runner.base);
            tokio::spawn(async move {
                http.post(url)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for s in sweeps {
        assert!(s.await.unwrap().is_success());
    }
    let outbox = runner.get("/dev/outbox").await;
    let mut per_draft: HashMap<String, usize> = HashMap::new();
    for e in outbox.as_array().unwrap() {
        if let Some(id) = e["draft_id"].as_str() {
            *per_draft.entry(id.to_string()).or_default() += 1;
        }
    }
    assert!(!per_draft.is_empty(), "follow-ups were drafted");
    assert!(
        per_draft.values().all(|n| *n == 1),
        "each draft notified once: {per_draft:?}"
    );
    let fired = runner
        .get("/dev/audit")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "draft.created")
        .map(|e| (e["deal"].to_string(), e["detail"]["occurrence"].to_string()))
        .fold(HashMap::<(String, String), usize>::new(), |mut m, k| {
            *m.entry(k).or_default() += 1;
            m
        });
    assert!(fired.values().all(|n| *n == 1), "one draft per occurrence");
    assert_eq!(fired.len(), per_draft.len());
}
