//! The approval invariants on the embedded adapters: sent at most once under concurrency, edits
//! recorded as a diff, superseded when the reason is gone, reject needs a reason, snooze comes
//! back, incomplete drafts cannot go out as drafted, and CRM text is escaped on the page.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::record_event;
use shared::app::review::Review;
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::{DealEvent, DealRef, DealSnapshot, Draft, DraftStatus, EventKind, Fact};
use shared::ports::{AuditReader, Bookkeeping, Clock, DealStore, DraftStore};
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};

struct World {
    store: Arc<EmbeddedStore>,
    clock: Arc<ManualClock>,
    services: Services,
    review: Review,
    tokens: TokenSigner,
}

const DEAL: &str = "4242";

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

impl World {
    async fn new(name: &str, first_name: Option<&str>) -> World {
        Self::with_config(name, first_name, |_| {}).await
    }

    async fn with_config(
        name: &str,
        first_name: Option<&str>,
        tweak: impl Fn(&mut shared::config::Config),
    ) -> World {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let clock = Arc::new(ManualClock::new(t("2026-03-02T09:00:00Z")));
        let mut config = shared::config::Config::bundled().unwrap();
        tweak(&mut config);
        let tokens = TokenSigner::new(Secret::new("test-key"));
        let services = Services::build(
            Adapters::embedded(&store, clock.clone()),
            Settings {
                public_base_url: "http://localhost".into(),
                tokens: Some(tokens.clone()),
                ..Settings::new(Arc::new(config))
            },
        );
        let review = services.review();
        let w = World {
            store,
            clock,
            services,
            review,
            tokens,
        };
        let mut facts = std::collections::BTreeMap::new();
        facts.insert(
            "deal.name".to_string(),
            Fact::new(name, "HubSpot deal property dealname"),
        );
        if let Some(f) = first_name {
            facts.insert(
                "contact.first_name".to_string(),
                Fact::new(f, "HubSpot contact property firstname"),
            );
        }
        let snapshot = DealSnapshot {
            name: Some(name.into()),
            contact_email: Some("buyer@example.com".into()),
            facts,
            ..Default::default()
        };
        w.event(
            "e1",
            "2026-03-02T09:00:00Z",
            EventKind::StageChanged {
                raw_stage: "contractsent".into(),
            },
            Some(snapshot),
        )
        .await;
        w
    }

    async fn event(&self, id: &str, at: &str, kind: EventKind, snapshot: Option<DealSnapshot>) {
        let e = DealEvent {
            id: id.into(),
            deal: DealRef::new("hubspot", DEAL),
            occurred_at: t(at),
            source: "hubspot".into(),
            kind,
            snapshot,
        };
        let c = self.services.core();
        record_event(&*c.store, &*c.audit, &c.config, &*c.clock, &e, "test")
            .await
            .unwrap();
    }

    /// The review page and approvals sending through `sender` instead of the outbox.
    #[cfg(feature = "ses")]
    fn sending_with(&mut self, sender: Arc<dyn shared::ports::Sender>) {
        let adapters = Adapters {
            sender: Some(sender),
            ..self.services.adapters().clone()
        };
        self.services = Services::build(adapters, self.services.settings().clone());
        self.review = self.services.review();
    }

    /// Sweep, evaluate and draft, as the queues would.
    async fn run_pipeline(&self) {
        support::sweep_and_drain(
            &self.services.core(),
            &self.store,
            &self.clock,
            &self.tokens,
        )
        .await;
    }

    async fn drafted(&self) -> Draft {
        self.clock.advance(SignedDuration::from_hours(72));
        self.run_pipeline().await;
        let mut drafts = self
            .store
            .drafts_by_status(DraftStatus::Pending, None, 10)
            .await
            .unwrap();
        assert_eq!(drafts.len(), 1);
        drafts.remove(0)
    }

    fn token(&self, id: &str) -> String {
        self.tokens.sign(
            Scope::Draft(id),
            "alex@northwind.example",
            self.clock.now() + SignedDuration::from_hours(1),
        )
    }

    async fn post(&self, id: &str, fields: &[(&str, &str)]) -> (u16, Value) {
        self.post_from(id, fields, &[]).await
    }

    /// A decision with these extra request headers (`Origin`, `Sec-Fetch-Site`).
    async fn post_from(
        &self,
        id: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let token = self.token(id);
        let mut all = vec![("token", token.as_str())];
        all.extend_from_slice(fields);
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("/review/{id}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Bytes::from(serde_urlencoded::to_string(&all).unwrap()))
            .unwrap();
        let resp = self.review.handle(req).await;
        (
            resp.status().as_u16(),
            serde_json::from_slice(resp.body()).unwrap(),
        )
    }

    async fn get_page(&self, id: &str) -> String {
        let req = http::Request::builder()
            .uri(format!("/review/{id}?token={}", self.token(id)))
            .body(Bytes::new())
            .unwrap();
        let resp = self.review.handle(req).await;
        assert_eq!(resp.status(), 200);
        String::from_utf8(resp.body().to_vec()).unwrap()
    }

    fn sent(&self) -> Vec<shared::adapters::embedded::OutboxEntry> {
        self.store
            .outbox_entries()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "prospect")
            .collect()
    }

