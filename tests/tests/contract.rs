//! The adapter contract suite: one set of checks on the port traits, run against the AWS
//! adapters (on a local AWS API emulator, see `support::aws`) and the embedded adapters, so the
//! embedded store the local runner uses cannot drift from DynamoDB and SQS.
//!
//! `contract` holds the checks; each takes only the ports it exercises. The `suite!` macro
//! turns them into one `#[tokio::test]` per backend (`aws::…`, `embedded::…`). Checks that only
//! make sense against AWS (item layout, EventBridge, SNS, SES) live in `aws_only`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use shared::domain::{
    AuditEntry, Deal, DealEvent, DealRef, DealSnapshot, Decision, DecisionAction, Draft,
    DraftContext, DraftStatus, EventKind, Fact, FactUse, Firing, Interaction, Stage, TriggerKind,
};
use shared::ports::{
    AuditLog, AuditReader, PipelineStore, Queue, QueueConsumer, QueueMessage, Recorded, StoreError,
};

/// The ports one backend provides, fresh and empty for each test.
pub struct Ports {
    pub pipeline: Arc<dyn PipelineStore>,
    pub audit: Arc<dyn AuditLog>,
    pub audit_reader: Arc<dyn AuditReader>,
    pub queue: Arc<dyn Queue>,
    pub consumer: Arc<dyn QueueConsumer>,
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

const T0: &str = "2024-11-20T09:00:00Z";

/// A deal with every kind of field set, so a lossy round trip shows up as an inequality.
fn deal(key: &DealRef, version: u64) -> Deal {
    let at = ts(T0);
    let mut deal = Deal::new(key.clone(), at);
    deal.version = version;
    deal.name = format!("Acme rollout ({})", key.id);
    deal.stage = Some(Stage::Proposal);
    deal.raw_stage = Some("presentationscheduled".into());
    deal.pipeline = Some("default".into());
    deal.deal_type = Some("newbusiness".into());
    deal.amount = Some(12500.75);
    deal.currency = Some("EUR".into());
    deal.contact_email = Some("jane@acme.example".into());
    deal.updated_at = at + hours(1);
    deal.proposal_sent_at = Some(at + SignedDuration::from_millis(1_500));
    deal.last_interaction = Some(Interaction {
        at,
        summary: "Call: \"send the proposal by Friday\"".into(),
        source: "hubspot:engagement:1".into(),
    });
    deal.facts = BTreeMap::from([
        (
            "deal.name".to_string(),
            Fact::new("Acme rollout", "hubspot:deal.dealname"),
        ),
        (
            "contact.first_name".to_string(),
            Fact::new("Jane", "hubspot:contact.firstname"),
        ),
    ]);
    deal.fired = BTreeSet::from(["stage_unchanged#2024-11-01T00:00:00.000Z".to_string()]);
    deal
}

fn due(mut deal: Deal, at: Option<Timestamp>) -> Deal {
    deal.next_due_at = at;
    deal
}

fn renamed(mut deal: Deal, name: &str) -> Deal {
    deal.name = name.into();
    deal
}

fn event(id: &str, deal: &DealRef, occurred_at: Timestamp) -> DealEvent {
    DealEvent {
        id: id.into(),
        deal: deal.clone(),
        occurred_at,
        source: "hubspot".into(),
        kind: EventKind::StageChanged {
            raw_stage: "presentationscheduled".into(),
        },
        snapshot: None,
    }
}

fn proposal_event(id: &str, deal: &DealRef, occurred_at: Timestamp) -> DealEvent {
    DealEvent {
        kind: EventKind::ProposalSent {
            document_id: "doc-1".into(),
            name: None,
        },
        snapshot: Some(DealSnapshot {
            name: Some("Acme rollout".into()),
            amount: Some(99.5),
            facts: BTreeMap::from([(
                "deal.name".to_string(),
                Fact::new("Acme rollout", "pandadoc"),
            )]),
            ..DealSnapshot::default()
        }),
        source: "pandadoc".into(),
        ..event(id, deal, occurred_at)
    }
}

fn firing(deal: &DealRef, occurrence: &str) -> Firing {
    Firing {
        deal: deal.clone(),
        trigger: TriggerKind::ProposalNoReply,
        occurrence: occurrence.into(),
        due_at: ts("2024-11-23T09:00:00Z"),
        fired_at: ts("2024-11-23T09:05:00Z"),
    }
}

fn draft(id: &str, status: DraftStatus, created_at: Timestamp) -> Draft {
    let deal = DealRef::new("hubspot", "42");
    Draft {
        id: id.into(),
        deal: deal.clone(),
        deal_name: "Acme rollout".into(),
        trigger: TriggerKind::ProposalNoReply,
        occurrence: format!("proposal_no_reply#{id}"),
        status,
        to: Some("jane@acme.example".into()),
        subject: "Following up on the proposal".into(),
        body: "Hi Jane,\n\nDid you get a chance to look at the proposal?\n".into(),
        missing: vec!["contact.title".into()],
        context: DraftContext {
            trigger_label: TriggerKind::ProposalNoReply.label().into(),
            due_at: created_at,
            fired_at: created_at,
            days_since_last_contact: Some(3),
            last_interaction: None,
            facts: vec![FactUse {
                variable: "contact.first_name".into(),
                value: "Jane".into(),
                source: "hubspot:contact.firstname".into(),
            }],
            stage: Some(Stage::Proposal),
            template: "proposal_no_reply/default".into(),
            model: None,
        },
        created_at,
        notified_at: None,
        snoozed_until: None,
        decision: None,
        outgoing: None,
        sent: None,
        crm_update: None,
        document: None,
        writeback: None,
        superseded_reason: None,
    }
}

fn snoozed(id: &str, created_at: Timestamp, until: Timestamp) -> Draft {
    Draft {
        snoozed_until: Some(until),
        ..draft(id, DraftStatus::Snoozed, created_at)
    }
}

fn audit_entry(id: &str, at: Timestamp, deal: Option<&DealRef>) -> AuditEntry {
    AuditEntry {
        id: id.into(),
        at,
        kind: "event_accepted".into(),
        actor: "webhook:hubspot".into(),
        deal: deal.cloned(),
        draft_id: None,
        detail: json!({ "event": id, "count": 2, "ratio": 0.5, "ok": true, "none": null, "tags": ["a", "b"] }),
    }
}

fn message(body: &str, dedup_id: &str) -> QueueMessage {
    QueueMessage {
        body: body.into(),
        group_id: "hubspot#42".into(),
        dedup_id: dedup_id.into(),
    }
}

fn is_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict))
}

// ---------------------------------------------------------------------------------------------
// The contract

mod contract {
    use super::*;

    // --- deal state and optimistic locking ---

    pub async fn a_new_deal_is_written_at_version_one_and_read_back_unchanged(
        store: &dyn PipelineStore,
    ) {
        let key = DealRef::new("hubspot", "1");
        assert_eq!(store.get_deal(&key).await.unwrap(), None);
        let d = due(deal(&key, 1), Some(ts("2024-11-23T09:00:00.123Z")));
        store.put_deal(&d).await.unwrap();
        assert_eq!(store.get_deal(&key).await.unwrap(), Some(d));
        assert_eq!(
            store
                .get_deal(&DealRef::new("pipedrive", "1"))
                .await
                .unwrap(),
            None
        );
    }

    pub async fn a_stale_version_is_a_conflict(store: &dyn PipelineStore) {
        let key = DealRef::new("hubspot", "1");
        store.put_deal(&deal(&key, 1)).await.unwrap();
        let v2 = renamed(deal(&key, 2), "second");
        store.put_deal(&v2).await.unwrap();

        // Another writer that also read version 1 loses.
        assert!(is_conflict(
            store.put_deal(&renamed(deal(&key, 2), "lost")).await
        ));
        // Skipping a version is as stale as repeating one.
        assert!(is_conflict(
            store.put_deal(&renamed(deal(&key, 4), "skipped")).await
        ));
        assert_eq!(store.get_deal(&key).await.unwrap(), Some(v2.clone()));

        let v3 = renamed(deal(&key, 3), "third");
        store.put_deal(&v3).await.unwrap();
        assert_eq!(store.get_deal(&key).await.unwrap(), Some(v3));
    }

    pub async fn version_one_on_an_existing_deal_is_a_conflict(store: &dyn PipelineStore) {
        let key = DealRef::new("hubspot", "1");
        let first = deal(&key, 1);
        store.put_deal(&first).await.unwrap();
        assert!(is_conflict(
            store.put_deal(&renamed(deal(&key, 1), "again")).await
        ));
        assert_eq!(store.get_deal(&key).await.unwrap(), Some(first));
    }

