//! Races, on both backends: DynamoDB (the emulator, tables built from template.yaml) and the
//! embedded store. The services are the real ones; only the store under them changes.
//!
//! - 1,000 webhooks, each delivered three times, all in flight together (64 at a time): exactly
//!   1,000 events recorded, 2,000 duplicates answered (250 on the emulator in the test command;
//!   `DRAFTGATE_RACE_WEBHOOKS=1000` for the full count there);
//! - 50 approvals of one draft at once: one email, one `message.sent`;
//! - approvals racing the prospect's reply, over 12 drafts: each draft ends sent (one email) or
//!   superseded (none), never both and never neither.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use jiff::SignedDuration;
use serde_json::{json, Value};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::review::Review;
use shared::app::{record_event, Core};
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::{DealEvent, DealRef, DealSnapshot, Draft, DraftStatus, EventKind, Fact};
use shared::ports::{AuditLog, AuditReader, Clock, PipelineStore, QueueConsumer};
use shared::providers::intake::Intake;
use shared::providers::signature::draftgate_signature;
use shared::providers::Providers;
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};

const SECRET: &str = "races-secret";

struct Backend {
    on_emulator: bool,
    store: Arc<dyn PipelineStore>,
    audit: Arc<dyn AuditLog>,
    audit_reader: Arc<dyn AuditReader>,
}

async fn embedded() -> Backend {
    let store = EmbeddedStore::open_in_memory().unwrap();
    Backend {
        on_emulator: false,
        store: store.clone(),
        audit: store.clone(),
        audit_reader: store,
    }
}

async fn dynamodb() -> Backend {
    use shared::adapters::aws::{DynamoAuditLog, DynamoPipelineStore};
    let config = support::aws::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let stack = tokio::task::spawn_blocking(support::aws::template_stack)
        .await
        .unwrap();
    let audit = Arc::new(DynamoAuditLog::new(dynamo.clone(), &stack["AUDIT_TABLE"]));
    Backend {
        on_emulator: true,
        store: Arc::new(DynamoPipelineStore::new(dynamo, &stack["PIPELINE_TABLE"])),
        audit: audit.clone(),
        audit_reader: audit,
    }
}

/// The services over one backend; queues and the outbox are local (what is raced is the store).
struct World {
    services: Services,
    core: Core,
    clock: Arc<ManualClock>,
    local: Arc<EmbeddedStore>,
    tokens: TokenSigner,
    audit: Arc<dyn AuditReader>,
}

impl World {
    fn new(b: Backend) -> World {
        let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
        let mut config = shared::config::Config::bundled().unwrap();
        config.limits.daily_draft_budget = 1_000;
        let local = EmbeddedStore::open_in_memory().unwrap();
        let tokens = TokenSigner::new(Secret::new("races-key"));
        let services = Services::build(
            Adapters {
                store: b.store,
                audit: b.audit,
                ..Adapters::embedded(&local, clock.clone())
            },
            Settings {
                public_base_url: "https://review.example".into(),
                providers: Providers::build(&["generic"], |_| Some(Secret::new(SECRET))),
                tokens: Some(tokens.clone()),
                ..Settings::new(Arc::new(config))
            },
        );
        World {
            core: services.core(),
            services,
            clock,
            local,
            tokens,
            audit: b.audit_reader,
        }
    }

    /// The webhook intake: the providers call the hooks host, not the review host.
    fn intake(&self) -> Intake {
        Services::build(
            self.services.adapters().clone(),
            Settings {
                public_base_url: "https://hooks.example".into(),
                ..self.services.settings().clone()
            },
        )
        .intake()
    }

    fn review(&self) -> Review {
        self.services.review()
    }

