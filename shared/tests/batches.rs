//! A HubSpot batch spanning many deals: different deals are recorded at once, each deal's events
//! in the order HubSpot sent them, and a redelivered batch records nothing twice. HubSpot waits
//! 5 s for its answer; recorded one deal after another, a 100-event batch would pay every
//! store round trip in sequence.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use jiff::Timestamp;
use serde_json::{json, Value};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::{AuditEntry, DealRef};
use shared::ports::{AuditLog, DealStore, StoreError};
use shared::providers::signature::hubspot_v3_signature;
use shared::providers::Providers;

const HUBSPOT_SECRET: &str = "hubspot-secret-3e51b7a0";
const BASE_URL: &str = "https://hooks.example";

/// The audit log, slowed down, counting how many appends are in flight at once: each recorded
/// event appends one entry, so the peak is how many events were being recorded together.
struct SlowAudit {
    inner: Arc<EmbeddedStore>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

#[async_trait]
impl AuditLog for SlowAudit {
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.inner.append(entry).await
    }
}

/// Six deals, three stage changes each, interleaved as HubSpot batches them.
fn batch(now: Timestamp) -> Value {
    let stages = [
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
    ];
    let mut events = Vec::new();
    for (step, stage) in stages.iter().enumerate() {
        for deal in 0..6 {
            events.push(json!({
                "eventId": 9100 + step * 10 + deal, "subscriptionId": 2465712,
                "portalId": 44556677, "appId": 1160452,
                "occurredAt": now.as_millisecond() - 60_000 + i64::try_from(step).unwrap() * 1000,
                "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
                "objectId": 18544520 + deal, "propertyName": "dealstage",
                "propertyValue": stage, "changeSource": "CRM_UI",
            }));
        }
    }
    Value::Array(events)
}

fn signed(body: &Value, now: Timestamp) -> http::Request<Bytes> {
    let body = body.to_string();
    let ts = now.as_millisecond().to_string();
    let url = format!("{BASE_URL}/webhooks/hubspot");
    let sig = hubspot_v3_signature(
        HUBSPOT_SECRET.as_bytes(),
        "POST",
        &url,
        body.as_bytes(),
        &ts,
    );
    http::Request::post("/webhooks/hubspot")
        .header("content-type", "application/json")
        .header("x-hubspot-signature-v3", sig)
        .header("x-hubspot-request-timestamp", ts)
        .body(Bytes::from(body))
        .unwrap()
}

#[tokio::test]
async fn a_batch_records_its_deals_at_once_each_in_order_and_a_redelivery_adds_nothing() {
    let store = EmbeddedStore::open_in_memory().unwrap();
    let now: Timestamp = "2026-03-02T10:50:00Z".parse().unwrap();
    let audit = Arc::new(SlowAudit {
        inner: store.clone(),
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let intake = Services::build(
        Adapters {
            audit: audit.clone(),
            ..Adapters::embedded(&store, Arc::new(ManualClock::new(now)))
        },
        Settings {
            public_base_url: BASE_URL.into(),
            providers: Providers::from_secrets(&[("HUBSPOT_CLIENT_SECRET", HUBSPOT_SECRET)]),
            ..Settings::new(Arc::new(shared::config::Config::bundled().unwrap()))
        },
    )
    .intake();

    let resp = intake.handle(signed(&batch(now), now)).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.body());
    let summary: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(summary["accepted"], 18, "{summary}");
    assert_eq!(summary["duplicates"], 0, "{summary}");
    // Events of different deals were in flight together; one deal's never are, as each waits
    // for the one before it.
    let peak = audit.peak.load(Ordering::SeqCst);
    assert!(
        peak > 1,
        "the batch's six deals were recorded one after another"
    );
    assert!(peak <= 6, "{peak} events in flight for six deals");

    for deal in 0..6 {
        let key = DealRef::new("hubspot", (18_544_520 + deal).to_string());
        let timeline = store.timeline(&key).await.unwrap();
        assert_eq!(timeline.len(), 3, "deal {key}");
        let state = store.get_deal(&key).await.unwrap().unwrap();
        assert_eq!(
            state.raw_stage.as_deref(),
            Some("presentationscheduled"),
            "deal {key}: its last event wins, as HubSpot sent them"
        );
    }

    // HubSpot retries the same batch: all duplicates, nothing recorded twice.
    let again = intake.handle(signed(&batch(now), now)).await;
    assert_eq!(again.status(), 200);
    let summary: Value = serde_json::from_slice(again.body()).unwrap();
    assert_eq!(summary["accepted"], 0, "{summary}");
    assert_eq!(summary["duplicates"], 18, "{summary}");
    let key = DealRef::new("hubspot", "18544520");
    assert_eq!(store.timeline(&key).await.unwrap().len(), 3);
}
