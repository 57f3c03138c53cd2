//! Faults: the store, audit log, queues, bus, notifier and mail sender fail 20 % of their calls
//! (seeded, so a failure replays), half of those *after* the call took effect (a timeout: the
//! write happened, its answer was lost), and the whole path still holds its promises:
//!
//! - every webhook is either stored (200) or answered 5xx, never 4xx, and each event is recorded
//!   exactly once however often the provider retries;
//! - SQS batches report exactly the messages that failed, and the rest are deleted;
//! - what keeps failing waits in the dead-letter queue; redriven, it finishes without duplicates;
//! - one draft per trigger occurrence, one notification per draft;
//! - each approved draft is sent exactly once, even when the send went out and its answer was
//!   lost (the draft stays SENDING; the retry finds it in Sent instead of sending again);
//! - a poison message reaches the dead-letter queue after the configured receives, and the
//!   messages beside it in its batch are handled.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::{EmbeddedQueue, EmbeddedStore, MAX_RECEIVES};
use shared::app::batch::{process, Message};
use shared::app::Core;
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::{
    AuditEntry, Deal, DealEvent, DealRef, DomainEvent, Draft, DraftStatus, Firing,
    FounderNotification, OutboundEmail, SentReceipt,
};
use shared::error::Cause;
use shared::ports::{
    AuditLog, AuditReader, Bookkeeping, Clock, DealStore, DraftStore, EventPublisher, Notifier,
    NotifyError, PublishError, Queue, QueueConsumer, QueueError, QueueMessage, Recorded, SendError,
    Sender, SentLookup, StoreError,
};
use shared::providers::signature::draftgate_signature;
use shared::providers::Providers;
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};

const DEALS: usize = 120;
const RATE_PERCENT: u64 = 20;
const SECRET: &str = "faults-secret";

/// When a call fails: before it does anything, or after it took effect (its answer lost).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Before,
    After,
}

/// Seeded dice shared by every wrapper: `RATE_PERCENT` of calls fail while switched on.
struct Dice {
    state: Mutex<u64>,
    on: AtomicBool,
    rolled: AtomicU64,
    injected: AtomicU64,
}

impl Dice {
    fn new(seed: u64) -> Arc<Dice> {
        Arc::new(Dice {
            state: Mutex::new(seed | 1),
            on: AtomicBool::new(true),
            rolled: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        })
    }