    /// The kinds of every audit entry so far.
    async fn audit_kinds(&self) -> Vec<String> {
        self.store
            .entries(None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind.to_string())
            .collect()
    }

    async fn status(&self, id: &str) -> DraftStatus {
        self.store.get_draft(id).await.unwrap().unwrap().status
    }
}

#[tokio::test]
async fn concurrent_approvals_send_exactly_once() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let (a, b, c) = tokio::join!(
        w.post(&d.id, &[("action", "approve")]),
        w.post(&d.id, &[("action", "approve")]),
        w.post(&d.id, &[("action", "approve")])
    );
    let mut codes = vec![a.0, b.0, c.0];
    codes.sort();
    assert_eq!(codes, vec![200, 409, 409]);
    assert_eq!(w.sent().len(), 1);
    assert_eq!(w.status(&d.id).await, DraftStatus::Sent);
    let kinds = w.audit_kinds().await;
    assert_eq!(kinds.iter().filter(|k| *k == "message.sent").count(), 1);
}

#[tokio::test]
async fn an_edited_approval_sends_the_edited_text_and_records_the_diff() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let edited = d
        .body
        .replace("Happy to walk through it", "Glad to walk through it");
    assert_ne!(edited, d.body);
    let (code, body) = w
        .post(&d.id, &[("action", "approve"), ("body", &edited)])
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["edited"], true);
    assert_eq!(w.sent()[0].body, edited);
    let decision = w
        .store
        .get_draft(&d.id)
        .await
        .unwrap()
        .unwrap()
        .decision
        .unwrap();
    let diff = decision.diff.unwrap();
    assert!(
        diff.contains("-If anything") || diff.contains("-") && diff.contains("Happy to walk"),
        "{diff}"
    );
    assert!(
        diff.contains("+") && diff.contains("Glad to walk"),
        "{diff}"
    );
    assert_eq!(decision.by, "alex@northwind.example");
}

#[tokio::test]
async fn a_reply_after_drafting_supersedes_the_draft_and_nothing_is_sent() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let now = w.clock.now().to_string();
    w.event(
        "reply-1",
        &now,
        EventKind::ProspectReplied {
            summary: "Jane: yes, let's talk".into(),
        },
        None,
    )
    .await;
    // Superseded as soon as the reply is recorded, before anyone opens it.
    assert_eq!(w.status(&d.id).await, DraftStatus::Superseded);
    assert!(w
        .store
        .drafts_by_status(DraftStatus::Pending, None, 10)
        .await
        .unwrap()
        .is_empty());
    let (code, body) = w.post(&d.id, &[("action", "approve")]).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("replied"),
        "{body}"
    );
    assert_eq!(w.status(&d.id).await, DraftStatus::Superseded);
    assert!(w.sent().is_empty());
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_a_later_decision_says_who_rejected() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let (code, body) = w.post(&d.id, &[("action", "reject")]).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        w.status(&d.id).await,
        DraftStatus::Pending,
        "a bad request changes nothing"
    );
    let (code, _) = w
        .post(
            &d.id,
            &[
                ("action", "reject"),
                ("reason", "already spoke on the phone"),
            ],
        )
        .await;
    assert_eq!(code, 200);
    let (code, body) = w.post(&d.id, &[("action", "approve")]).await;
    assert_eq!(code, 409);
    assert_eq!(body["decision"], "reject");
    assert_eq!(body["reason"], "already spoke on the phone");
    assert!(w.sent().is_empty());
}

#[tokio::test]
async fn a_snoozed_draft_comes_back_after_its_snooze_and_the_founder_is_told_again() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let (code, body) = w
        .post(&d.id, &[("action", "snooze"), ("snooze_hours", "2")])
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(w.status(&d.id).await, DraftStatus::Snoozed);
    let notes = |w: &World| {
        w.store
            .outbox_entries()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "founder")
            .count()
    };
    assert_eq!(notes(&w), 1);
    w.clock.advance(SignedDuration::from_hours(1));
    w.run_pipeline().await;
    assert_eq!(
        w.status(&d.id).await,
        DraftStatus::Snoozed,
        "not before the snooze ends"
    );
    w.clock.advance(SignedDuration::from_hours(1));
    w.run_pipeline().await;
    assert_eq!(w.status(&d.id).await, DraftStatus::Pending);
    assert_eq!(notes(&w), 2);
    let (code, bad) = w
        .post(&d.id, &[("action", "snooze"), ("snooze_hours", "forever")])
        .await;
    assert_eq!(code, 400, "{bad}");
}