    pub async fn a_later_version_of_a_missing_deal_is_a_conflict(store: &dyn PipelineStore) {
        let key = DealRef::new("hubspot", "1");
        assert!(is_conflict(store.put_deal(&deal(&key, 2)).await));
        assert_eq!(store.get_deal(&key).await.unwrap(), None);
    }

    // --- recording events ---

    pub async fn recording_an_event_claims_it_appends_it_and_writes_the_deal(
        store: &dyn PipelineStore,
    ) {
        let key = DealRef::new("hubspot", "1");
        let e1 = proposal_event("hubspot:1:e1", &key, ts("2024-11-20T10:00:00.250Z"));
        let d1 = due(deal(&key, 1), Some(ts("2024-11-23T10:00:00Z")));
        assert!(!store.is_duplicate(&key, &e1.id).await.unwrap());

        assert_eq!(
            store.record_event(&e1, &d1).await.unwrap(),
            Recorded::Applied
        );

        assert!(store.is_duplicate(&key, &e1.id).await.unwrap());
        assert!(!store.is_duplicate(&key, "hubspot:1:other").await.unwrap());
        assert_eq!(store.get_deal(&key).await.unwrap(), Some(d1));
        assert_eq!(store.timeline(&key).await.unwrap(), vec![e1]);
        let due_at = ts("2024-11-23T10:00:00Z");
        assert_eq!(
            store.due_deals(due_at, 10).await.unwrap(),
            vec![(key, due_at)]
        );
    }

    pub async fn a_duplicate_event_id_writes_nothing(store: &dyn PipelineStore) {
        let key = DealRef::new("hubspot", "1");
        let e1 = event("hubspot:1:e1", &key, ts("2024-11-20T10:00:00Z"));
        let d1 = deal(&key, 1);
        assert_eq!(
            store.record_event(&e1, &d1).await.unwrap(),
            Recorded::Applied
        );

        // A redelivery with a different deal (right next version) changes nothing...
        let redelivered = proposal_event("hubspot:1:e1", &key, ts("2024-11-20T11:00:00Z"));
        let d2 = due(
            renamed(deal(&key, 2), "changed"),
            Some(ts("2024-11-21T00:00:00Z")),
        );
        assert_eq!(
            store.record_event(&redelivered, &d2).await.unwrap(),
            Recorded::Duplicate
        );
        // ...and a duplicate is reported as such even when its version is stale too.
        assert_eq!(
            store
                .record_event(&redelivered, &renamed(deal(&key, 1), "x"))
                .await
                .unwrap(),
            Recorded::Duplicate
        );

        assert_eq!(store.get_deal(&key).await.unwrap(), Some(d1));
        assert_eq!(store.timeline(&key).await.unwrap(), vec![e1]);
        assert_eq!(
            store
                .due_deals(ts("2024-11-22T00:00:00Z"), 10)
                .await
                .unwrap(),
            vec![]
        );
    }

    pub async fn a_version_conflict_does_not_burn_the_event_id(store: &dyn PipelineStore) {
        let key = DealRef::new("hubspot", "1");
        let existing = deal(&key, 1);
        store.put_deal(&existing).await.unwrap();
        let e1 = event("hubspot:1:e1", &key, ts("2024-11-20T10:00:00Z"));

        assert!(is_conflict(
            store
                .record_event(&e1, &renamed(deal(&key, 1), "stale"))
                .await
        ));
        assert!(is_conflict(
            store
                .record_event(&e1, &renamed(deal(&key, 3), "ahead"))
                .await
        ));
        assert!(!store.is_duplicate(&key, &e1.id).await.unwrap());
        assert_eq!(store.timeline(&key).await.unwrap(), vec![]);
        assert_eq!(store.get_deal(&key).await.unwrap(), Some(existing));

        // The retry with the version re-read succeeds.
        let d2 = renamed(deal(&key, 2), "applied");
        assert_eq!(
            store.record_event(&e1, &d2).await.unwrap(),
            Recorded::Applied
        );
        assert_eq!(store.get_deal(&key).await.unwrap(), Some(d2));
        assert_eq!(store.timeline(&key).await.unwrap(), vec![e1]);
    }

    pub async fn the_timeline_is_oldest_first_and_per_deal(store: &dyn PipelineStore) {
        let a = DealRef::new("hubspot", "1");
        let b = DealRef::new("hubspot", "2");
        let late = event("e-late", &a, ts("2024-11-20T12:00:00Z"));
        let early = proposal_event("e-early", &a, ts("2024-11-19T08:00:00.001Z"));
        let middle = event("e-middle", &a, ts("2024-11-20T09:30:00Z"));
        let other = event("e-other", &b, ts("2024-11-20T10:00:00Z"));
        store.record_event(&late, &deal(&a, 1)).await.unwrap();
        store.record_event(&early, &deal(&a, 2)).await.unwrap();
        store.record_event(&other, &deal(&b, 1)).await.unwrap();
        store.record_event(&middle, &deal(&a, 3)).await.unwrap();

        assert_eq!(store.timeline(&a).await.unwrap(), vec![early, middle, late]);
        assert_eq!(store.timeline(&b).await.unwrap(), vec![other]);
        assert_eq!(
            store.timeline(&DealRef::new("hubspot", "3")).await.unwrap(),
            vec![]
        );
    }

    // --- the due index ---