    fn next(&self) -> u64 {
        let mut s = self.state.lock().unwrap();
        // xorshift64*
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A read can only fail before; a write may also fail after taking effect.
    fn roll(&self, write: bool) -> Fault {
        if !self.on.load(Ordering::Relaxed) {
            return Fault::None;
        }
        self.rolled.fetch_add(1, Ordering::Relaxed);
        let r = self.next();
        if r % 100 >= RATE_PERCENT {
            return Fault::None;
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        if write && (r >> 32).is_multiple_of(2) {
            Fault::After
        } else {
            Fault::Before
        }
    }
}

fn injected(what: &str, fault: Fault) -> Cause {
    let how = if fault == Fault::After {
        "timed out after it was applied"
    } else {
        "throttled"
    };
    format!("injected fault: {what} {how}").into()
}

/// Run `call` under a write fault: fail first, or run it and lose the answer.
macro_rules! write_call {
    ($dice:expr, $what:expr, $err:expr, $call:expr) => {{
        match $dice.roll(true) {
            Fault::None => $call,
            Fault::Before => Err($err(injected($what, Fault::Before))),
            Fault::After => {
                let _ = $call;
                Err($err(injected($what, Fault::After)))
            }
        }
    }};
}

macro_rules! read_call {
    ($dice:expr, $what:expr, $err:expr, $call:expr) => {{
        match $dice.roll(false) {
            Fault::None => $call,
            _ => Err($err(injected($what, Fault::Before))),
        }
    }};
}

struct FaultyStore {
    inner: Arc<EmbeddedStore>,
    dice: Arc<Dice>,
}

#[async_trait]
impl DealStore for FaultyStore {
    async fn get_deal(&self, deal: &DealRef) -> Result<Option<Deal>, StoreError> {
        read_call!(
            self.dice,
            "get_deal",
            StoreError::Unavailable,
            self.inner.get_deal(deal).await
        )
    }

    async fn record_event(&self, event: &DealEvent, deal: &Deal) -> Result<Recorded, StoreError> {
        write_call!(
            self.dice,
            "record_event",
            StoreError::Unavailable,
            self.inner.record_event(event, deal).await
        )
    }

    async fn is_duplicate(&self, deal: &DealRef, event_id: &str) -> Result<bool, StoreError> {
        read_call!(
            self.dice,
            "is_duplicate",
            StoreError::Unavailable,
            self.inner.is_duplicate(deal, event_id).await
        )
    }

    async fn put_deal(&self, deal: &Deal) -> Result<(), StoreError> {
        write_call!(
            self.dice,
            "put_deal",
            StoreError::Unavailable,
            self.inner.put_deal(deal).await
        )
    }

    async fn timeline(&self, deal: &DealRef) -> Result<Vec<DealEvent>, StoreError> {
        read_call!(
            self.dice,
            "timeline",
            StoreError::Unavailable,
            self.inner.timeline(deal).await
        )
    }

    async fn all_deals(&self, limit: usize) -> Result<Vec<Deal>, StoreError> {
        read_call!(
            self.dice,
            "all_deals",
            StoreError::Unavailable,
            DealStore::all_deals(&*self.inner, limit).await
        )
    }

    async fn due_deals(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(DealRef, Timestamp)>, StoreError> {
        read_call!(
            self.dice,
            "due_deals",
            StoreError::Unavailable,
            self.inner.due_deals(now, limit).await
        )
    }
}

#[async_trait]
impl DraftStore for FaultyStore {
    async fn claim_firing(&self, firing: &Firing) -> Result<bool, StoreError> {
        write_call!(
            self.dice,
            "claim_firing",
            StoreError::Unavailable,
            self.inner.claim_firing(firing).await
        )
    }

    async fn create_draft(&self, draft: &Draft) -> Result<bool, StoreError> {
        write_call!(
            self.dice,
            "create_draft",
            StoreError::Unavailable,
            self.inner.create_draft(draft).await
        )
    }

    async fn get_draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
        read_call!(
            self.dice,
            "get_draft",
            StoreError::Unavailable,
            self.inner.get_draft(id).await
        )
    }

    async fn update_draft(&self, draft: &Draft, expected: DraftStatus) -> Result<(), StoreError> {
        write_call!(
            self.dice,
            "update_draft",
            StoreError::Unavailable,
            self.inner.update_draft(draft, expected).await
        )
    }

    async fn claim_budget(
        &self,
        day: &str,
        occurrence: &str,
        limit: u32,
    ) -> Result<bool, StoreError> {
        write_call!(
            self.dice,
            "claim_budget",
            StoreError::Unavailable,
            self.inner.claim_budget(day, occurrence, limit).await
        )
    }

    async fn budget_used(&self, day: &str) -> Result<u32, StoreError> {
        read_call!(
            self.dice,
            "budget_used",
            StoreError::Unavailable,
            self.inner.budget_used(day).await
        )
    }

    async fn open_drafts(&self, deal: &DealRef) -> Result<usize, StoreError> {
        read_call!(
            self.dice,
            "open_drafts",
            StoreError::Unavailable,
            self.inner.open_drafts(deal).await
        )
    }

    async fn drafts_by_status(
        &self,
        status: DraftStatus,
        until: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Draft>, StoreError> {
        read_call!(
            self.dice,
            "drafts_by_status",
            StoreError::Unavailable,
            self.inner.drafts_by_status(status, until, limit).await
        )
    }
}

#[async_trait]
impl Bookkeeping for FaultyStore {
    async fn put_links(&self, deal: &DealRef, links: &[String]) -> Result<(), StoreError> {
        write_call!(
            self.dice,
            "put_links",
            StoreError::Unavailable,
            self.inner.put_links(deal, links).await
        )
    }

    async fn linked(&self, link: &str) -> Result<Vec<DealRef>, StoreError> {
        read_call!(
            self.dice,
            "linked",
            StoreError::Unavailable,
            self.inner.linked(link).await
        )
    }

    async fn add_notice(&self, key: &str, text: &str) -> Result<(), StoreError> {
        write_call!(
            self.dice,
            "add_notice",
            StoreError::Unavailable,
            self.inner.add_notice(key, text).await
        )
    }

    async fn notices(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        read_call!(
            self.dice,
            "notices",
            StoreError::Unavailable,
            self.inner.notices(limit).await
        )
    }

    async fn remove_notice(&self, key: &str) -> Result<(), StoreError> {
        write_call!(
            self.dice,
            "remove_notice",
            StoreError::Unavailable,
            self.inner.remove_notice(key).await
        )
    }

    async fn marker(&self, name: &str) -> Result<Option<String>, StoreError> {
        read_call!(
            self.dice,
            "marker",
            StoreError::Unavailable,
            self.inner.marker(name).await
        )
    }

    async fn set_marker(&self, name: &str, value: &str) -> Result<(), StoreError> {
        write_call!(
            self.dice,
            "set_marker",
            StoreError::Unavailable,
            self.inner.set_marker(name, value).await
        )
    }
}

#[async_trait]
impl AuditLog for FaultyStore {
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        write_call!(
            self.dice,
            "audit append",
            StoreError::Unavailable,
            self.inner.append(entry).await
        )
    }
}

struct FaultyQueue {
    inner: Arc<EmbeddedQueue>,
    dice: Arc<Dice>,
}

#[async_trait]
impl Queue for FaultyQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), QueueError> {
        write_call!(
            self.dice,
            "queue send",
            QueueError::Unavailable,
            self.inner.send(message).await
        )
    }
}

