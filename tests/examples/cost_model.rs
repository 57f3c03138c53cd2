//! The requests behind the cost model, counted: draftgate's own services on the AWS adapters
//! (DynamoDB, SQS, EventBridge, SNS, SES) against the emulator, which counts every API request by
//! operation and estimates DynamoDB request units (`infra/emulator.py`, `GET /draftgate/counts`).
//!
//! `scripts/cost-model.py` starts the emulator, creates the template's resources, runs this with
//! their settings and prices what it prints. Phases, each counted on its own:
//! - `webhook_new_deal`: one signed webhook (one event) creating each deal;
//! - `webhook`: one more per deal (a proposal sent: an event on a known deal, the common case),
//!   then the same webhooks redelivered (`webhook_redelivered`);
//! - `sweep`: the scheduled sweep with every deal due (its fixed part is one run);
//! - `evaluate`: one evaluation per due deal (receive, evaluate, delete: what the event source
//!   mapping and the function do);
//! - `draft`: one draft per fired follow-up (render, store, notify the founder by SNS);
//! - `approve`: the founder approves each draft on the review page (SES send, audit, bus event,
//!   CRM write-back job);
//! - `send_event`: SES's Send event of each approved message, recorded by mail-events;
//! - `crm_write`: the write-back worker logs each sent email on the deal (HubSpot, mocked);
//! - `idle_sweep`: a sweep with nothing due (what 96 runs a day cost when nothing happens).
//!
//! Each phase prints `{"phase", "units", "lambda_ms", "counts"}` on one line: `units` is what it is
//! per (webhooks, deals, drafts), `lambda_ms` the handler time summed (the billed duration, in
//! the emulator's latency), `counts` the API requests by operation.

// A measuring tool: its output is its interface.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use jiff::SignedDuration;
use serde_json::{json, Value};
use shared::adapters::aws::{
    DynamoAuditLog, DynamoPipelineStore, EventBridgePublisher, SesSender, SnsEmailNotifier,
    SqsQueue,
};
use shared::adapters::clock::ManualClock;
use shared::app::ses_sends;
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::DraftStatus;
use shared::ports::{Clock, CrmWriter, DraftStore, Notifier, QueueConsumer};
use shared::providers::hubspot::HubSpotClient;
use shared::providers::signature::draftgate_signature;
use shared::providers::Providers;
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "cost-model-secret";

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/cost-model.py"))
}

struct Counter {
    http: reqwest::Client,
    url: String,
}

impl Counter {
    async fn reset(&self) {
        self.http.delete(&self.url).send().await.expect("counts");
    }

    async fn take(&self) -> BTreeMap<String, Value> {
        let counts = self
            .http
            .get(&self.url)
            .send()
            .await
            .expect("counts")
            .json()
            .await
            .expect("JSON counts");
        self.reset().await;
        counts
    }
}

fn report(phase: &str, units: usize, lambda: std::time::Duration, counts: BTreeMap<String, Value>) {
    println!(
        "{}",
        json!({ "phase": phase, "units": units, "lambda_ms": lambda.as_secs_f64() * 1000.0, "counts": counts })
    );
}

/// Receive and handle every message on `queue`, as the event source mapping and the function do.
async fn drain<F, Fut>(queue: &SqsQueue, mut handle: F) -> (usize, std::time::Duration)
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (mut handled, mut busy) = (0, std::time::Duration::ZERO);
    let mut empty = 0;
    while empty < 2 {
        let batch = queue.receive(10).await.expect("receive");
        if batch.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        let started = Instant::now();
        for d in batch {
            assert!(handle(d.body.clone()).await, "a message failed: {}", d.body);
            queue.ack(&d.receipt).await.expect("delete");
            handled += 1;
        }
        busy += started.elapsed();
    }
    (handled, busy)
}