    /// Proposals sent to `deals` buyers, 73 hours ago: one pending follow-up draft each.
    async fn drafts(&self, tag: &str, deals: usize) -> Vec<Draft> {
        let c = &self.core;
        for i in 0..deals {
            let mut facts = std::collections::BTreeMap::new();
            facts.insert(
                "contact.first_name".to_string(),
                Fact::new("Kim", "test contact"),
            );
            facts.insert(
                "deal.name".to_string(),
                Fact::new(format!("Deal {tag} {i}"), "test deal"),
            );
            let event = DealEvent {
                id: format!("{tag}-sent-{i}"),
                deal: DealRef::new("hubspot", format!("{tag}-{i}")),
                occurred_at: c.clock.now(),
                source: "hubspot".into(),
                kind: EventKind::StageChanged {
                    raw_stage: "contractsent".into(),
                },
                snapshot: Some(DealSnapshot {
                    name: Some(format!("Deal {tag} {i}")),
                    contact_email: Some(format!("buyer{i}@example.com")),
                    facts,
                    ..Default::default()
                }),
            };
            record_event(&*c.store, &*c.audit, &c.config, &*c.clock, &event, "test")
                .await
                .unwrap();
        }
        self.clock.advance(SignedDuration::from_hours(73));
        let evaluate_q = self.local.queue("evaluate");
        let draft_q = self.local.queue("drafts");
        self.services.sweeper().run().await.unwrap();
        let evaluator = self.services.evaluator();
        for d in evaluate_q.receive(1000).await.unwrap() {
            evaluator.handle(&d.body).await.unwrap();
            evaluate_q.ack(&d.receipt).await.unwrap();
        }
        let drafter = self.services.drafter();
        for d in draft_q.receive(1000).await.unwrap() {
            drafter.handle(&d.body).await.unwrap();
            draft_q.ack(&d.receipt).await.unwrap();
        }
        let mut drafts = c
            .store
            .drafts_by_status(DraftStatus::Pending, None, 10 * deals)
            .await
            .unwrap();
        drafts.retain(|d| d.deal.id.starts_with(&format!("{tag}-")));
        assert_eq!(drafts.len(), deals, "one follow-up draft per deal");
        drafts
    }

    /// The founder approves `id` on the review page: the answer's status and body.
    async fn approve(&self, review: &Review, id: &str) -> (u16, String) {
        let token = self.tokens.sign(
            Scope::Draft(id),
            &self.core.config.founder.email,
            self.clock.now() + SignedDuration::from_hours(1),
        );
        let form = serde_urlencoded::to_string([("token", token.as_str()), ("action", "approve")])
            .unwrap();
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("/review/{id}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Bytes::from(form))
            .unwrap();
        let resp = review.handle(req).await;
        (
            resp.status().as_u16(),
            String::from_utf8_lossy(resp.body()).into_owned(),
        )
    }

    fn sent(&self, draft: &str) -> usize {
        self.local
            .outbox_entries()
            .unwrap()
            .iter()
            .filter(|e| e.kind == "prospect" && e.draft_id.as_deref() == Some(draft))
            .count()
    }
}

/// Webhooks in the three-deliveries race: 1,000 on the embedded store; on the emulator, whose
/// DynamoDB takes one request at a time, 250 in the test command and 1,000 with
/// `DRAFTGATE_RACE_WEBHOOKS=1000` (about 9 minutes on 2 cores).
fn webhooks(on_emulator: bool) -> usize {
    std::env::var("DRAFTGATE_RACE_WEBHOOKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if on_emulator { 250 } else { 1000 })
}

async fn thousand_webhooks_three_times(b: Backend) {
    let n = webhooks(b.on_emulator);
    let deals = n / 4;
    let w = Arc::new(World::new(b));
    let intake = Arc::new(w.intake());
    let sent_at = (w.clock.now() - SignedDuration::from_mins(5)).to_string();
    let ts = w.clock.now().as_second().to_string();
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for _delivery in 0..3 {
        for i in 0..n {
            let body = json!({ "events": [{
                "id": format!("race-{i}"), "type": "proposal_sent", "occurred_at": sent_at,
                "deal": { "crm": "notion", "id": format!("deal-{}", i % deals), "name": format!("Deal {}", i % deals),
                          "contact": { "email": format!("buyer{}@example.com", i % deals), "first_name": "Kim" } } }] })
            .to_string();
            let sig = draftgate_signature(SECRET.as_bytes(), &ts, body.as_bytes());
            let (intake, ts, limit) = (intake.clone(), ts.clone(), limit.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                let mut retried = 0;
                loop {
                    let req = http::Request::builder()
                        .method("POST")
                        .uri("/webhooks/generic")
                        .header("content-type", "application/json")
                        .header("x-draftgate-timestamp", &ts)
                        .header("x-draftgate-signature", &sig)
                        .body(Bytes::from(body.clone()))
                        .unwrap();
                    let resp = intake.handle(req).await;
                    let status = resp.status().as_u16();
                    let answer: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
                    match status {
                        200 => return (answer, retried),
                        // A conflict with a concurrent delivery answers 5xx; providers retry.
                        500..=599 => retried += 1,
                        other => panic!("delivery answered {other}: {answer}"),
                    }
                }
            }));
        }
    }
    let (mut accepted, mut duplicates, mut retried) = (0, 0, 0);
    for t in tasks {
        let (answer, r) = t.await.unwrap();
        accepted += answer["accepted"].as_u64().unwrap();
        duplicates += answer["duplicates"].as_u64().unwrap();
        retried += r;
    }
    assert_eq!(
        (accepted, duplicates),
        (n as u64, 2 * n as u64),
        "{} deliveries ({retried} answered 5xx and retried)",
        3 * n
    );
    let mut events = 0;
    for d in 0..deals {
        let timeline = w
            .core
            .store
            .timeline(&DealRef::new("notion", format!("deal-{d}")))
            .await
            .unwrap();
        let sent = (0..n).filter(|i| i % deals == d).count();
        assert_eq!(
            timeline.len(),
            sent,
            "deal-{d}: its {sent} events, once each"
        );
        events += timeline.len();
    }
    assert_eq!(events, n);
}