#[async_trait]
impl QueueConsumer for FaultyQueue {
    async fn receive(&self, max: usize) -> Result<Vec<shared::ports::Delivery>, QueueError> {
        read_call!(
            self.dice,
            "receive",
            QueueError::Unavailable,
            self.inner.receive(max).await
        )
    }
    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        write_call!(
            self.dice,
            "delete",
            QueueError::Unavailable,
            self.inner.ack(receipt).await
        )
    }
}

/// The outbox behind faults: a send may fail, or go out with its answer lost.
struct FaultyMail {
    inner: Arc<shared::adapters::embedded::Outbox>,
    dice: Arc<Dice>,
}

#[async_trait]
impl Sender for FaultyMail {
    async fn send(&self, email: &OutboundEmail) -> Result<SentReceipt, SendError> {
        write_call!(
            self.dice,
            "send",
            SendError::Unavailable,
            self.inner.send(email).await
        )
    }
    fn finds_sent(&self) -> bool {
        true
    }
    async fn find_sent(&self, email: &OutboundEmail) -> Result<SentLookup, SendError> {
        read_call!(
            self.dice,
            "find_sent",
            SendError::Unavailable,
            self.inner.find_sent(email).await
        )
    }
}

#[async_trait]
impl Notifier for FaultyMail {
    async fn notify(&self, note: &FounderNotification) -> Result<(), NotifyError> {
        match self.dice.roll(false) {
            Fault::None => self.inner.notify(note).await,
            f => Err(NotifyError(injected("notify", f))),
        }
    }
}

struct FaultyBus {
    inner: Arc<EmbeddedStore>,
    dice: Arc<Dice>,
}

#[async_trait]
impl EventPublisher for FaultyBus {
    async fn publish(&self, event: &DomainEvent) -> Result<(), PublishError> {
        write_call!(
            self.dice,
            "publish",
            PublishError,
            self.inner.publish(event).await
        )
    }
}

struct World {
    store: Arc<EmbeddedStore>,
    clock: Arc<ManualClock>,
    dice: Arc<Dice>,
    /// Every service on the faulty tables, the embedded queues and outbox as they are.
    services: Services,
    core: Core,
    tokens: TokenSigner,
    evaluate_q: Arc<EmbeddedQueue>,
    draft_q: Arc<EmbeddedQueue>,
}