    pub async fn due_deals_are_those_due_at_or_before_now_earliest_first(
        store: &dyn PipelineStore,
    ) {
        let now = ts("2024-11-24T10:00:00Z");
        let at = |h: i64| now + hours(h);
        let [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(|id| DealRef::new("hubspot", id));
        store
            .put_deal(&due(deal(&a, 1), Some(at(-2))))
            .await
            .unwrap();
        store.put_deal(&due(deal(&b, 1), Some(now))).await.unwrap();
        store
            .put_deal(&due(
                deal(&c, 1),
                Some(now + SignedDuration::from_millis(1)),
            ))
            .await
            .unwrap();
        store.put_deal(&due(deal(&d, 1), None)).await.unwrap();
        store
            .put_deal(&due(deal(&e, 1), Some(at(-1))))
            .await
            .unwrap();

        assert_eq!(
            store.due_deals(now, 10).await.unwrap(),
            vec![(a.clone(), at(-2)), (e.clone(), at(-1)), (b, now)]
        );
        assert_eq!(
            store.due_deals(now, 2).await.unwrap(),
            vec![(a, at(-2)), (e, at(-1))]
        );
        assert_eq!(store.due_deals(at(-3), 10).await.unwrap(), vec![]);
    }

    pub async fn a_deal_whose_due_time_is_cleared_or_moved_leaves_the_due_list(
        store: &dyn PipelineStore,
    ) {
        let now = ts("2024-11-24T10:00:00Z");
        let cleared = DealRef::new("hubspot", "cleared");
        let moved = DealRef::new("hubspot", "moved");
        store
            .put_deal(&due(deal(&cleared, 1), Some(now - hours(1))))
            .await
            .unwrap();
        store
            .put_deal(&due(deal(&moved, 1), Some(now - hours(1))))
            .await
            .unwrap();
        assert_eq!(store.due_deals(now, 10).await.unwrap().len(), 2);

        store.put_deal(&due(deal(&cleared, 2), None)).await.unwrap();
        store
            .put_deal(&due(deal(&moved, 2), Some(now + hours(1))))
            .await
            .unwrap();
        assert_eq!(store.due_deals(now, 10).await.unwrap(), vec![]);
        assert_eq!(
            store.due_deals(now + hours(2), 10).await.unwrap(),
            vec![(moved, now + hours(1))]
        );
    }

    // --- firings and drafts ---

    pub async fn a_firing_is_claimed_once(store: &dyn PipelineStore) {
        let a = DealRef::new("hubspot", "1");
        let occurrence = "proposal_no_reply#2024-11-23T09:00:00.000Z";
        assert!(store.claim_firing(&firing(&a, occurrence)).await.unwrap());
        assert!(!store.claim_firing(&firing(&a, occurrence)).await.unwrap());
        assert!(store
            .claim_firing(&firing(&a, "proposal_no_reply#2024-12-01T09:00:00.000Z"))
            .await
            .unwrap());
        assert!(store
            .claim_firing(&firing(&DealRef::new("hubspot", "2"), occurrence))
            .await
            .unwrap());
    }

    // --- the daily draft budget ---

    pub async fn the_budget_gives_slots_up_to_the_limit_then_refuses(store: &dyn PipelineStore) {
        let day = "2024-11-23";
        assert_eq!(store.budget_used(day).await.unwrap(), 0);
        for (i, occurrence) in ["a#1", "b#1", "c#1"].into_iter().enumerate() {
            assert!(
                store.claim_budget(day, occurrence, 3).await.unwrap(),
                "{occurrence}"
            );
            assert_eq!(store.budget_used(day).await.unwrap(), i as u32 + 1);
        }
        assert!(!store.claim_budget(day, "d#1", 3).await.unwrap());
        assert_eq!(store.budget_used(day).await.unwrap(), 3);
        // A refused occurrence holds nothing: a larger limit later gives it a slot.
        assert!(store.claim_budget(day, "d#1", 4).await.unwrap());
        assert_eq!(store.budget_used(day).await.unwrap(), 4);
        // A limit of zero refuses a newcomer, on a fresh day too, but not a holder.
        assert!(!store.claim_budget("2024-11-24", "a#1", 0).await.unwrap());
        assert_eq!(store.budget_used("2024-11-24").await.unwrap(), 0);
        assert!(!store.claim_budget(day, "e#1", 0).await.unwrap());
        assert!(store.claim_budget(day, "a#1", 0).await.unwrap());
        assert_eq!(store.budget_used(day).await.unwrap(), 4);
    }

    pub async fn an_occurrence_holds_one_budget_slot_however_often_it_claims(
        store: &dyn PipelineStore,
    ) {
        let day = "2024-11-23";
        let occurrence = "proposal_no_reply#2024-11-20T09:00:00.000Z";
        assert!(store.claim_budget(day, occurrence, 2).await.unwrap());
        assert!(store.claim_budget(day, occurrence, 2).await.unwrap());
        assert_eq!(store.budget_used(day).await.unwrap(), 1);
        assert!(store.claim_budget(day, "other#1", 2).await.unwrap());
        // The day is full, yet a holder asking again (a retry) still gets its slot.
        assert!(store.claim_budget(day, occurrence, 2).await.unwrap());
        assert!(store.claim_budget(day, "other#1", 2).await.unwrap());
        assert!(!store.claim_budget(day, "third#1", 2).await.unwrap());
        assert_eq!(store.budget_used(day).await.unwrap(), 2);
    }

    pub async fn a_link_leads_to_every_deal_it_was_put_for_once(store: &dyn PipelineStore) {
        let a = DealRef::new("close", "oppo_a");
        let b = DealRef::new("close", "oppo_b");
        let link = "close:lead:lead_7".to_string();
        assert!(store.linked(&link).await.unwrap().is_empty());
        store
            .put_links(&b, std::slice::from_ref(&link))
            .await
            .unwrap();
        store
            .put_links(&a, &[link.clone(), "email:jane@acme.example".into()])
            .await
            .unwrap();
        store
            .put_links(&a, std::slice::from_ref(&link))
            .await
            .unwrap();
        assert_eq!(store.linked(&link).await.unwrap(), vec![a.clone(), b]);
        assert_eq!(
            store.linked("email:jane@acme.example").await.unwrap(),
            vec![a]
        );
        assert!(store.linked("close:lead:lead_8").await.unwrap().is_empty());
    }

    pub async fn a_notice_is_kept_once_until_removed(store: &dyn PipelineStore) {
        assert!(store.notices(10).await.unwrap().is_empty());
        store
            .add_notice("unmapped-stage:pipedrive:7", "stage 7 is not mapped")
            .await
            .unwrap();
        store
            .add_notice("unmapped-stage:pipedrive:7", "a later wording")
            .await
            .unwrap();
        store
            .add_notice("unmapped-stage:close:stat_x", "stat_x is not mapped")
            .await
            .unwrap();
        assert_eq!(
            store.notices(10).await.unwrap(),
            vec![
                (
                    "unmapped-stage:close:stat_x".to_string(),
                    "stat_x is not mapped".to_string()
                ),
                (
                    "unmapped-stage:pipedrive:7".to_string(),
                    "stage 7 is not mapped".to_string()
                ),
            ]
        );
        assert_eq!(store.notices(1).await.unwrap().len(), 1);
        store
            .remove_notice("unmapped-stage:close:stat_x")
            .await
            .unwrap();
        store.remove_notice("never-added").await.unwrap();
        assert_eq!(store.notices(10).await.unwrap().len(), 1);
    }

    pub async fn every_deal_is_listed_once_in_key_order_and_nothing_else(
        store: &dyn PipelineStore,
    ) {
        let keys = [
            DealRef::new("pipedrive", "7"),
            DealRef::new("hubspot", "42"),
            DealRef::new("hubspot", "43"),
        ];
        for k in &keys {
            store.put_deal(&deal(k, 1)).await.unwrap();
        }
        // Other items of the same table (a marker, a draft) are not deals.
        store.set_marker("sync:pipedrive", "x").await.unwrap();
        store
            .create_draft(&draft("d-list", DraftStatus::Pending, ts(T0)))
            .await
            .unwrap();
        let listed: Vec<String> = store
            .all_deals(100)
            .await
            .unwrap()
            .iter()
            .map(|d| d.key.to_string())
            .collect();
        assert_eq!(listed, ["hubspot:42", "hubspot:43", "pipedrive:7"]);
        assert_eq!(store.all_deals(2).await.unwrap().len(), 2);
    }

    pub async fn a_marker_reads_back_its_last_value(store: &dyn PipelineStore) {
        assert_eq!(store.marker("sync:pipedrive").await.unwrap(), None);
        store
            .set_marker("sync:pipedrive", "2026-03-01T10:00:00Z")
            .await
            .unwrap();
        store
            .set_marker("sync:pipedrive", "2026-03-02T10:00:00Z")
            .await
            .unwrap();
        store.set_marker("sync:close", "c1").await.unwrap();
        assert_eq!(
            store.marker("sync:pipedrive").await.unwrap().as_deref(),
            Some("2026-03-02T10:00:00Z")
        );
        assert_eq!(
            store.marker("sync:close").await.unwrap().as_deref(),
            Some("c1")
        );
    }

    pub async fn each_day_has_its_own_budget(store: &dyn PipelineStore) {
        assert!(store.claim_budget("2024-11-23", "a#1", 1).await.unwrap());
        assert!(!store.claim_budget("2024-11-23", "b#1", 1).await.unwrap());
        assert!(store.claim_budget("2024-11-24", "b#1", 1).await.unwrap());
        // The same occurrence on another day is another claim.
        assert!(!store.claim_budget("2024-11-24", "a#1", 1).await.unwrap());
        assert_eq!(store.budget_used("2024-11-23").await.unwrap(), 1);
        assert_eq!(store.budget_used("2024-11-24").await.unwrap(), 1);
        assert_eq!(store.budget_used("2024-11-25").await.unwrap(), 0);
    }

    pub async fn concurrent_budget_claims_never_exceed_the_limit(store: Arc<dyn PipelineStore>) {
        let day = "2024-11-23";
        let claims: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_budget(day, &format!("occurrence#{i}"), 3)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut granted = 0;
        for claim in claims {
            if claim.await.unwrap() {
                granted += 1;
            }
        }
        assert_eq!(granted, 3);
        assert_eq!(store.budget_used(day).await.unwrap(), 3);

        // Ten concurrent retries of one occurrence take one slot between them.
        let retries: Vec<_> = (0..10)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.claim_budget("2024-11-24", "same#1", 3).await })
            })
            .collect();
        for retry in retries {
            assert!(retry.await.unwrap().unwrap());
        }
        assert_eq!(store.budget_used("2024-11-24").await.unwrap(), 1);
    }

    pub async fn a_draft_is_created_once(store: &dyn PipelineStore) {
        let first = draft("d1", DraftStatus::Pending, ts(T0));
        assert!(store.create_draft(&first).await.unwrap());
        let second = Draft {
            body: "another body".into(),
            ..first.clone()
        };
        assert!(!store.create_draft(&second).await.unwrap());
        assert_eq!(store.get_draft("d1").await.unwrap(), Some(first));
        assert_eq!(store.get_draft("d2").await.unwrap(), None);
    }

    pub async fn a_draft_is_updated_only_from_the_expected_status(store: &dyn PipelineStore) {
        let pending = draft("d1", DraftStatus::Pending, ts(T0));
        store.create_draft(&pending).await.unwrap();

        let sending = Draft {
            status: DraftStatus::Sending,
            ..pending.clone()
        };
        store
            .update_draft(&sending, DraftStatus::Pending)
            .await
            .unwrap();
        assert_eq!(store.get_draft("d1").await.unwrap(), Some(sending.clone()));

        // A second approval that also saw PENDING loses.
        let rejected = Draft {
            status: DraftStatus::Rejected,
            ..pending.clone()
        };
        assert!(is_conflict(
            store.update_draft(&rejected, DraftStatus::Pending).await
        ));
        assert_eq!(store.get_draft("d1").await.unwrap(), Some(sending.clone()));

        let sent = Draft {
            status: DraftStatus::Sent,
            decision: Some(Decision {
                action: DecisionAction::Approve,
                by: "founder@example.com".into(),
                at: ts("2024-11-20T10:00:00Z"),
                reason: None,
                edited: true,
                diff: Some("-Hi\n+Hello".into()),
            }),
            ..sending.clone()
        };
        store
            .update_draft(&sent, DraftStatus::Sending)
            .await
            .unwrap();
        assert_eq!(store.get_draft("d1").await.unwrap(), Some(sent));

        // A draft that does not exist has no status to match.
        let ghost = draft("ghost", DraftStatus::Sending, ts(T0));
        assert!(is_conflict(
            store.update_draft(&ghost, DraftStatus::Pending).await
        ));
        assert_eq!(store.get_draft("ghost").await.unwrap(), None);
    }

    pub async fn open_drafts_count_one_deals_waiting_drafts_to_the_prospect(
        store: &dyn PipelineStore,
    ) {
        let at: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let other = DealRef::new("hubspot", "43");
        let mine = DealRef::new("hubspot", "42");
        assert_eq!(store.open_drafts(&mine).await.unwrap(), 0);
        store
            .create_draft(&draft("o1", DraftStatus::Pending, at))
            .await
            .unwrap();
        store
            .create_draft(&snoozed("o2", at, at + SignedDuration::from_hours(5)))
            .await
            .unwrap();
        // Another deal's, a brief and a CRM update never count.
        store
            .create_draft(&Draft {
                deal: other.clone(),
                ..draft("o3", DraftStatus::Pending, at)
            })
            .await
            .unwrap();
        store
            .create_draft(&Draft {
                trigger: TriggerKind::CallNotes,
                ..draft("o4", DraftStatus::Pending, at)
            })
            .await
            .unwrap();
        store
            .create_draft(&Draft {
                trigger: TriggerKind::MeetingPrep,
                ..draft("o5", DraftStatus::Brief, at)
            })
            .await
            .unwrap();
        assert_eq!(store.open_drafts(&mine).await.unwrap(), 2);
        assert_eq!(store.open_drafts(&other).await.unwrap(), 1);
        // A decided draft leaves the count.
        let mut sent = draft("o1", DraftStatus::Sent, at);
        sent.status = DraftStatus::Sent;
        store
            .update_draft(&sent, DraftStatus::Pending)
            .await
            .unwrap();
        assert_eq!(store.open_drafts(&mine).await.unwrap(), 1);
    }

    pub async fn drafts_by_status_filters_by_status_and_index_time_oldest_first(
        store: &dyn PipelineStore,
    ) {
        let t0 = ts(T0);
        let p1 = draft("p1", DraftStatus::Pending, t0 + hours(1));
        let p2 = draft("p2", DraftStatus::Pending, t0 + hours(2));
        let p3 = draft("p3", DraftStatus::Pending, t0 + hours(3));
        // Snoozed drafts are indexed by the end of their snooze, not their creation.
        let s1 = snoozed("s1", t0, t0 + hours(30));
        let s2 = snoozed("s2", t0 + hours(5), t0 + hours(20));
        let x = draft("x", DraftStatus::Sent, t0);
        for d in [&p3, &s1, &p1, &x, &s2, &p2] {
            assert!(store.create_draft(d).await.unwrap());
        }

        let by = |status, until, limit| store.drafts_by_status(status, until, limit);
        assert_eq!(
            by(DraftStatus::Pending, None, 10).await.unwrap(),
            vec![p1.clone(), p2.clone(), p3.clone()]
        );
        assert_eq!(
            by(DraftStatus::Pending, None, 2).await.unwrap(),
            vec![p1.clone(), p2.clone()]
        );
        assert_eq!(
            by(DraftStatus::Pending, Some(t0 + hours(2)), 10)
                .await
                .unwrap(),
            vec![p1.clone(), p2.clone()]
        );
        assert_eq!(
            by(DraftStatus::Snoozed, None, 10).await.unwrap(),
            vec![s2.clone(), s1.clone()]
        );
        assert_eq!(
            by(DraftStatus::Snoozed, Some(t0 + hours(25)), 10)
                .await
                .unwrap(),
            vec![s2.clone()]
        );
        assert_eq!(
            by(DraftStatus::Snoozed, Some(t0 + hours(10)), 10)
                .await
                .unwrap(),
            vec![]
        );
        assert_eq!(by(DraftStatus::Sent, None, 10).await.unwrap(), vec![x]);
        assert_eq!(by(DraftStatus::Rejected, None, 10).await.unwrap(), vec![]);

        // Snoozing moves a draft from one list to the other, under its new index time.
        let p1_snoozed = Draft {
            status: DraftStatus::Snoozed,
            snoozed_until: Some(t0 + hours(21)),
            ..p1
        };
        store
            .update_draft(&p1_snoozed, DraftStatus::Pending)
            .await
            .unwrap();
        assert_eq!(
            by(DraftStatus::Pending, None, 10).await.unwrap(),
            vec![p2, p3]
        );
        assert_eq!(
            by(DraftStatus::Snoozed, None, 10).await.unwrap(),
            vec![s2, p1_snoozed, s1]
        );
    }

    // --- audit log ---

    pub async fn audit_entries_read_back_oldest_first(
        log: &dyn AuditLog,
        reader: &dyn AuditReader,
    ) {
        let a = DealRef::new("hubspot", "1");
        let b = DealRef::new("hubspot", "2");
        let t = ts(T0);
        let a_late = audit_entry("01J0000000000000000000000C", t + hours(3), Some(&a)).draft("d1");
        let a_early = audit_entry("01J0000000000000000000000B", t + hours(1), Some(&a));
        // Same instant: the id breaks the tie.
        let a_tie = audit_entry("01J0000000000000000000000A", t + hours(1), Some(&a));
        let b_only = audit_entry("01J0000000000000000000000D", t + hours(2), Some(&b));
        let system = audit_entry("01J0000000000000000000000E", t, None);
        for e in [&a_late, &b_only, &a_early, &system, &a_tie] {
            log.append(e).await.unwrap();
        }

        assert_eq!(
            reader.entries(Some(&a)).await.unwrap(),
            vec![a_tie.clone(), a_early.clone(), a_late.clone()]
        );
        assert_eq!(
            reader.entries(Some(&b)).await.unwrap(),
            vec![b_only.clone()]
        );
        assert_eq!(
            reader
                .entries(Some(&DealRef::new("hubspot", "3")))
                .await
                .unwrap(),
            vec![]
        );
        assert_eq!(
            reader.entries(None).await.unwrap(),
            vec![system, a_tie, a_early, b_only, a_late]
        );
    }

    pub async fn an_audit_entry_is_never_overwritten(log: &dyn AuditLog, reader: &dyn AuditReader) {
        let a = DealRef::new("hubspot", "1");
        let original = audit_entry("01J0000000000000000000000A", ts(T0), Some(&a));
        log.append(&original).await.unwrap();
        let forged = AuditEntry {
            kind: "draft_sent".into(),
            detail: json!({ "rewritten": true }),
            ..original.clone()
        };
        assert!(is_conflict(log.append(&forged).await));
        assert_eq!(
            reader.entries(Some(&a)).await.unwrap(),
            vec![original.clone()]
        );
        assert_eq!(reader.entries(None).await.unwrap(), vec![original]);
    }

    // --- queues ---

    /// Receives and acknowledges until the queue answers empty; the bodies in arrival order.
    async fn drain(consumer: &dyn QueueConsumer) -> Vec<String> {
        let mut bodies = Vec::new();
        for _ in 0..20 {
            let batch = consumer.receive(10).await.unwrap();
            if batch.is_empty() {
                break;
            }
            for delivery in batch {
                consumer.ack(&delivery.receipt).await.unwrap();
                bodies.push(delivery.body);
            }
        }
        bodies
    }

    pub async fn a_sent_message_is_received_once_then_acknowledged(
        queue: &dyn Queue,
        consumer: &dyn QueueConsumer,
    ) {
        assert!(consumer.receive(10).await.unwrap().is_empty());
        queue
            .send(&message(r#"{"deal":"hubspot#42"}"#, "evt-1"))
            .await
            .unwrap();

        let deliveries = consumer.receive(10).await.unwrap();
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        let delivery = &deliveries[0];
        assert_eq!(delivery.body, r#"{"deal":"hubspot#42"}"#);
        assert_eq!(delivery.receive_count, 1);
        assert!(!delivery.id.is_empty() && !delivery.receipt.is_empty());
        // While it is being processed, nobody else gets it.
        assert!(consumer.receive(10).await.unwrap().is_empty());

        consumer.ack(&delivery.receipt).await.unwrap();
        assert!(consumer.receive(10).await.unwrap().is_empty());
    }

    pub async fn the_same_dedup_id_twice_gives_one_message(
        queue: &dyn Queue,
        consumer: &dyn QueueConsumer,
    ) {
        queue.send(&message("first", "evt-1")).await.unwrap();
        queue.send(&message("second", "evt-1")).await.unwrap();
        assert_eq!(drain(consumer).await, vec!["first"]);
    }

    pub async fn messages_of_one_group_arrive_in_order(
        queue: &dyn Queue,
        consumer: &dyn QueueConsumer,
    ) {
        for (i, body) in ["one", "two", "three"].into_iter().enumerate() {
            queue
                .send(&message(body, &format!("evt-{i}")))
                .await
                .unwrap();
        }
        assert_eq!(drain(consumer).await, vec!["one", "two", "three"]);
    }

    pub async fn any_dedup_id_deduplicates_whatever_its_length_or_characters(
        queue: &dyn Queue,
        consumer: &dyn QueueConsumer,
    ) {
        let long = format!("deal été #42 {}", "x".repeat(200));
        queue
            .send(&message("first", &format!("{long}-a")))
            .await
            .unwrap();
        queue
            .send(&message("second", &format!("{long}-a")))
            .await
            .unwrap();
        queue
            .send(&message("third", &format!("{long}-b")))
            .await
            .unwrap();
        assert_eq!(drain(consumer).await, vec!["first", "third"]);
    }
}

// ---------------------------------------------------------------------------------------------
// One test per check and backend

macro_rules! suite {
    ($backend:ident, $ports:path) => {
        mod $backend {
            suite!(@pipeline $ports;
                a_new_deal_is_written_at_version_one_and_read_back_unchanged,
                a_stale_version_is_a_conflict,
                version_one_on_an_existing_deal_is_a_conflict,
                a_later_version_of_a_missing_deal_is_a_conflict,
                recording_an_event_claims_it_appends_it_and_writes_the_deal,
                a_duplicate_event_id_writes_nothing,
                a_version_conflict_does_not_burn_the_event_id,
                the_timeline_is_oldest_first_and_per_deal,
                due_deals_are_those_due_at_or_before_now_earliest_first,
                a_deal_whose_due_time_is_cleared_or_moved_leaves_the_due_list,
                a_firing_is_claimed_once,
                a_draft_is_created_once,
                a_draft_is_updated_only_from_the_expected_status,
                drafts_by_status_filters_by_status_and_index_time_oldest_first,
                open_drafts_count_one_deals_waiting_drafts_to_the_prospect,
                the_budget_gives_slots_up_to_the_limit_then_refuses,
                an_occurrence_holds_one_budget_slot_however_often_it_claims,
                each_day_has_its_own_budget,
                a_link_leads_to_every_deal_it_was_put_for_once,
                a_notice_is_kept_once_until_removed,
                a_marker_reads_back_its_last_value,
                every_deal_is_listed_once_in_key_order_and_nothing_else,
            );
            suite!(@pipeline_shared $ports;
                concurrent_budget_claims_never_exceed_the_limit,
            );
            suite!(@audit $ports;
                audit_entries_read_back_oldest_first,
                an_audit_entry_is_never_overwritten,
            );
            suite!(@queue $ports;
                a_sent_message_is_received_once_then_acknowledged,
                the_same_dedup_id_twice_gives_one_message,
                messages_of_one_group_arrive_in_order,
                any_dedup_id_deduplicates_whatever_its_length_or_characters,
            );
        }
    };
    (@pipeline $ports:path; $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let ports = $ports().await;
            crate::contract::$name(&*ports.pipeline).await;
        }
    )*};
    // Checks that spawn tasks on the store; a multi-threaded runtime makes them truly concurrent.
    (@pipeline_shared $ports:path; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let ports = $ports().await;
            crate::contract::$name(ports.pipeline.clone()).await;
        }
    )*};
    (@audit $ports:path; $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let ports = $ports().await;
            crate::contract::$name(&*ports.audit, &*ports.audit_reader).await;
        }
    )*};
    (@queue $ports:path; $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let ports = $ports().await;
            crate::contract::$name(&*ports.queue, &*ports.consumer).await;
        }
    )*};
}