#[tokio::test]
async fn an_incomplete_draft_cannot_be_sent_until_the_gap_is_filled() {
    let w = World::new("Stark", None).await;
    let d = w.drafted().await;
    assert_eq!(d.missing, vec!["contact.first_name".to_string()]);
    let (code, body) = w.post(&d.id, &[("action", "approve")]).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(w.status(&d.id).await, DraftStatus::Pending);
    let fixed = d.body.replace("[[missing: contact.first_name]]", "Pepper");
    let (code, body) = w
        .post(&d.id, &[("action", "approve"), ("body", &fixed)])
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(w.sent()[0].body.starts_with("Hi Pepper,"));
}

#[tokio::test]
async fn the_page_escapes_crm_text_and_opening_it_changes_nothing() {
    let w = World::new("<script>alert(1)</script> Corp", Some("Jane")).await;
    let d = w.drafted().await;
    let audit_before = w.store.entries(None).await.unwrap();
    let html = w.get_page(&d.id).await;
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;"));
    assert!(html.contains("HubSpot deal property dealname"));
    assert_eq!(w.store.entries(None).await.unwrap(), audit_before);
    assert_eq!(w.status(&d.id).await, DraftStatus::Pending);
}

/// A send interrupted after the message left but before it was recorded leaves the draft
/// SENDING. Approving again a minute later looks in Sent first: found, it is recorded as sent
/// without a second message; not found, it is sent once.
#[tokio::test]
async fn an_interrupted_send_is_finished_from_sent_never_sent_twice() {
    for already_out in [true, false] {
        let w = World::new("Acme", Some("Jane")).await;
        let mut d = w.drafted().await;
        let email = shared::domain::OutboundEmail {
            draft_id: d.id.clone(),
            from: "Alex Rivera <alex@northwind.example>".into(),
            to: "buyer@example.com".into(),
            reply_to: None,
            subject: d.subject.clone(),
            body: d.body.clone(),
            thread: None,
        };
        d.status = DraftStatus::Sending;
        d.decision = Some(shared::domain::Decision {
            action: shared::domain::DecisionAction::Approve,
            by: "alex@northwind.example".into(),
            at: w.clock.now(),
            reason: None,
            edited: false,
            diff: None,
        });
        d.outgoing = Some(email.clone());
        w.store
            .update_draft(&d, DraftStatus::Pending)
            .await
            .unwrap();
        if already_out {
            w.store
                .outbox(w.clock.clone())
                .record_sent(
                    &email,
                    &shared::domain::SentReceipt {
                        id: "outbox-before-the-crash".into(),
                        conversation: None,
                    },
                )
                .unwrap();
        }
        // Too early: someone may still be sending it.
        let (code, _) = w.post(&d.id, &[("action", "approve")]).await;
        assert_eq!(code, 409);
        w.clock.advance(SignedDuration::from_secs(90));
        let (code, body) = w.post(&d.id, &[("action", "approve")]).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(w.status(&d.id).await, DraftStatus::Sent);
        assert_eq!(
            w.sent().len(),
            1,
            "exactly one message (already out: {already_out})"
        );
        if already_out {
            assert_eq!(body["message_id"], "outbox-before-the-crash");
        }
        let (code, _) = w.post(&d.id, &[("action", "approve")]).await;
        assert_eq!(code, 409);
        let kinds = w.audit_kinds().await;
        let expected = if already_out {
            "send.found_in_sent"
        } else {
            "send.resumed"
        };
        assert!(kinds.iter().any(|k| k == expected), "{kinds:?}");
    }
}

async fn pending(w: &World) -> Vec<Draft> {
    w.store
        .drafts_by_status(DraftStatus::Pending, None, 10)
        .await
        .unwrap()
}

fn stops(w: &World, deal: &shared::domain::Deal) -> Vec<String> {
    shared::rules::evaluate(deal, &w.services.core().config, w.clock.now())
        .triggers
        .into_iter()
        .filter_map(|t| match t.state {
            shared::rules::TriggerState::Stopped { stop } => Some(stop.to_string()),
            _ => None,
        })
        .collect()
}

async fn deal(w: &World) -> shared::domain::Deal {
    w.store
        .get_deal(&DealRef::new("hubspot", DEAL))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn wrong_timing_brings_the_same_follow_up_back_later_as_a_new_draft() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let (code, body) = w
        .post(
            &d.id,
            &[
                ("action", "reject"),
                ("reason_kind", "wrong_timing"),
                ("days", "2"),
            ],
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("comes back"),
        "{body}"
    );
    w.clock.advance(SignedDuration::from_hours(47));
    w.run_pipeline().await;
    assert!(pending(&w).await.is_empty(), "not before its time");
    w.clock.advance(SignedDuration::from_hours(2));
    w.run_pipeline().await;
    let again = pending(&w).await;
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].id, d.id, "a new draft");
    assert_eq!(again[0].trigger, d.trigger);
    assert!(
        again[0].occurrence.ends_with("#rearm1"),
        "{}",
        again[0].occurrence
    );
}