impl World {
    fn new(seed: u64) -> World {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let clock = Arc::new(ManualClock::new("2026-11-30T09:00:00Z".parse().unwrap()));
        let dice = Dice::new(seed);
        let faulty = Arc::new(FaultyStore {
            inner: store.clone(),
            dice: dice.clone(),
        });
        let mut config = shared::config::Config::bundled().unwrap();
        config.limits.daily_draft_budget = 10_000;
        let tokens = TokenSigner::new(Secret::new("faults-key"));
        let services = Services::build(
            Adapters {
                store: faulty.clone(),
                audit: faulty,
                ..Adapters::embedded(&store, clock.clone())
            },
            Settings {
                tokens: Some(tokens.clone()),
                ..Settings::new(Arc::new(config))
            },
        );
        World {
            core: services.core(),
            services,
            tokens,
            evaluate_q: store.queue("evaluate"),
            draft_q: store.queue("drafts"),
            store,
            clock,
            dice,
        }
    }

    /// The services on `adapters`, with these providers, and links to `public_base_url`.
    fn assemble(
        &self,
        adapters: Adapters,
        providers: Providers,
        public_base_url: &str,
    ) -> Services {
        Services::build(
            adapters,
            Settings {
                providers,
                public_base_url: public_base_url.into(),
                ..self.services.settings().clone()
            },
        )
    }

    /// The adapters every service starts from: the faulty tables, the embedded queues and
    /// outbox.
    fn adapters(&self) -> Adapters {
        self.services.adapters().clone()
    }

    fn faulty_bus(&self) -> Arc<FaultyBus> {
        Arc::new(FaultyBus {
            inner: self.store.clone(),
            dice: self.dice.clone(),
        })
    }

    fn faulty(&self, q: &Arc<EmbeddedQueue>) -> Arc<FaultyQueue> {
        Arc::new(FaultyQueue {
            inner: q.clone(),
            dice: self.dice.clone(),
        })
    }

    fn mail(&self) -> Arc<FaultyMail> {
        Arc::new(FaultyMail {
            inner: self.store.outbox(self.clock.clone()),
            dice: self.dice.clone(),
        })
    }

    fn webhook(&self, i: usize) -> shared::http::Request {
        let body = json!({ "events": [{
            "id": format!("fault-{i}"), "type": "proposal_sent",
            "occurred_at": (self.clock.now() - SignedDuration::from_mins(5)).to_string(),
            "deal": { "crm": "notion", "id": format!("deal-{i}"), "name": format!("Deal {i}"),
                      "contact": { "email": format!("buyer{i}@example.com"), "first_name": "Kim" } } }] })
        .to_string();
        let ts = self.clock.now().as_second().to_string();
        let sig = draftgate_signature(SECRET.as_bytes(), &ts, body.as_bytes());
        http::Request::builder()
            .method("POST")
            .uri("/webhooks/generic")
            .header("content-type", "application/json")
            .header("x-draftgate-timestamp", ts)
            .header("x-draftgate-signature", sig)
            .body(Bytes::from(body))
            .unwrap()
    }

    /// Drain `queue` as SQS and a Lambda function do: batches of 10, only failed items reported
    /// (and so left for another receive), a message received `MAX_RECEIVES` times moved to the
    /// dead-letter queue. Returns (handled, reported failed).
    async fn drain<F, Fut, T>(&self, queue: &Arc<EmbeddedQueue>, handle: F) -> (usize, usize)
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, shared::app::WorkError>>,
    {
        let consumer = self.faulty(queue);
        let (mut handled, mut reported) = (0, 0);
        for _ in 0..10_000 {
            if queue.depth().unwrap() == 0 {
                return (handled, reported);
            }
            let Ok(batch) = consumer.receive(10).await else {
                continue;
            };
            let failed_here: Mutex<HashSet<String>> = Mutex::default();
            let messages: Vec<Message<'_>> = batch
                .iter()
                .map(|d| Message {
                    id: &d.id,
                    group: None,
                    body: &d.body,
                })
                .collect();
            let by_body: HashMap<&str, &str> = batch
                .iter()
                .map(|d| (d.body.as_str(), d.id.as_str()))
                .collect();
            let failed = process(&messages, |body| {
                let id = by_body[body].to_string();
                let fut = handle(body.to_string());
                let failed_here = &failed_here;
                async move {
                    let r = fut.await;
                    if r.is_err() {
                        failed_here.lock().unwrap().insert(id);
                    }
                    r
                }
            })
            .await;
            // The batch reports exactly the messages whose handling failed.
            let failed: HashSet<String> = failed.into_iter().collect();
            assert_eq!(failed, *failed_here.lock().unwrap(), "batch item failures");
            reported += failed.len();
            for d in &batch {
                if failed.contains(&d.id) {
                    queue
                        .release(&d.receipt, std::time::Duration::ZERO)
                        .unwrap();
                } else {
                    handled += 1;
                    // A failed delete: the message comes back once its visibility timeout
                    // passes (at once here) and is handled again, which must change nothing.
                    if consumer.ack(&d.receipt).await.is_err() {
                        queue
                            .release(&d.receipt, std::time::Duration::ZERO)
                            .unwrap();
                    }
                }
            }
        }
        panic!("{} did not drain", queue.name());
    }
}

