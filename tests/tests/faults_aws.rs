//! Faults from the API side: the emulator fails a fifth of this test's DynamoDB requests
//! (500s, throttling, and requests held past the SDK's attempt timeout and then applied, so the
//! write happened and its answer was lost), with the SDK's own retries and timeouts in play.
//! Every webhook is answered 200 or 5xx, never 4xx, each event is stored exactly once, and each
//! has exactly one audit entry (`DRAFTGATE_FAULT_WEBHOOKS` sets how many webhooks; 60 in the test
//! command, 1,000 for the full run).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::SignedDuration;
use serde_json::{json, Value};
use shared::adapters::aws::{DynamoAuditLog, DynamoPipelineStore};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::DealRef;
use shared::ports::{AuditReader, Clock, DealStore};
use shared::providers::signature::draftgate_signature;
use shared::providers::Providers;
use shared::secret::Secret;

const SECRET: &str = "faults-aws-secret";
const DEALS: usize = 20;

fn webhooks() -> usize {
    std::env::var("DRAFTGATE_FAULT_WEBHOOKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// A CRM API that knows every deal: redeliveries are then set aside before recording.
struct KnowsEveryDeal;

#[async_trait::async_trait]
impl shared::ports::CrmClient for KnowsEveryDeal {
    async fn fetch_deal(
        &self,
        deal_id: &str,
    ) -> Result<shared::domain::DealSnapshot, shared::ports::CrmError> {
        Ok(shared::domain::DealSnapshot {
            name: Some(format!("Deal {deal_id}")),
            ..Default::default()
        })
    }
}

async fn faults(setting: Value) -> Value {
    let url = format!("{}/draftgate/faults", support::aws::emulator().endpoint);
    reqwest::Client::new()
        .post(url)
        .json(&setting)
        .send()
        .await
        .expect("the emulator's fault control")
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_failing_a_fifth_of_requests_loses_and_doubles_no_event() {
    let stack = tokio::task::spawn_blocking(support::aws::template_stack)
        .await
        .unwrap();
    let table = stack["PIPELINE_TABLE"].clone();
    // The SDK as a function would meet the faults: standard retries, and an attempt that takes
    // longer than 800 ms abandoned and retried.
    let sdk = support::aws::sdk_config()
        .await
        .to_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(800))
                .build(),
        )
        .build();
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let store = Arc::new(DynamoPipelineStore::new(dynamo.clone(), &table));
    let audit = Arc::new(DynamoAuditLog::new(dynamo, &stack["AUDIT_TABLE"]));
    let mut crm: HashMap<String, Arc<dyn shared::ports::CrmClient>> = HashMap::new();
    crm.insert("notion".into(), Arc::new(KnowsEveryDeal));
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let local = EmbeddedStore::open_in_memory().unwrap();
    let intake = Services::build(
        Adapters {
            crm_clients: crm,
            events: Some(local),
            ..Adapters::new(store.clone(), audit.clone(), clock.clone())
        },
        Settings {
            public_base_url: "https://hooks.example".into(),
            providers: Providers::build(&["generic"], |_| Some(Secret::new(SECRET))),
            ..Settings::new(Arc::new(shared::config::Config::bundled().unwrap()))
        },
    )
    .intake();
    // Only this test's tables: the other tests share the emulator.
    let prefix = table.trim_end_matches("-pipeline").to_string();
    faults(
        json!({ "rate": 0.2, "kinds": ["error", "throttle", "timeout"], "services": ["DynamoDB"],
                   "match": prefix, "delay_secs": 1.0, "seed": 11 }),
    )
    .await;

    let sent_at = (clock.now() - SignedDuration::from_mins(5)).to_string();
    let mut server_errors = 0;
    let webhooks = webhooks();
    for i in 0..webhooks {
        let body = json!({ "events": [{
            "id": format!("api-fault-{i}"), "type": "proposal_sent", "occurred_at": sent_at,
            "deal": { "crm": "notion", "id": format!("deal-{}", i % DEALS), "name": format!("Deal {}", i % DEALS),
                      "contact": { "email": format!("buyer{}@example.com", i % DEALS), "first_name": "Kim" } } }] })
        .to_string();
        // Delivered until answered 200, then once more (the provider's own duplicate).
        for _ in 0..2 {
            for attempt in 0.. {
                let ts = clock.now().as_second().to_string();
                let sig = draftgate_signature(SECRET.as_bytes(), &ts, body.as_bytes());
                let req = http::Request::builder()
                    .method("POST")
                    .uri("/webhooks/generic")
                    .header("content-type", "application/json")
                    .header("x-draftgate-timestamp", ts)
                    .header("x-draftgate-signature", sig)
                    .body(Bytes::from(body.clone()))
                    .unwrap();
                let resp = intake.handle(req).await;
                match resp.status().as_u16() {
                    200 => break,
                    500..=599 => server_errors += 1,
                    other => panic!(
                        "webhook {i} answered {other}: {}",
                        String::from_utf8_lossy(resp.body())
                    ),
                }
                assert!(attempt < 50, "webhook {i} never stored");
            }
        }
    }
    let state: Value = reqwest::get(format!(
        "{}/draftgate/faults",
        support::aws::emulator().endpoint
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    faults(json!({ "rate": 0 })).await;
    let injected: u64 = state["injected"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();

    let mut stored = 0;
    for d in 0..DEALS {
        let timeline = store
            .timeline(&DealRef::new("notion", format!("deal-{d}")))
            .await
            .unwrap();
        let ids: std::collections::BTreeSet<&str> =
            timeline.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), timeline.len(), "deal-{d}: no event stored twice");
        assert_eq!(
            timeline.len(),
            webhooks / DEALS,
            "deal-{d}: every event stored"
        );
        stored += timeline.len();
        // Exactly one audit entry per event, however the writes failed and were retried.
        let deal = DealRef::new("notion", format!("deal-{d}"));
        let entries = audit.entries(Some(&deal)).await.unwrap();
        let mut per_event: HashMap<String, usize> = HashMap::new();
        for e in entries.iter().filter(|e| e.kind == "event.accepted") {
            *per_event
                .entry(e.detail["event_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        assert_eq!(per_event.len(), ids.len(), "deal-{d}: every event audited");
        assert!(
            per_event.values().all(|n| *n == 1),
            "deal-{d}: audited once"
        );
    }
    assert_eq!(stored, webhooks);
    assert!(
        injected > 0,
        "{injected} DynamoDB requests failed by the emulator ({:?}); {server_errors} answers were 5xx",
        state["injected"]
    );
}