suite!(aws, crate::aws_ports);
suite!(embedded, crate::embedded_ports);

/// A fresh in-memory embedded store and one of its queues.
async fn embedded_ports() -> Ports {
    let store = shared::adapters::embedded::EmbeddedStore::open_in_memory()
        .expect("open the embedded store");
    let queue = store.queue("evaluate");
    Ports {
        pipeline: store.clone(),
        audit: store.clone(),
        audit_reader: store,
        queue: queue.clone(),
        consumer: queue,
    }
}

/// Fresh tables and a fresh FIFO queue (with its DLQ) on the emulator, built from template.yaml.
async fn aws_ports() -> Ports {
    aws_fixture().await.ports
}

struct AwsFixture {
    ports: Ports,
    dynamo: aws_sdk_dynamodb::Client,
    pipeline_table: String,
}

async fn aws_fixture() -> AwsFixture {
    use shared::adapters::aws::{DynamoAuditLog, DynamoPipelineStore, SqsQueue};
    use support::aws;

    let config = aws::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let stack = tokio::task::spawn_blocking(aws::template_stack)
        .await
        .expect("stack setup");
    let pipeline_table = stack["PIPELINE_TABLE"].clone();
    let audit_table = stack["AUDIT_TABLE"].clone();
    let queue_url = stack["EVALUATE_QUEUE_URL"].clone();
    let audit = Arc::new(DynamoAuditLog::new(dynamo.clone(), audit_table));
    let queue = Arc::new(SqsQueue::new(sqs, queue_url));
    AwsFixture {
        ports: Ports {
            pipeline: Arc::new(DynamoPipelineStore::new(
                dynamo.clone(),
                pipeline_table.clone(),
            )),
            audit: audit.clone(),
            audit_reader: audit,
            queue: queue.clone(),
            consumer: queue,
        },
        dynamo,
        pipeline_table,
    }
}