#[tokio::test]
async fn park_snooze_and_wrong_contact_hold_the_deal_and_say_so() {
    // Park: nothing more until unparked, and the reason shows where explain looks.
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let (code, body) = w
        .post(
            &d.id,
            &[
                ("action", "reject"),
                ("reason_kind", "park"),
                ("reason", "budget freeze"),
            ],
        )
        .await;
    assert_eq!(code, 200, "{body}");
    w.clock.advance(SignedDuration::from_hours(24 * 30));
    w.run_pipeline().await;
    assert!(pending(&w).await.is_empty());
    let dl = deal(&w).await;
    assert!(
        stops(&w, &dl)
            .iter()
            .all(|s| s.contains("parked from the review queue")),
        "{:?}",
        stops(&w, &dl)
    );
    let timeline = w.store.timeline(&dl.key).await.unwrap();
    assert!(timeline.iter().any(|e| e.kind.label() == "founder_hold"));

    // Snooze the deal 5 days: the idle-stage follow-up due on day 7 waits for day 8.
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let (code, _) = w
        .post(
            &d.id,
            &[
                ("action", "reject"),
                ("reason_kind", "snooze_deal"),
                ("days", "5"),
            ],
        )
        .await;
    assert_eq!(code, 200);
    w.clock.advance(SignedDuration::from_hours(24 * 4 + 12));
    w.run_pipeline().await;
    assert!(pending(&w).await.is_empty(), "day 7.5: still snoozed");
    w.clock.advance(SignedDuration::from_hours(13));
    w.run_pipeline().await;
    let back = pending(&w).await;
    assert_eq!(back.len(), 1, "after the snooze");
    assert_eq!(back[0].trigger, shared::domain::TriggerKind::StageUnchanged);

    // Wrong contact: nothing more to that address.
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let (code, _) = w
        .post(
            &d.id,
            &[("action", "reject"), ("reason_kind", "wrong_contact")],
        )
        .await;
    assert_eq!(code, 200);
    w.clock.advance(SignedDuration::from_hours(24 * 10));
    w.run_pipeline().await;
    assert!(pending(&w).await.is_empty());
    let dl = deal(&w).await;
    assert!(
        stops(&w, &dl)
            .iter()
            .any(|s| s.contains("buyer@example.com was marked the wrong contact")),
        "{:?}",
        stops(&w, &dl)
    );
}

#[tokio::test]
async fn a_bad_draft_note_is_kept_as_template_feedback_and_unknown_reasons_are_refused() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let (code, _) = w
        .post(&d.id, &[("action", "reject"), ("reason_kind", "bad_draft")])
        .await;
    assert_eq!(code, 400, "bad_draft needs the note");
    let (code, body) = w
        .post(
            &d.id,
            &[
                ("action", "reject"),
                ("reason_kind", "sideways"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(code, 400);
    assert!(body["allowed_reason_kinds"].is_array(), "{body}");
    assert_eq!(
        w.status(&d.id).await,
        DraftStatus::Pending,
        "refusals change nothing"
    );
    let (code, _) = w
        .post(
            &d.id,
            &[
                ("action", "reject"),
                ("reason_kind", "bad_draft"),
                ("reason", "too pushy"),
            ],
        )
        .await;
    assert_eq!(code, 200);
    let entries = w.store.entries(None).await.unwrap();
    let rejected = entries.iter().find(|e| e.kind == "draft.rejected").unwrap();
    assert_eq!(rejected.detail["reason_kind"], "bad_draft");
    assert_eq!(rejected.detail["hold"]["kind"], "template_feedback");
    assert_eq!(rejected.detail["hold"]["template"], d.context.template);
    assert_eq!(rejected.detail["note"], "too pushy");
}

#[tokio::test]
async fn only_configured_approvers_decide_and_head_or_get_never_do() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let eve = w.tokens.sign(
        Scope::Draft(&d.id),
        "eve@example.com",
        w.clock.now() + SignedDuration::from_hours(1),
    );
    let form =
        serde_urlencoded::to_string([("token", eve.as_str()), ("action", "approve")]).unwrap();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("/review/{}", d.id))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(Bytes::from(form))
        .unwrap();
    let resp = w.review.handle(req).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(w.status(&d.id).await, DraftStatus::Pending);

    let before = w.store.entries(None).await.unwrap().len();
    let head = http::Request::builder()
        .method("HEAD")
        .uri(format!("/review/{}?token={}", d.id, w.token(&d.id)))
        .body(Bytes::new())
        .unwrap();
    let resp = w.review.handle(head).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.body().is_empty());
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = w.get_page(&d.id).await;
    assert!(
        page.contains("Proposal sent 3 days ago, no reply"),
        "{page}"
    );
    assert_eq!(
        w.store.entries(None).await.unwrap().len(),
        before,
        "looking changes nothing"
    );
    assert_eq!(w.status(&d.id).await, DraftStatus::Pending);
}