#[tokio::main]
async fn main() {
    let deals: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let sdk = aws_config::load_from_env().await;
    let endpoint = setting("AWS_ENDPOINT_URL");
    let counter = Counter {
        http: reqwest::Client::new(),
        url: format!("{}/draftgate/counts", endpoint.trim_end_matches('/')),
    };
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ses = aws_sdk_sesv2::Client::new(&sdk);

    let mut config = shared::config::Config::bundled().expect("the bundled config");
    config.limits.daily_draft_budget = u32::try_from(deals).unwrap_or(u32::MAX);
    let from = &config.founder.from;
    let address = from
        .rsplit_once('<')
        .map_or(from.as_str(), |(_, a)| a.trim_end_matches('>'));
    ses.create_email_identity()
        .email_identity(address)
        .send()
        .await
        .expect("the sender identity");
    let founder = config.founder.email.clone();
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let store = Arc::new(DynamoPipelineStore::new(
        dynamo.clone(),
        setting("PIPELINE_TABLE"),
    ));
    let queue = |name: &str| Arc::new(SqsQueue::new(sqs.clone(), setting(name)));
    let (evaluate_q, draft_q, writes_q) = (
        queue("EVALUATE_QUEUE_URL"),
        queue("DRAFT_QUEUE_URL"),
        queue("CRM_WRITE_QUEUE_URL"),
    );
    let notifier: Arc<dyn Notifier> = Arc::new(SnsEmailNotifier::new(
        aws_sdk_sns::Client::new(&sdk),
        setting("FOUNDER_TOPIC_ARN"),
    ));
    let adapters = Adapters {
        evaluate_queue: Some(evaluate_q.clone()),
        draft_queue: Some(draft_q.clone()),
        crm_writes: Some(writes_q.clone()),
        events: Some(Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            setting("EVENT_BUS_NAME"),
            "draftgate",
        ))),
        sender: Some(Arc::new(SesSender::new(ses, None))),
        notifier: Some(notifier),
        ..Adapters::new(
            store.clone(),
            Arc::new(DynamoAuditLog::new(dynamo, setting("AUDIT_TABLE"))),
            clock.clone(),
        )
    };
    let tokens = TokenSigner::new(Secret::new("cost-model-signing-key"));
    let settings = Settings {
        public_base_url: "https://review.example".to_string(),
        providers: Providers::build(&["generic"], |_| Some(Secret::new(SECRET))),
        tokens: Some(tokens.clone()),
        ..Settings::new(Arc::new(config))
    };
    let hubspot = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": "1" })))
        .mount(&hubspot)
        .await;
    // The deal's contacts, for the email engagement's associations.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "1", "properties": {},
            "associations": { "contacts": { "results": [ { "id": "501", "type": "deal_to_contact" } ] } }
        })))
        .mount(&hubspot)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "1" })))
        .mount(&hubspot)
        .await;
    let writer: Arc<dyn CrmWriter> =
        Arc::new(HubSpotClient::new(&hubspot.uri(), Secret::new("token")));
    let services = Services::build(
        Adapters {
            crm_writers: HashMap::from([("hubspot".to_string(), writer)]),
            ..adapters
        },
        settings,
    );
    let core = services.core();
    let intake = services.intake();
    let sweeper = services.sweeper();
    let evaluator = services.evaluator();
    let drafter = services.drafter();
    let review = services.review();
    let writeback = services.writeback();
    counter.reset().await;

    // Webhooks: each deal is created, then a proposal goes out to its buyer (the common case:
    // an event on a deal already known); then every proposal webhook is redelivered.
    let sent_at = clock.now() - SignedDuration::from_mins(5);
    let webhook = |kind: &str, i: usize| {
        let body = json!({ "events": [{
            "id": format!("cost-{kind}-{i}"), "type": kind, "occurred_at": sent_at.to_string(),
            "deal": { "crm": "hubspot", "id": format!("{}", 7000 + i), "name": format!("Deal {i}"),
                      "amount": 12000, "currency": "EUR",
                      "contact": { "email": format!("buyer{i}@example.com"), "first_name": "Kim" } } }] })
        .to_string();
        let ts = clock.now().as_second().to_string();
        let sig = draftgate_signature(SECRET.as_bytes(), &ts, body.as_bytes());
        http::Request::builder()
            .method("POST")
            .uri("/webhooks/generic")
            .header("content-type", "application/json")
            .header("x-draftgate-timestamp", ts)
            .header("x-draftgate-signature", sig)
            .body(Bytes::from(body))
            .expect("a request")
    };
    for (phase, kind) in [
        ("webhook_new_deal", "deal_created"),
        ("webhook", "proposal_sent"),
        ("webhook_redelivered", "proposal_sent"),
    ] {
        let started = Instant::now();
        for i in 0..deals {
            let resp = intake.handle(webhook(kind, i)).await;
            assert_eq!(resp.status(), 200, "{:?}", resp.body());
        }
        report(phase, deals, started.elapsed(), counter.take().await);
    }

    // 72 hours on: every deal is due.
    clock.advance(SignedDuration::from_hours(73));
    let started = Instant::now();
    let summary = sweeper.run().await.expect("sweep");
    report(
        "sweep",
        summary.due_deals,
        started.elapsed(),
        counter.take().await,
    );

    let evaluator = &evaluator;
    let (n, busy) = drain(&evaluate_q, |body| async move {
        evaluator.handle(&body).await.is_ok()
    })
    .await;
    report("evaluate", n, busy, counter.take().await);

    let drafter = &drafter;
    let (n, busy) = drain(&draft_q, |body| async move {
        drafter.handle(&body).await.is_ok()
    })
    .await;
    report("draft", n, busy, counter.take().await);

    let pending = store
        .drafts_by_status(DraftStatus::Pending, None, deals * 2)
        .await
        .expect("pending drafts");
    let send_event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/mail-events/ses-email-sent.json"
        ))
        .expect("the sample Send event"),
    )
    .expect("JSON");
    let mut sent = Vec::new();
    let started = Instant::now();
    for d in &pending {
        let token = tokens.sign(
            Scope::Draft(&d.id),
            &founder,
            clock.now() + SignedDuration::from_hours(1),
        );
        let form = serde_urlencoded::to_string([("token", token.as_str()), ("action", "approve")])
            .expect("a form");
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("/review/{}", d.id))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Bytes::from(form))
            .expect("a request");
        let resp = review.handle(req).await;
        assert_eq!(resp.status(), 200, "{:?}", resp.body());
        let answer: Value = serde_json::from_slice(resp.body()).expect("a JSON answer");
        sent.push((
            d.id.clone(),
            answer["message_id"].as_str().unwrap_or("").to_string(),
        ));
    }
    report(
        "approve",
        pending.len(),
        started.elapsed(),
        counter.take().await,
    );

    // Each message's Send event, as SES publishes it and mail-events records it.
    let started = Instant::now();
    for (draft_id, message_id) in &sent {
        let mut event = send_event.clone();
        event["detail"]["mail"]["messageId"] = json!(message_id);
        event["detail"]["mail"]["tags"][ses_sends::DRAFT_TAG] = json!([draft_id]);
        let accepted = ses_sends::parse(&event).expect("a send event of ours");
        ses_sends::record(&*core.store, &accepted)
            .await
            .expect("recorded");
    }
    report(
        "send_event",
        sent.len(),
        started.elapsed(),
        counter.take().await,
    );

    let writeback = &writeback;
    let (n, busy) = drain(&writes_q, |body| async move {
        writeback.handle(&body).await.is_ok()
    })
    .await;
    report("crm_write", n, busy, counter.take().await);

    // A quiet day: nothing due.
    let started = Instant::now();
    let summary = sweeper.run().await.expect("sweep");
    assert_eq!(summary.due_deals, 0);
    report("idle_sweep", 1, started.elapsed(), counter.take().await);
}