// ---------------------------------------------------------------------------------------------
// AWS only: the item layout behind the contract, and the outbound services

mod aws_only {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::adapters::aws::{EventBridgePublisher, SesSender, SnsEmailNotifier};
    use shared::assembly::{Adapters, Services, Settings};
    use shared::domain::{DomainEvent, FounderNotification, OutboundEmail};
    use shared::ports::keys;
    use shared::ports::{EventPublisher, Notifier, QueueError, SendError, Sender};

    use super::*;
    use crate::support::aws;

    type Item = std::collections::HashMap<String, AttributeValue>;

    async fn raw_item(fx: &AwsFixture, pk: String, sk: &str) -> Item {
        fx.dynamo
            .get_item()
            .table_name(&fx.pipeline_table)
            .key(keys::PK, AttributeValue::S(pk))
            .key(keys::SK, AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("item")
    }

    fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    #[tokio::test]
    async fn the_config_object_is_read_at_start_then_checked_with_a_conditional_get() {
        use shared::adapters::s3_config::{push, s3_client, S3ConfigSource};
        use shared::app::live::{ConfigFetchError, ConfigSource};
        use shared::config::ConfigBundle;

        let stack = aws::template_stack();
        let uri = &stack["DRAFTGATE_CONFIG_S3_URI"];
        let client = s3_client(&aws::sdk_config().await);
        let source = S3ConfigSource::new(client.clone(), uri).unwrap();
        let proposal_hours =
            |c: &shared::config::Config| c.window(TriggerKind::ProposalNoReply).hours;

        // Nothing pushed yet: the bundled config applies, and nothing changes.
        assert!(source.initial().await.unwrap().is_none());
        assert!(source.changed().await.unwrap().is_none());

        let path = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/draftgate.toml"
        ));
        let (_, good) = ConfigBundle::from_file(path).unwrap();
        let mut faster = good.clone();
        let toml = faster.files.get_mut("draftgate.toml").unwrap();
        assert!(toml.contains("after_hours = 72"));
        *toml = toml.replace("after_hours = 72", "after_hours = 48");
        push(&client, uri, &faster).await.unwrap();
        let changed = source.changed().await.unwrap().expect("the pushed config");
        assert_eq!(proposal_hours(&changed), 48);
        assert!(
            source.changed().await.unwrap().is_none(),
            "unchanged: the conditional GET answers 304"
        );