#[tokio::test]
async fn an_expired_link_offers_a_fresh_one_sent_to_its_own_approver_only() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    let old = w.tokens.sign(
        Scope::Draft(&d.id),
        "alex@northwind.example",
        w.clock.now() - SignedDuration::from_hours(1),
    );
    let req = http::Request::builder()
        .uri(format!("/review/{}?token={old}", d.id))
        .body(Bytes::new())
        .unwrap();
    let resp = w.review.handle(req).await;
    assert_eq!(resp.status(), 401);
    let page = String::from_utf8(resp.body().to_vec()).unwrap();
    assert!(page.contains("This link has expired"), "{page}");
    // (minijinja escapes `/` in attributes as `&#x2f;`, which browsers read back as `/`.)
    let action = format!("/review/{}/relink", d.id).replace('/', "&#x2f;");
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    assert!(page.contains("Email me a fresh link"), "{page}");
    let founder_notes = |w: &World| {
        w.store
            .outbox_entries()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "founder" && e.subject.contains("fresh"))
            .collect::<Vec<_>>()
    };
    for _ in 0..2 {
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("/review/{}/relink", d.id))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from(format!("token={old}")))
            .unwrap();
        let resp = w.review.handle(req).await;
        assert_eq!(resp.status(), 200);
    }
    let notes = founder_notes(&w);
    assert_eq!(notes.len(), 1, "one fresh link, however often asked");
    assert_eq!(notes[0].to, "alex@northwind.example");
    let fresh = notes[0].review_url.clone().unwrap();
    let token = fresh.split("token=").nth(1).unwrap();
    assert!(w
        .tokens
        .verify(Scope::Draft(&d.id), Some(token), w.clock.now())
        .is_ok());
    assert_eq!(
        w.status(&d.id).await,
        DraftStatus::Pending,
        "asking decides nothing"
    );
}

fn founder_notes(w: &World) -> Vec<shared::adapters::embedded::OutboxEntry> {
    w.store
        .outbox_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "founder")
        .collect()
}

#[tokio::test]
async fn a_waiting_draft_is_reminded_once_a_day_and_never_sent_by_waiting() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    assert_eq!(founder_notes(&w).len(), 1);
    w.clock.advance(SignedDuration::from_hours(47));
    w.run_pipeline().await;
    assert_eq!(
        founder_notes(&w).len(),
        1,
        "not before remind_after_hours (48)"
    );
    w.clock.advance(SignedDuration::from_hours(2));
    w.run_pipeline().await;
    w.run_pipeline().await;
    assert_eq!(
        founder_notes(&w).len(),
        2,
        "one reminder, however often the sweep runs"
    );
    w.clock.advance(SignedDuration::from_hours(24));
    w.run_pipeline().await;
    assert_eq!(founder_notes(&w).len(), 3, "and again the next day");
    for _ in 0..30 {
        w.clock.advance(SignedDuration::from_hours(24));
        w.run_pipeline().await;
    }
    assert!(w.sent().is_empty(), "a month of waiting sends nothing");
    assert_eq!(w.status(&d.id).await, DraftStatus::Pending);
    let last = founder_notes(&w).pop().unwrap();
    assert_eq!(last.draft_id.as_deref(), Some(d.id.as_str()));
}

#[tokio::test]
async fn the_daily_digest_replaces_per_draft_notifications() {
    let w = World::with_config("Acme", Some("Jane"), |c| {
        c.review.notify = shared::config::NotifyMode::DailyDigest;
        c.review.digest_hour = 8;
    })
    .await;
    // 2026-03-05 09:00 UTC is 10:00 in Berlin: past the digest hour. The draft written by
    // this sweep goes into the next sweep's digest.
    let d = w.drafted().await;
    assert!(founder_notes(&w).is_empty(), "no per-draft notification");
    let summary = support::sweep_and_drain(&w.services.core(), &w.store, &w.clock, &w.tokens).await;
    assert!(summary.digest, "{summary:?}");
    let notes = founder_notes(&w);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].draft_id.is_none(), "no per-draft notification");
    assert!(
        notes[0].subject.contains("1 drafts waiting"),
        "{}",
        notes[0].subject
    );
    assert!(
        notes[0].body.contains(&format!("/review/{}?token=", d.id)),
        "{}",
        notes[0].body
    );
    assert!(
        notes[0].body.contains("/review?token="),
        "and the queue link"
    );
    w.run_pipeline().await;
    w.clock.advance(SignedDuration::from_hours(6));
    w.run_pipeline().await;
    assert_eq!(founder_notes(&w).len(), 1, "once a day");
    w.clock.advance(SignedDuration::from_hours(20));
    w.run_pipeline().await;
    assert_eq!(founder_notes(&w).len(), 2, "the next day's digest");
}

/// The SES sender keeps no Sent folder; SES's Send events, recorded by mail-events, stand in
/// for one. SES's API is a local mock here: a send whose answer is lost (a 500 after SES may
/// have taken the message) leaves the draft SENDING, and approving again a minute later sends
/// only if no Send event names the draft.
#[cfg(feature = "ses")]
mod ses_sends {
    use aws_sdk_sesv2::config::{retry::RetryConfig, BehaviorVersion, Credentials, Region};
    use shared::adapters::aws::SesSender;
    use shared::app::ses_sends;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const SEND: &str = "/v2/email/outbound-emails";