async fn fifty_approvals_send_once(b: Backend) {
    let w = Arc::new(World::new(b));
    let draft = w.drafts("fifty", 1).await.remove(0);
    let review = Arc::new(w.review());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (w, review, id) = (w.clone(), review.clone(), draft.id.clone());
            tokio::spawn(async move { w.approve(&review, &id).await })
        })
        .collect();
    let mut codes = HashMap::new();
    let mut bodies = Vec::new();
    for t in tasks {
        let (code, body) = t.await.unwrap();
        *codes.entry(code).or_insert(0) += 1;
        bodies.push(body);
    }
    assert_eq!(
        codes.get(&200),
        Some(&1),
        "one approval wins: {codes:?} {}",
        bodies[0]
    );
    assert_eq!(
        codes.get(&409),
        Some(&49),
        "the rest are told it is decided: {codes:?}"
    );
    assert_eq!(w.sent(&draft.id), 1, "one email");
    let sent_entries = w
        .audit
        .entries(Some(&draft.deal))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "message.sent")
        .count();
    assert_eq!(sent_entries, 1, "one message.sent");
}

async fn approvals_racing_replies(b: Backend) {
    let w = Arc::new(World::new(b));
    let drafts = w.drafts("reply", 12).await;
    let review = Arc::new(w.review());
    let mut tasks = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let (w1, review, id) = (w.clone(), review.clone(), d.id.clone());
        let approve = tokio::spawn(async move { w1.approve(&review, &id).await });
        let (w2, deal) = (w.clone(), d.deal.clone());
        let reply = tokio::spawn(async move {
            let c = &w2.core;
            let event = DealEvent {
                id: format!("reply-{i}"),
                deal,
                occurred_at: c.clock.now(),
                source: "inbox".into(),
                kind: EventKind::ProspectReplied {
                    summary: "Kim: let's talk".into(),
                },
                snapshot: None,
            };
            // A conflict with the approval is retried, as the webhook's provider would.
            for _ in 0..20 {
                if record_event(&*c.store, &*c.audit, &c.config, &*c.clock, &event, "inbox")
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            panic!("the reply was never recorded");
        });
        tasks.push((d.id.clone(), approve, reply));
    }
    let (mut sent, mut superseded) = (0, 0);
    for (id, approve, reply) in tasks {
        let (code, body) = approve.await.unwrap();
        reply.await.unwrap();
        let status = w.core.store.get_draft(&id).await.unwrap().unwrap().status;
        let emails = w.sent(&id);
        match status {
            DraftStatus::Sent => {
                assert_eq!((code, emails), (200, 1), "{id}: sent once");
                sent += 1;
            }
            DraftStatus::Superseded => {
                assert_eq!(emails, 0, "{id}: superseded, so nothing went out");
                assert_eq!(code, 409, "{id}: the approval was refused: {body}");
                superseded += 1;
            }
            other => panic!("{id} ended {other:?} (approve answered {code}, {emails} emails)"),
        }
    }
    assert_eq!(
        sent + superseded,
        12,
        "{sent} sent, {superseded} superseded"
    );
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_embedded {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::$name(super::embedded().await).await;
            }
        )*}
        mod on_dynamodb {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::$name(super::dynamodb().await).await;
            }
        )*}
    };
}

on_both!(
    thousand_webhooks_three_times,
    fifty_approvals_send_once,
    approvals_racing_replies,
);