        // A broken bundle (pushed around the CLI's validation) never replaces a good config,
        // and a function starting on it refuses, naming the object, file and line.
        let mut broken = good.clone();
        let toml = broken.files.get_mut("draftgate.toml").unwrap();
        *toml = toml.replace("contractsent = \"proposal\"", "contractsent = \"proposl\"");
        push(&client, uri, &broken).await.unwrap();
        match source.changed().await {
            Err(ConfigFetchError::Invalid(problems)) => {
                assert!(
                    problems[0]
                        .to_string()
                        .starts_with(&format!("{uri}[draftgate.toml]:")),
                    "{problems:?}"
                );
            }
            other => panic!("expected the invalid config to be refused: {other:?}"),
        }
        let cold = S3ConfigSource::new(client.clone(), uri).unwrap();
        assert!(matches!(
            cold.initial().await,
            Err(ConfigFetchError::Invalid(_))
        ));

        push(&client, uri, &good).await.unwrap();
        assert_eq!(
            proposal_hours(&source.changed().await.unwrap().unwrap()),
            72
        );

        // The object removed: back to the bundled config, as a cold start would be.
        push(&client, uri, &faster).await.unwrap();
        assert_eq!(
            proposal_hours(&source.changed().await.unwrap().unwrap()),
            48
        );
        let (bucket, key) = shared::adapters::s3_config::parse_s3_uri(uri).unwrap();
        client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            proposal_hours(&source.changed().await.unwrap().unwrap()),
            72
        );
        assert!(source.changed().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_deal_item_is_readable_and_in_the_due_index_only_while_due() {
        let fx = aws_fixture().await;
        let key = DealRef::new("hubspot", "1");
        let due_at = ts("2024-11-23T09:00:00Z");
        fx.ports
            .pipeline
            .put_deal(&due(deal(&key, 1), Some(due_at)))
            .await
            .unwrap();

        let item = raw_item(&fx, keys::deal_pk(&key), keys::STATE_SK).await;
        assert_eq!(string(&item, "name"), Some("Acme rollout (1)"));
        assert_eq!(
            item.get("version")
                .and_then(|v| v.as_n().ok())
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(string(&item, keys::GSI_DUE_PK), Some(keys::DUE_PARTITION));
        assert_eq!(
            string(&item, keys::GSI_DUE_SK),
            Some(keys::due_sk(due_at, &key).as_str())
        );

        fx.ports
            .pipeline
            .put_deal(&due(deal(&key, 2), None))
            .await
            .unwrap();
        let item = raw_item(&fx, keys::deal_pk(&key), keys::STATE_SK).await;
        assert!(
            !item.contains_key(keys::GSI_DUE_PK) && !item.contains_key(keys::GSI_DUE_SK),
            "{item:?}"
        );
    }

    #[tokio::test]
    async fn a_budget_item_counts_its_slots_and_names_their_holders_in_a_set() {
        let fx = aws_fixture().await;
        let store = &fx.ports.pipeline;
        for occurrence in ["a#1", "b#1", "a#1", "c#1"] {
            store
                .claim_budget("2024-11-23", occurrence, 2)
                .await
                .unwrap();
        }
        let item = raw_item(&fx, keys::budget_pk("2024-11-23"), keys::BUDGET_SK).await;
        assert_eq!(string(&item, "day"), Some("2024-11-23"));
        assert_eq!(
            item.get("used")
                .and_then(|v| v.as_n().ok())
                .map(String::as_str),
            Some("2")
        );
        let mut held = item
            .get("occurrences")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .expect("a string set");
        held.sort();
        assert_eq!(held, ["a#1", "b#1"]);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let expires: u64 = item
            .get(keys::TTL_ATTR)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .expect("a TTL");
        assert!(expires > now + 7 * 86_400 && expires <= now + 8 * 86_400 + 60);
    }

    /// The timeline entry, keyed by the event id, is the redelivery claim: kept with the
    /// timeline (no expiry), so a redelivery months later is still a duplicate.
    #[tokio::test]
    async fn the_timeline_entry_keyed_by_event_id_is_the_redelivery_claim() {
        let fx = aws_fixture().await;
        let key = DealRef::new("hubspot", "1");
        let e = event("hubspot:1:e1", &key, ts("2020-01-01T00:00:00Z"));
        let p = &fx.ports.pipeline;
        assert_eq!(
            p.record_event(&e, &deal(&key, 1)).await.unwrap(),
            Recorded::Applied
        );
        let item = raw_item(&fx, keys::deal_pk(&key), &keys::event_id_sk(&e.id)).await;
        assert_eq!(string(&item, "id"), Some(e.id.as_str()));
        assert!(!item.contains_key(keys::TTL_ATTR), "kept with the timeline");
        // No claim of its own any more.
        let claim = fx
            .dynamo
            .get_item()
            .table_name(&fx.pipeline_table)
            .key(keys::PK, AttributeValue::S(keys::dedup_pk(&e.id)))
            .key(keys::SK, AttributeValue::S(keys::DEDUP_SK.into()))
            .send()
            .await
            .unwrap();
        assert!(claim.item.is_none());
        assert_eq!(
            p.record_event(&e, &deal(&key, 2)).await.unwrap(),
            Recorded::Duplicate
        );
    }

    /// Before timeline entries were keyed by event id, an event left a `DEDUP#<id>` claim and a
    /// timeline entry keyed by time. Both still count: the event is a duplicate, and the
    /// timeline holds old and new entries in the order they happened.
    #[tokio::test]
    async fn events_recorded_under_the_earlier_layout_stay_duplicates_and_in_the_timeline() {
        let fx = aws_fixture().await;
        let key = DealRef::new("hubspot", "1");
        let old = event("hubspot:1:old", &key, ts("2024-11-20T10:00:00Z"));
        let later = event("hubspot:1:later", &key, ts("2024-11-21T10:00:00Z"));
        let earlier = event("hubspot:1:earlier", &key, ts("2024-11-19T10:00:00Z"));
        let put = |item: Item| {
            fx.dynamo
                .put_item()
                .table_name(&fx.pipeline_table)
                .set_item(Some(item))
                .send()
        };
        let s = |v: &str| AttributeValue::S(v.into());
        put(Item::from([
            (keys::PK.into(), s(&keys::dedup_pk(&old.id))),
            (keys::SK.into(), s(keys::DEDUP_SK)),
            ("event_id".into(), s(&old.id)),
        ]))
        .await
        .unwrap();
        let mut entry: Item = serde_dynamo::to_item(&old).unwrap();
        entry.insert(keys::PK.into(), s(&keys::deal_pk(&key)));
        entry.insert(
            keys::SK.into(),
            s(&keys::event_sk(old.occurred_at, &old.id)),
        );
        put(entry).await.unwrap();
        let p = &fx.ports.pipeline;
        p.put_deal(&deal(&key, 1)).await.unwrap();

        assert!(p.is_duplicate(&key, &old.id).await.unwrap());
        assert_eq!(
            p.record_event(&old, &deal(&key, 2)).await.unwrap(),
            Recorded::Duplicate
        );
        for (e, version) in [(&later, 2), (&earlier, 3)] {
            assert_eq!(
                p.record_event(e, &deal(&key, version)).await.unwrap(),
                Recorded::Applied
            );
        }
        assert_eq!(p.timeline(&key).await.unwrap(), vec![earlier, old, later]);
    }

    #[tokio::test]
    async fn a_draft_item_is_indexed_by_status_and_snooze_end() {
        let fx = aws_fixture().await;
        let until = ts("2024-11-25T08:00:00Z");
        let d = snoozed("d1", ts(T0), until);
        fx.ports.pipeline.create_draft(&d).await.unwrap();
        let item = raw_item(&fx, keys::draft_pk("d1"), keys::DRAFT_SK).await;
        assert_eq!(string(&item, "status"), Some("SNOOZED"));
        assert_eq!(
            string(&item, keys::GSI_STATUS_PK),
            Some(keys::status_pk(DraftStatus::Snoozed).as_str())
        );
        assert_eq!(
            string(&item, keys::GSI_STATUS_SK),
            Some(keys::status_sk(until, "d1").as_str())
        );
    }

    #[tokio::test]
    async fn a_published_domain_event_reaches_the_bus_rule_target() {
        let config = aws::sdk_config().await;
        let events = aws_sdk_eventbridge::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let bus = aws::unique_name("bus");
        let source = aws::unique_name("source");
        events.create_event_bus().name(&bus).send().await.unwrap();
        let target_url = aws::create_standard_queue(&sqs, "deal-events").await;
        let target_arn = aws::queue_arn(&sqs, &target_url).await;
        let rule = aws::unique_name("rule");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(json!({ "source": [source], "detail-type": ["deal.won"] }).to_string())
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(target_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();

        let publisher = EventBridgePublisher::new(events, &bus, &source);
        let detail =
            json!({ "deal": { "crm": "hubspot", "id": "42" }, "reason": "price", "amount": 12500 });
        publisher
            .publish(&DomainEvent {
                detail_type: "deal.won".into(),
                detail: detail.clone(),
            })
            .await
            .unwrap();
        // Not matched by the rule: must not arrive.
        publisher
            .publish(&DomainEvent {
                detail_type: "deal.lost".into(),
                detail: json!({}),
            })
            .await
            .unwrap();

        let bodies = aws::receive_bodies(&sqs, &target_url, 1).await;
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        let received: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(received["source"], json!(source));
        assert_eq!(received["detail-type"], json!("deal.won"));
        assert_eq!(received["detail"], detail);
    }

    /// Writes nothing; keeps what it was asked to log.
    #[derive(Default)]
    struct RecordingCrm(std::sync::Mutex<Vec<shared::ports::Activity>>);

    #[async_trait::async_trait]
    impl shared::ports::CrmWriter for RecordingCrm {
        async fn log_activity(
            &self,
            _deal_id: &str,
            activity: &shared::ports::Activity,
        ) -> Result<String, shared::ports::CrmError> {
            let mut all = self.0.lock().unwrap();
            all.push(activity.clone());
            Ok(format!("n{}", all.len()))
        }

        async fn update_deal(
            &self,
            _deal_id: &str,
            _changes: &[shared::domain::FieldChange],
        ) -> Result<Vec<String>, shared::ports::CrmError> {
            Ok(vec![])
        }
    }

    #[tokio::test]
    async fn a_lost_deal_on_the_bus_reaches_the_crm_write_back_queue_and_is_logged_once() {
        let stack = aws::template_stack();
        let config = aws::sdk_config().await;
        let events = aws_sdk_eventbridge::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let bus = aws::unique_name("bus");
        events.create_event_bus().name(&bus).send().await.unwrap();
        // The template's CrmWriteQueue (FIFO), and its OutcomesToCrmRule.
        let queue = stack["CRM_WRITE_QUEUE_URL"].clone();
        assert!(queue.ends_with(".fifo"), "{queue}");
        let rule = aws::unique_name("outcomes");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(
                json!({ "source": ["draftgate"], "detail-type": ["deal.won", "deal.lost"] })
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("crm-writes")
                    .arn(aws::queue_arn(&sqs, &queue).await)
                    .sqs_parameters(
                        aws_sdk_eventbridge::types::SqsParameters::builder()
                            .message_group_id("deal-outcomes")
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let detail = json!({ "schema_version": 1, "event_id": "hubspot:9005:lost", "deal": { "crm": "hubspot", "id": "9005" },
            "name": "Hooli - Analytics dashboard", "outcome": "lost", "stage": "closed_lost", "raw_stage": "closedlost",
            "amount": 52000.0, "currency": "EUR", "reason": "Chose an in-house build", "contact_email": null,
            "closed_at": "2026-11-26T09:30:00Z" });
        EventBridgePublisher::new(events, &bus, "draftgate")
            .publish(&DomainEvent {
                detail_type: "deal.lost".into(),
                detail,
            })
            .await
            .unwrap();
        let bodies = aws::receive_bodies(&sqs, &queue, 1).await;
        assert_eq!(bodies.len(), 1, "{bodies:?}");

        let store = shared::adapters::embedded::EmbeddedStore::open_in_memory().unwrap();
        let crm = Arc::new(RecordingCrm::default());
        let writer: Arc<dyn shared::ports::CrmWriter> = crm.clone();
        let worker = Services::build(
            Adapters {
                crm_writers: std::collections::HashMap::from([("hubspot".to_string(), writer)]),
                ..Adapters::new(
                    store.clone(),
                    store.clone(),
                    Arc::new(shared::adapters::clock::ManualClock::new(
                        "2026-11-26T10:00:00Z".parse().unwrap(),
                    )),
                )
            },
            Settings::new(Arc::new(shared::config::Config::bundled().unwrap())),
        )
        .writeback();
        worker.handle(&bodies[0]).await.unwrap();
        worker.handle(&bodies[0]).await.unwrap();
        let logged = crm.0.lock().unwrap();
        assert_eq!(logged.len(), 1, "a redelivery logs nothing again");
        assert_eq!(logged[0].subject, "Outcome logged by draftgate: lost");
        assert_eq!(
            logged[0].body,
            "Hooli - Analytics dashboard lost. Final value: 52000 EUR. Reason: Chose an in-house build."
        );
    }

    #[tokio::test]
    async fn publishing_to_a_missing_bus_is_an_error() {
        let config = aws::sdk_config().await;
        let publisher = EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&config),
            aws::unique_name("no-such-bus"),
            "draftgate",
        );
        let result = publisher
            .publish(&DomainEvent {
                detail_type: "deal.won".into(),
                detail: json!({}),
            })
            .await;
        assert!(result.is_err(), "{result:?}");
    }

    #[tokio::test]
    async fn a_founder_notification_is_published_to_the_topic_with_a_fitting_subject() {
        let config = aws::sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let topic_arn = sns
            .create_topic()
            .name(aws::unique_name("founder"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        // The founder's e-mail subscribes in production; a queue stands in for the mailbox.
        let inbox_url = aws::create_standard_queue(&sqs, "founder-inbox").await;
        let inbox_arn = aws::queue_arn(&sqs, &inbox_url).await;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(inbox_arn)
            .send()
            .await
            .unwrap();

        let subject = format!("Draft ready for review: {}", "Acme rollout ".repeat(10));
        let note = FounderNotification {
            to: "founder@example.com".into(),
            subject: subject.clone(),
            body: "A follow-up for Acme rollout waits for you:\nhttps://example.com/review/d1"
                .into(),
            draft_id: Some("d1".into()),
            deal_name: "Acme rollout".into(),
            review_url: Some("https://example.com/review/d1".into()),
            personal: false,
        };
        SnsEmailNotifier::new(sns, &topic_arn)
            .notify(&note)
            .await
            .unwrap();

        let bodies = aws::receive_bodies(&sqs, &inbox_url, 1).await;
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        let envelope: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(envelope["Message"], json!(note.body));
        let delivered = envelope["Subject"].as_str().expect("subject");
        assert_eq!(delivered.chars().count(), 100);
        assert!(subject.starts_with(delivered));
    }

    fn outbound(from: &str) -> OutboundEmail {
        OutboundEmail {
            draft_id: "d1".into(),
            from: from.into(),
            to: "jane@acme.example".into(),
            reply_to: Some("founder@example.com".into()),
            subject: "Following up on the proposal".into(),
            body: "Hi Jane,\n\nDid you get a chance to look at the proposal?\n".into(),
            thread: None,
        }
    }

    /// An SES client and a fresh sender address verified as an SES identity.
    async fn verified_sender() -> (aws_sdk_sesv2::Client, String) {
        let ses = aws_sdk_sesv2::Client::new(&aws::sdk_config().await);
        let from = format!("{}@example.com", aws::unique_name("founder"));
        ses.create_email_identity()
            .email_identity(&from)
            .send()
            .await
            .unwrap();
        (ses, from)
    }

    #[tokio::test]
    async fn an_email_from_a_verified_identity_is_sent() {
        let (ses, from) = verified_sender().await;

        let email = outbound(&from);
        let message_id = SesSender::new(ses, None).send(&email).await.unwrap().id;
        assert!(!message_id.is_empty());

        if aws::emulator().is_moto {
            let data = aws::moto_api("data.json").await;
            let sent = data["ses"]["Message"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ours = sent
                .iter()
                .find(|m| m["id"] == json!(message_id))
                .expect("the message in moto's SES outbox");
            assert_eq!(ours["source"], json!(from));
            assert_eq!(ours["subject"], json!(email.subject));
            assert_eq!(ours["body"], json!(email.body));
            assert_eq!(ours["destinations"]["ToAddresses"], json!([email.to]));
        } else {
            // Says what this run could not check.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("the emulator is not moto: only the message id was checked");
            }
        }
    }

    /// SES keeps no Sent folder: its Send event, recorded in DynamoDB, is how an approval whose
    /// send got no answer finds that SES took the message. The message goes to moto's SES; the
    /// answer is dropped; the Send event SES would publish for it (the repository's sample with
    /// this message's id and draft tag) goes through mail-events' path into the pipeline table.
    #[tokio::test]
    async fn a_send_whose_answer_was_lost_is_found_by_its_ses_send_event() {
        use shared::app::ses_sends;
        use shared::ports::SentLookup;

        let fx = aws_fixture().await;
        let (ses, from) = verified_sender().await;
        let sender = SesSender::new(ses, None).finding_sends_in(fx.ports.pipeline.clone());
        assert!(sender.finds_sent());

        let mut email = outbound(&from);
        email.draft_id = aws::unique_name("d");
        assert_eq!(
            sender.find_sent(&email).await.unwrap(),
            SentLookup::NotFound,
            "nothing sent yet"
        );
        // SES takes the message; its answer never reaches the approval.
        let lost = sender.send(&email).await.unwrap().id;

        let mut event: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../events/mail-events/ses-email-sent.json"
            ))
            .unwrap(),
        )
        .unwrap();
        event["detail"]["mail"]["messageId"] = json!(lost);
        event["detail"]["mail"]["tags"][ses_sends::DRAFT_TAG] = json!([email.draft_id]);
        let accepted = ses_sends::parse(&event).unwrap();
        ses_sends::record(&*fx.ports.pipeline, &accepted)
            .await
            .unwrap();

        match sender.find_sent(&email).await.unwrap() {
            SentLookup::Found(receipt) => assert_eq!(receipt.id, lost),
            other => panic!("the Send event was not found: {other:?}"),
        }
        let marker = raw_item(
            &fx,
            keys::marker_pk(&ses_sends::marker_name(&email.draft_id)),
            keys::MARKER_SK,
        )
        .await;
        assert!(
            marker.values().any(|v| v.as_s().is_ok_and(|s| s == &lost)),
            "{marker:?}"
        );
        let mut other = email.clone();
        other.draft_id = aws::unique_name("d");
        assert_eq!(
            sender.find_sent(&other).await.unwrap(),
            SentLookup::NotFound,
            "another draft's Send event is not this one's"
        );
    }

    #[tokio::test]
    async fn an_email_from_an_unverified_sender_is_rejected() {
        let config = aws::sdk_config().await;
        let sender = SesSender::new(aws_sdk_sesv2::Client::new(&config), None);
        let from = format!("{}@unverified.example", aws::unique_name("nobody"));
        let result = sender.send(&outbound(&from)).await;
        assert!(matches!(result, Err(SendError::Rejected(_))), "{result:?}");
    }

    /// The mailbox grants: `draftgate connect` writes keys into a JSON secret without
    /// dropping the others; the functions read the non-empty ones back.
    #[tokio::test]
    async fn mailbox_grants_are_merged_into_their_secret_and_read_back() {
        use shared::adapters::secrets::{put_json_keys, read_json};
        let client = aws_sdk_secretsmanager::Client::new(&aws::sdk_config().await);
        let name = aws::unique_name("grants");
        client
            .create_secret()
            .name(&name)
            .secret_string(r#"{"GOOGLE_CLIENT_ID":"app.apps.googleusercontent.com","OUTLOOK_REFRESH_TOKEN":""}"#)
            .send()
            .await
            .unwrap();
        put_json_keys(
            &client,
            &name,
            &[("GMAIL_REFRESH_TOKEN".into(), "1//read-grant".into())],
        )
        .await
        .unwrap();
        let values = read_json(&client, &name).await.unwrap();
        assert_eq!(values.len(), 2, "{:?}", values.keys().collect::<Vec<_>>());
        assert_eq!(values["GMAIL_REFRESH_TOKEN"], "1//read-grant");
        assert_eq!(values["GOOGLE_CLIENT_ID"], "app.apps.googleusercontent.com");
        assert!(
            !values.contains_key("OUTLOOK_REFRESH_TOKEN"),
            "empty means unset"
        );

        let missing = read_json(&client, &aws::unique_name("absent")).await;
        assert!(missing.is_err());
        let broken = aws::unique_name("broken");
        client
            .create_secret()
            .name(&broken)
            .secret_string("not json")
            .send()
            .await
            .unwrap();
        let err = read_json(&client, &broken).await.unwrap_err().to_string();
        assert!(err.contains("not a JSON object"), "{err}");
        assert!(
            !err.contains("not json"),
            "the value never reaches an error"
        );
    }

    use shared::secret::Secret;

    struct CountingSender(std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl Sender for CountingSender {
        async fn send(
            &self,
            _email: &OutboundEmail,
        ) -> Result<shared::domain::SentReceipt, SendError> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Slow enough for every racer to be in flight at once.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(shared::domain::SentReceipt {
                id: format!("m{n}"),
                conversation: None,
            })
        }
    }

    /// 50 simultaneous approvals of one draft on DynamoDB, half from the review page and half
    /// from Slack buttons: the conditional writes let exactly one send.
    #[tokio::test]
    async fn fifty_simultaneous_approvals_from_page_and_slack_send_once_on_dynamodb() {
        use shared::signing::slack_signature;
        use shared::tokens::{Scope, TokenSigner};

        let fx = aws_fixture().await;
        let now = Timestamp::now();
        let clock = Arc::new(shared::adapters::clock::ManualClock::new(now));
        let sender = Arc::new(CountingSender(Default::default()));
        let signing = "slack-signing-secret";
        let tokens = TokenSigner::new(Secret::new("race-key"));
        let services = Services::build(
            Adapters {
                sender: Some(sender.clone()),
                notifier: Some(Arc::new(shared::adapters::fanout::Fanout(Vec::new()))),
                events: Some(Arc::new(NoEvents)),
                crm_writes: Some(Arc::new(Accepting)),
                ..Adapters::new(
                    fx.ports.pipeline.clone(),
                    fx.ports.audit.clone(),
                    clock.clone(),
                )
            },
            Settings {
                public_base_url: "https://hooks.example".into(),
                tokens: Some(tokens.clone()),
                slack_signing_secret: Some(Secret::new(signing)),
                ..Settings::new(Arc::new(shared::config::Config::bundled().unwrap()))
            },
        );
        let core = services.core();
        let config = core.config.clone();
        let sent_at = now - SignedDuration::from_hours(80);
        let deal = DealRef::new("hubspot", "42");
        let event = DealEvent {
            id: "race-proposal".into(),
            deal: deal.clone(),
            occurred_at: sent_at,
            source: "pandadoc".into(),
            kind: EventKind::ProposalSent {
                document_id: "doc-1".into(),
                name: Some("Proposal".into()),
            },
            snapshot: Some(DealSnapshot {
                name: Some("Acme rollout".into()),
                raw_stage: Some("contractsent".into()),
                contact_email: Some("jane@acme.example".into()),
                ..Default::default()
            }),
        };
        shared::app::record_event(&*core.store, &*core.audit, &config, &*clock, &event, "test")
            .await
            .unwrap();
        let stored = core.store.get_deal(&deal).await.unwrap().unwrap();
        let (occurrence, _) =
            shared::rules::occurrence(&stored, TriggerKind::ProposalNoReply, &config, now).unwrap();
        let mut d = draft("d-race", DraftStatus::Pending, now);
        d.occurrence = occurrence;
        d.missing.clear();
        assert!(core.store.create_draft(&d).await.unwrap());

        let review = Arc::new(services.review());
        let token = tokens.sign(
            Scope::Draft("d-race"),
            "alex@northwind.example",
            now + SignedDuration::from_hours(1),
        );
        let mut tasks = Vec::new();
        for i in 0..50 {
            let review = review.clone();
            let req = if i % 2 == 0 {
                let form =
                    serde_urlencoded::to_string([("token", token.as_str()), ("action", "approve")])
                        .unwrap();
                http::Request::builder()
                    .method("POST")
                    .uri("/review/d-race")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("accept", "application/json")
                    .body(bytes::Bytes::from(form))
                    .unwrap()
            } else {
                let payload = json!({ "type": "block_actions", "user": { "id": "U07FOUNDER1" },
                    "actions": [{ "action_id": "approve", "type": "button", "value": "d-race" }] });
                let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
                let ts = now.as_second().to_string();
                http::Request::builder()
                    .method("POST")
                    .uri("/slack/interactivity")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-slack-request-timestamp", &ts)
                    .header(
                        "x-slack-signature",
                        slack_signature(signing.as_bytes(), &ts, body.as_bytes()),
                    )
                    .body(bytes::Bytes::from(body))
                    .unwrap()
            };
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    review.handle(req).await.status().as_u16()
                } else {
                    review.slack(req).await.status().as_u16()
                }
            }));
        }
        let mut codes = Vec::new();
        for t in tasks {
            codes.push(t.await.unwrap());
        }
        assert_eq!(
            sender.0.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "sent once: {codes:?}"
        );
        assert!(codes.iter().all(|c| [200, 409].contains(c)), "{codes:?}");
        let stored = review
            .core
            .store
            .get_draft("d-race")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, DraftStatus::Sent);
    }

    struct NoEvents;

    #[async_trait::async_trait]
    impl EventPublisher for NoEvents {
        async fn publish(&self, _event: &DomainEvent) -> Result<(), shared::ports::PublishError> {
            Ok(())
        }
    }

    /// Takes the CRM write-back jobs (this test counts sends, not CRM writes).
    struct Accepting;

    #[async_trait::async_trait]
    impl Queue for Accepting {
        async fn send(&self, _message: &QueueMessage) -> Result<(), QueueError> {
            Ok(())
        }
    }
}