    /// SES's API at `server`, each call tried once.
    fn ses(server: &MockServer) -> aws_sdk_sesv2::Client {
        let config = aws_sdk_sesv2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(server.uri())
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_sesv2::Client::from_conf(config)
    }

    async fn ses_world(server: &MockServer) -> World {
        let mut w = World::new("Acme", Some("Jane")).await;
        let sender = SesSender::new(ses(server), Some("draftgate-sends".into()))
            .finding_sends_in(w.store.clone());
        w.sending_with(Arc::new(sender));
        w
    }

    /// The Send event SES would publish for `draft_id`'s message.
    fn send_event(draft_id: &str, message_id: &str) -> Value {
        let mut event: Value =
            serde_json::from_str(include_str!("../../events/mail-events/ses-email-sent.json"))
                .unwrap();
        event["detail"]["mail"]["messageId"] = message_id.into();
        event["detail"]["mail"]["tags"][ses_sends::DRAFT_TAG] = serde_json::json!([draft_id]);
        event
    }

    async fn sends(server: &MockServer) -> Vec<Value> {
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == SEND)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn each_message_names_its_draft_and_the_configuration_set() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(SEND))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"MessageId": "ses-1"})),
            )
            .mount(&server)
            .await;
        let w = ses_world(&server).await;
        let d = w.drafted().await;
        let (code, body) = w.post(&d.id, &[("action", "approve")]).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["message_id"], "ses-1");
        let sent = sends(&server).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["ConfigurationSetName"], "draftgate-sends");
        assert_eq!(
            sent[0]["EmailTags"],
            serde_json::json!([{"Name": ses_sends::DRAFT_TAG, "Value": d.id}])
        );
    }

    #[tokio::test]
    async fn a_lost_answer_is_settled_by_the_send_event_never_by_a_second_message() {
        for accepted in [true, false] {
            let server = MockServer::start().await;
            // The first SendEmail gets no usable answer; a later one succeeds.
            Mock::given(method("POST"))
                .and(path(SEND))
                .respond_with(ResponseTemplate::new(500))
                .up_to_n_times(1)
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path(SEND))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(serde_json::json!({"MessageId": "ses-second"})),
                )
                .mount(&server)
                .await;
            let w = ses_world(&server).await;
            let d = w.drafted().await;

            // From the page (a form post, not JSON): told what to do, in words.
            let req = http::Request::builder()
                .method("POST")
                .uri(format!("/review/{}", d.id))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Bytes::from(
                    serde_urlencoded::to_string([
                        ("token", w.token(&d.id).as_str()),
                        ("action", "approve"),
                    ])
                    .unwrap(),
                ))
                .unwrap();
            let resp = w.review.handle(req).await;
            assert_eq!(resp.status(), 503);
            let html = String::from_utf8(resp.body().to_vec()).unwrap();
            assert!(html.contains("open this draft"), "{html}");
            assert!(html.contains("<html"), "a page, not JSON: {html}");
            assert_eq!(
                w.status(&d.id).await,
                DraftStatus::Sending,
                "the message may be out: not offered for a second send"
            );
            if accepted {
                // SES took it after all: its Send event arrives through EventBridge.
                let event = send_event(&d.id, "ses-first");
                let parsed = ses_sends::parse(&event).unwrap();
                ses_sends::record(&*w.store, &parsed).await.unwrap();
            }
            // At once, someone may still be sending it.
            let (code, _) = w.post(&d.id, &[("action", "approve")]).await;
            assert_eq!(code, 409);
            let page = w.get_page(&d.id).await;
            assert!(page.contains("Being sent: not confirmed yet"), "{page}");
            assert!(!page.contains("id=\"finish\""), "{page}");
            w.clock.advance(SignedDuration::from_secs(90));
            // The page offers to finish it: the same approval, which looks first.
            let page = w.get_page(&d.id).await;
            assert!(page.contains("Not confirmed as sent"), "{page}");
            assert!(
                page.contains(r#"name="action" value="approve" id="finish""#),
                "{page}"
            );
            let (code, body) = w.post(&d.id, &[("action", "approve")]).await;
            assert_eq!(code, 200, "{body}");
            assert_eq!(w.status(&d.id).await, DraftStatus::Sent);
            let requests = sends(&server).await.len();
            if accepted {
                assert_eq!(body["message_id"], "ses-first");
                assert_eq!(requests, 1, "SES accepted the first: no second SendEmail");
            } else {
                assert_eq!(body["message_id"], "ses-second");
                assert_eq!(requests, 2, "no Send event: sent once more");
            }
            let kinds = w.audit_kinds().await;
            let expected = if accepted {
                "send.found_in_sent"
            } else {
                "send.resumed"
            };
            assert!(kinds.iter().any(|k| k == expected), "{kinds:?}");
            assert_eq!(
                kinds.iter().filter(|k| *k == "message.sent").count(),
                1,
                "{kinds:?}"
            );
            let (code, _) = w.post(&d.id, &[("action", "approve")]).await;
            assert_eq!(code, 409, "sent is final");
            let page = w.get_page(&d.id).await;
            assert!(!page.contains("id=\"unfinished\""), "{page}");
        }
    }

    /// Without the Send events (no `SES_SEND_EVENTS`), a send without an answer goes back for
    /// approval as before, and a draft left SENDING is never sent blindly.
    #[tokio::test]
    async fn without_send_events_a_draft_left_sending_is_never_sent_blindly() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(SEND))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let mut w = World::new("Acme", Some("Jane")).await;
        w.sending_with(Arc::new(SesSender::new(ses(&server), None)));
        let d = w.drafted().await;
        let (code, _) = w.post(&d.id, &[("action", "approve")]).await;
        assert_eq!(code, 503);
        assert_eq!(w.status(&d.id).await, DraftStatus::Pending);
    }
}