#[tokio::test]
async fn a_fifth_of_all_calls_failing_loses_nothing_and_doubles_nothing() {
    let w = World::new(0x5eed_0001);
    let intake = w
        .assemble(
            Adapters {
                events: Some(w.faulty_bus()),
                ..w.adapters()
            },
            Providers::build(&["generic"], |_| Some(Secret::new(SECRET))),
            "https://hooks.example",
        )
        .intake();

    // Webhooks: each delivered until answered 200, as the providers retry a 5xx; every one is
    // delivered once more after that (a provider's own duplicate).
    let (mut server_errors, mut duplicates) = (0, 0);
    for i in 0..DEALS {
        for delivery in 0..2 {
            loop {
                let resp = intake.handle(w.webhook(i)).await;
                let status = resp.status().as_u16();
                let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
                match status {
                    200 => {
                        if delivery == 1 {
                            duplicates += body["duplicates"].as_u64().unwrap();
                        }
                        break;
                    }
                    500..=599 => server_errors += 1,
                    other => panic!("webhook {i} answered {other} under faults: {body}"),
                }
            }
        }
    }
    assert!(
        server_errors > 10,
        "faults were injected: {server_errors} answers were 5xx"
    );
    assert_eq!(duplicates, DEALS as u64, "each redelivery is a duplicate");
    for i in 0..DEALS {
        let timeline = w
            .store
            .timeline(&DealRef::new("notion", format!("deal-{i}")))
            .await
            .unwrap();
        assert_eq!(timeline.len(), 1, "deal-{i}: its event stored exactly once");
    }

    // 73 hours on, the follow-ups: the sweep retried until it runs (the scheduler retries),
    // evaluations and drafts through batches that report their failures.
    w.clock.advance(SignedDuration::from_hours(73));
    let sweeper = Services::build(
        Adapters {
            evaluate_queue: Some(w.faulty(&w.evaluate_q)),
            draft_queue: Some(w.faulty(&w.draft_q)),
            ..w.adapters()
        },
        w.services.settings().clone(),
    )
    .sweeper();
    let mut sweeps = 0;
    loop {
        sweeps += 1;
        if let Ok(s) = sweeper.run().await {
            if s.due_deals == 0 {
                break;
            }
        }
        // Each run enqueues what is due; evaluation clears a deal's due time.
        let evaluator = Services::build(
            Adapters {
                draft_queue: Some(w.faulty(&w.draft_q)),
                ..w.adapters()
            },
            w.services.settings().clone(),
        )
        .evaluator();
        w.drain(&w.evaluate_q, |b| {
            let e = &evaluator;
            async move { e.handle(&b).await }
        })
        .await;
        w.evaluate_q.redrive().unwrap();
        assert!(sweeps < 200, "the sweep keeps finding due deals");
    }
    let mail = w.mail();
    // The approval path's services: the notifier and mail sender, the bus and the CRM write
    // queue failing too.
    let approvals = w.assemble(
        Adapters {
            sender: Some(mail.clone()),
            notifier: Some(mail),
            events: Some(w.faulty_bus()),
            crm_writes: Some(w.faulty(&w.store.queue("crm-writes"))),
            ..w.adapters()
        },
        Providers::default(),
        "https://review.example",
    );
    let drafter = approvals.drafter();
    let (mut dead_lettered, mut reported) = (0, 0);
    loop {
        let (_, failed) = w
            .drain(&w.draft_q, |b| {
                let d = &drafter;
                async move { d.handle(&b).await }
            })
            .await;
        reported += failed;
        let redriven = w.draft_q.redrive().unwrap();
        dead_lettered += redriven;
        if redriven == 0 {
            break;
        }
    }

    w.dice.on.store(false, Ordering::Relaxed);
    let drafts = w
        .store
        .drafts_by_status(DraftStatus::Pending, None, 10 * DEALS)
        .await
        .unwrap();
    assert_eq!(
        drafts.len(),
        DEALS,
        "one draft per deal's proposal follow-up"
    );
    let occurrences: HashSet<(String, String)> = drafts
        .iter()
        .map(|d| (d.deal.to_string(), d.occurrence.clone()))
        .collect();
    assert_eq!(occurrences.len(), DEALS, "no occurrence drafted twice");
    let outbox = w.store.outbox_entries().unwrap();
    let mut notified: HashMap<String, usize> = HashMap::new();
    for e in outbox.iter().filter(|e| e.kind == "founder") {
        if let Some(id) = &e.draft_id {
            *notified.entry(id.clone()).or_default() += 1;
        }
    }
    assert!(
        drafts
            .iter()
            .all(|d| notified.get(&d.id).is_some_and(|n| *n >= 1)),
        "every draft's founder was told"
    );
    w.dice.on.store(true, Ordering::Relaxed);

    // Approvals: the founder presses approve until the page says it worked.
    let review = approvals.review();
    let founder = w.core.config.founder.email.clone();
    let mut approval_errors = 0;
    for d in &drafts {
        for attempt in 0.. {
            let token = w.tokens.sign(
                Scope::Draft(&d.id),
                &founder,
                w.clock.now() + SignedDuration::from_hours(1),
            );
            let form =
                serde_urlencoded::to_string([("token", token.as_str()), ("action", "approve")])
                    .unwrap();
            let req = http::Request::builder()
                .method("POST")
                .uri(format!("/review/{}", d.id))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(Bytes::from(form))
                .unwrap();
            let resp = review.handle(req).await;
            let status = resp.status().as_u16();
            let answer: serde_json::Value = serde_json::from_slice(resp.body()).unwrap_or_default();
            // Done: approved now, or by an earlier press whose answer was an error page.
            if status == 200 || (status == 409 && answer["status"] == "SENT") {
                break;
            }
            assert!(
                status >= 500 || status == 409,
                "approve answered {status}: {}",
                String::from_utf8_lossy(resp.body())
            );
            approval_errors += 1;
            assert!(
                attempt < 200,
                "draft {} never approved: {status} {}",
                d.id,
                String::from_utf8_lossy(resp.body())
            );
            // An interrupted send is picked up from SENDING a minute later.
            w.clock.advance(SignedDuration::from_secs(61));
        }
    }
    w.dice.on.store(false, Ordering::Relaxed);
    let mut sent: HashMap<String, usize> = HashMap::new();
    for e in w.store.outbox_entries().unwrap() {
        if e.kind == "prospect" {
            *sent.entry(e.draft_id.clone().unwrap()).or_default() += 1;
        }
    }
    assert_eq!(sent.len(), DEALS, "every approved draft went out");
    assert!(
        sent.values().all(|n| *n == 1),
        "no draft sent twice: {:?}",
        sent.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    for d in &drafts {
        let now = w.store.get_draft(&d.id).await.unwrap().unwrap();
        assert_eq!(
            now.status,
            DraftStatus::Sent,
            "{} is recorded as sent",
            d.id
        );
    }
    let rolled = w.dice.rolled.load(Ordering::Relaxed);
    let faults = w.dice.injected.load(Ordering::Relaxed);
    assert!(
        faults * 100 / rolled >= RATE_PERCENT - 3,
        "{faults} of {rolled} calls failed"
    );
    // Faults reached every stage; the figures are in the message.
    assert!(
        server_errors > 0 && reported > 0 && approval_errors > 0,
        "{faults} of {rolled} port calls failed; {server_errors} webhook answers were 5xx; \
         {reported} draft batch items failed; {dead_lettered} drafts redriven from the DLQ; \
         {approval_errors} approvals retried"
    );
}

#[tokio::test]
async fn a_poison_message_reaches_the_dead_letter_queue_and_its_batch_neighbours_are_handled() {
    let w = World::new(0x5eed_0002);
    w.dice.on.store(false, Ordering::Relaxed);
    let evaluator = w.services.evaluator();
    let good = serde_json::to_string(&shared::app::EvaluateRequest {
        deal: DealRef::new("notion", "absent"),
        due_at: None,
    })
    .unwrap();
    for (n, body) in [good.as_str(), "{not json", good.as_str()]
        .iter()
        .enumerate()
    {
        w.evaluate_q
            .send(&QueueMessage {
                body: (*body).to_string(),
                group_id: format!("g{n}"),
                dedup_id: format!("m{n}"),
            })
            .await
            .unwrap();
    }
    let mut receives = 0;
    while w.evaluate_q.depth().unwrap() > 0 {
        let batch = w.evaluate_q.receive(10).await.unwrap();
        if batch.is_empty() {
            continue;
        }
        receives += 1;
        let messages: Vec<Message<'_>> = batch
            .iter()
            .map(|d| Message {
                id: &d.id,
                group: None,
                body: &d.body,
            })
            .collect();
        let failed = process(&messages, |b| evaluator.handle(b)).await;
        assert_eq!(failed.len(), 1, "only the poison message fails");
        for d in &batch {
            if failed.contains(&d.id) {
                w.evaluate_q
                    .release(&d.receipt, std::time::Duration::ZERO)
                    .unwrap();
            } else {
                w.evaluate_q.ack(&d.receipt).await.unwrap();
            }
        }
    }
    assert_eq!(
        receives, MAX_RECEIVES as usize,
        "received {MAX_RECEIVES} times, then dead-lettered"
    );
    assert_eq!(
        w.store.dead_letters("evaluate").unwrap(),
        vec!["{not json".to_string()]
    );
}

/// A CRM API that knows every deal: with a client, redeliveries are set aside before recording
/// (so the API is not read for them), the path that once skipped a missing audit entry.
struct KnowsEveryDeal;

#[async_trait]
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

/// Every accepted event has exactly one audit entry, whatever fails: the audit write failing
/// before or after it took effect (a process killed between the event's transaction and its
/// audit entry is the same as an audit write that never happened), the store failing, every
/// webhook retried until answered 200 and then delivered once more; with and without a CRM API.
#[tokio::test]
async fn every_accepted_event_has_exactly_one_audit_entry_whatever_fails() {
    const EVENTS: usize = 1_000;
    for with_crm_api in [true, false] {
        let w = World::new(0xA0D1 + u64::from(with_crm_api));
        let mut crm: HashMap<String, Arc<dyn shared::ports::CrmClient>> = HashMap::new();
        if with_crm_api {
            crm.insert("notion".into(), Arc::new(KnowsEveryDeal));
        }
        let intake = w
            .assemble(
                Adapters {
                    crm_clients: crm,
                    ..w.adapters()
                },
                Providers::build(&["generic"], |_| Some(Secret::new(SECRET))),
                "https://hooks.example",
            )
            .intake();
        let mut retried = 0;
        for i in 0..EVENTS {
            for _delivery in 0..2 {
                loop {
                    let resp = intake.handle(w.webhook(i)).await;
                    match resp.status().as_u16() {
                        200 => break,
                        500..=599 => retried += 1,
                        other => panic!("webhook {i} answered {other}"),
                    }
                }
            }
        }
        assert!(retried > 100, "faults were injected ({retried} retries)");
        w.dice.on.store(false, Ordering::Relaxed);
        let entries = w.store.entries(None).await.unwrap();
        let mut per_event: HashMap<String, usize> = HashMap::new();
        for e in entries.iter().filter(|e| e.kind == "event.accepted") {
            *per_event
                .entry(e.detail["event_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        let missing = (0..EVENTS)
            .filter(|i| !per_event.contains_key(&format!("generic:notion:fault-{i}")))
            .count();
        assert_eq!(
            missing, 0,
            "with a CRM API: {with_crm_api}; events without an audit entry"
        );
        assert!(
            per_event.values().all(|n| *n == 1),
            "exactly one entry per event"
        );
        assert_eq!(per_event.len(), EVENTS);
    }
}