#[tokio::test]
async fn a_decision_from_another_origin_is_refused_and_sends_nothing() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![("origin", "http://localhost.evil.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("origin", "https://localhost")],
    ] {
        let (code, body) = w.post_from(&d.id, &[("action", "approve")], &headers).await;
        assert_eq!(code, 403, "{headers:?}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("Nothing was changed"),
            "{body}"
        );
    }
    assert!(w.sent().is_empty());
    assert_eq!(w.status(&d.id).await, DraftStatus::Pending);
    // The service's own page (its origin, or the browser's word that it is same-origin).
    let (code, body) = w
        .post_from(
            &d.id,
            &[("action", "approve")],
            &[("origin", "http://localhost")],
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(w.sent().len(), 1);
}

#[tokio::test]
async fn a_missing_marker_typed_into_an_edit_blocks_approval_like_a_drafted_one() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    assert!(d.missing.is_empty(), "{:?}", d.missing);
    let edited = format!("{}\nPrice: [[missing: the discount]]\n", d.body);
    let (code, body) = w
        .post(&d.id, &[("action", "approve"), ("body", &edited)])
        .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["missing"], serde_json::json!(["the discount"]));
    let (code, body) = w
        .post(
            &d.id,
            &[
                ("action", "approve"),
                ("subject", "Re: [[missing:deal.name]]"),
            ],
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(w.sent().is_empty());
    assert_eq!(w.status(&d.id).await, DraftStatus::Pending);
}

#[tokio::test]
async fn a_cleared_message_is_refused_and_the_drafted_one_is_not_sent_in_its_place() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    for form in [
        vec![("action", "approve"), ("subject", ""), ("body", "")],
        vec![("action", "approve"), ("body", " \r\n ")],
        vec![("action", "approve"), ("subject", " ")],
    ] {
        let (code, body) = w.post(&d.id, &form).await;
        assert_eq!(code, 400, "{body}");
        assert!(
            body["error"].as_str().unwrap_or("").contains("is empty"),
            "{body}"
        );
    }
    assert!(w.sent().is_empty());
    assert_eq!(w.status(&d.id).await, DraftStatus::Pending);
    // Left out, a field is the drafted text.
    let (code, body) = w.post(&d.id, &[("action", "approve")]).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(w.sent().len(), 1);
}

#[tokio::test]
async fn crm_text_and_an_edited_subject_reach_the_sender_on_one_line() {
    let w = World::new(
        "Zenith\r\nBcc: victim@evil.example\r\nX-Injected: yes",
        Some("Mia"),
    )
    .await;
    let d = w.drafted().await;
    assert!(!d.subject.contains(['\r', '\n']), "{:?}", d.subject);
    assert!(!d.deal_name.contains(['\r', '\n']), "{:?}", d.deal_name);
    let (code, body) = w
        .post(
            &d.id,
            &[
                ("action", "approve"),
                (
                    "subject",
                    "Hello\r\nBcc: victim@evil.example\u{2028}X-Injected: yes",
                ),
            ],
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let sent = w.sent();
    assert_eq!(
        sent[0].subject,
        "Hello Bcc: victim@evil.example X-Injected: yes"
    );
    for note in w.store.outbox_entries().unwrap() {
        assert!(!note.subject.contains(['\r', '\n', '\u{2028}']), "{note:?}");
    }
}

#[tokio::test]
async fn the_founders_own_mail_withdraws_the_waiting_follow_up_and_approval_says_why_in_words() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    w.clock.advance(SignedDuration::from_hours(1));
    let now = w.clock.now().to_string();
    w.event(
        "mail-1",
        &now,
        EventKind::OutboundSent {
            summary: "Email to buyer@example.com: \"Re: Acme\"".into(),
        },
        None,
    )
    .await;
    // Withdrawn at once, and the founder's next notification will say why.
    assert_eq!(w.status(&d.id).await, DraftStatus::Superseded);
    let notices = w.store.notices(10).await.unwrap();
    assert!(
        notices
            .iter()
            .any(|(_, t)| t.contains("You wrote to Jane yourself") && t.contains("Acme")),
        "{notices:?}"
    );
    w.clock.advance(SignedDuration::from_hours(2));
    let (code, body) = w.post(&d.id, &[("action", "approve")]).await;
    assert_eq!(code, 409, "{body}");
    let words = body["error"].as_str().unwrap();
    assert!(
        words
            .starts_with("You wrote to Jane yourself on Thu 5 Mar 11:00: \u{201c}Re: Acme\u{201d}")
            && words
                .contains("that mail is the follow-up, so this proposal follow-up was withdrawn."),
        "{words}"
    );
    assert!(w.sent().is_empty());
    let page = w.get_page(&d.id).await;
    assert!(page.contains("You wrote to Jane yourself"), "{page}");
}

#[tokio::test]
async fn a_draft_whose_prospect_replied_unnoticed_is_withdrawn_at_approval_in_words() {
    let w = World::new("Acme", Some("Jane")).await;
    let d = w.drafted().await;
    // The reply reaches the deal without the waiting draft being looked at (a store written
    // by an older version, or a race): the approval's own re-check withdraws it.
    let mut deal = w.store.get_deal(&d.deal).await.unwrap().unwrap();
    let replied = w.clock.now() - SignedDuration::from_hours(2);
    deal.last_inbound_at = Some(replied);
    deal.last_interaction = Some(shared::domain::Interaction {
        at: replied,
        summary: "Reply from buyer@example.com: \"Thanks, we are discussing it internally\"".into(),
        source: "gmail".into(),
    });
    deal.version += 1;
    w.store.put_deal(&deal).await.unwrap();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("/review/{}", d.id))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(format!(
            "token={}&action=approve",
            w.token(&d.id)
        )))
        .unwrap();
    let resp = w.review.handle(req).await;
    assert_eq!(resp.status(), 409);
    let page = String::from_utf8(resp.body().to_vec()).unwrap();
    assert!(
        page.contains(
            "Jane replied 2 hours ago: \u{201c}Thanks, we are discussing it internally\u{201d}"
        ) && page.contains("this proposal follow-up was withdrawn."),
        "{page}"
    );
    assert!(page.contains("id=\"link\""), "a link to the deal: {page}");
    assert!(w.sent().is_empty());
}

#[tokio::test]
async fn the_weekly_summary_is_on_by_default_and_starts_the_monday_after_start_up() {
    // Monday 2 March 2026, 10:00 in Berlin: after the 08:00 summary time.
    let w = World::new("Acme", Some("Jane")).await;
    assert_eq!(w.services.core().config.review.summary_day, "monday");
    let summaries = |w: &World| {
        w.store
            .outbox_entries()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "founder" && e.subject.contains("your pipeline, week"))
            .collect::<Vec<_>>()
    };
    w.run_pipeline().await;
    assert!(summaries(&w).is_empty(), "nothing at start-up");
    // The next Monday at 08:00 Berlin (07:00 UTC): one summary, to the founder only.
    w.clock.set(t("2026-03-09T06:59:00Z"));
    w.run_pipeline().await;
    assert!(summaries(&w).is_empty());
    w.clock.set(t("2026-03-09T07:00:00Z"));
    w.run_pipeline().await;
    w.clock.set(t("2026-03-09T09:00:00Z"));
    w.run_pipeline().await;
    let sent = summaries(&w);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, "alex@northwind.example");
    // A Monday without a sweep: that week's summary still comes, on the next sweep.
    w.clock.set(t("2026-03-18T10:00:00Z"));
    w.run_pipeline().await;
    w.run_pipeline().await;
    assert_eq!(summaries(&w).len(), 2);
}

#[tokio::test]
async fn a_meeting_held_after_drafting_withdraws_the_waiting_check_in_before_any_reminder() {
    let w = World::new("Acme", Some("Jane")).await;
    // A meeting booked for three weeks out: the proposal nudge stops, the stage's quiet counts
    // from the booking, and its check-in is drafted a week later.
    w.event(
        "meeting-1",
        "2026-03-02T10:00:00Z",
        EventKind::MeetingBooked {
            summary: "Review meeting booked".into(),
            starts_at: Some(t("2026-03-23T10:00:00Z")),
            meeting_id: Some("m1".into()),
        },
        None,
    )
    .await;
    w.clock.set(t("2026-03-09T11:00:00Z"));
    w.run_pipeline().await;
    let waiting = w
        .store
        .drafts_by_status(DraftStatus::Pending, None, 10)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(
        waiting[0].trigger,
        shared::domain::TriggerKind::StageUnchanged
    );
    let id = waiting[0].id.clone();
    // The meeting is held; no event says so. The next reminder withdraws the draft instead.
    w.clock.set(t("2026-03-24T09:00:00Z"));
    w.run_pipeline().await;
    assert_eq!(w.status(&id).await, DraftStatus::Superseded);
    let d = w.store.get_draft(&id).await.unwrap().unwrap();
    assert!(
        d.superseded_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("The meeting with Jane was held on Mon 23 Mar")),
        "{:?}",
        d.superseded_reason
    );
    assert!(w.sent().is_empty());
}
