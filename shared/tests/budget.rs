//! The daily draft budget and the per-deal cap on the embedded adapters: the most valuable deals
//! go first, the rest wait visibly for the next day, and nothing is dropped.

mod support;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::{record_event, Core};
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::{DealEvent, DealRef, DealSnapshot, DraftStatus, EventKind};
use shared::ports::{AuditReader, DealStore, DraftStore};
use shared::secret::Secret;
use shared::tokens::TokenSigner;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

struct World {
    store: Arc<EmbeddedStore>,
    clock: Arc<ManualClock>,
    core: Core,
}

impl World {
    fn new(budget: u32) -> World {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let clock = Arc::new(ManualClock::new(t("2026-03-02T08:00:00Z")));
        let mut config = shared::config::Config::bundled().unwrap();
        config.limits.daily_draft_budget = budget;
        // Proposal follow-ups only: deals entering the stage get no proposal drafted here.
        config.proposals.clear();
        let core = Services::build(
            Adapters::embedded(&store, clock.clone()),
            Settings::new(Arc::new(config)),
        )
        .core();
        World { store, clock, core }
    }

    async fn proposal(&self, id: &str, amount: f64, sent: &str) {
        let e = DealEvent {
            id: format!("e-{id}"),
            deal: DealRef::new("hubspot", id),
            occurred_at: t(sent),
            source: "hubspot".into(),
            kind: EventKind::StageChanged {
                raw_stage: "contractsent".into(),
            },
            snapshot: Some(DealSnapshot {
                name: Some(format!("Deal {id}")),
                amount: Some(amount),
                contact_email: Some(format!("{id}@example.com")),
                ..Default::default()
            }),
        };
        let c = &self.core;
        record_event(&*c.store, &*c.audit, &c.config, &*c.clock, &e, "test")
            .await
            .unwrap();
    }

    /// One scheduled sweep and everything it causes.
    async fn sweep(&self) -> shared::app::sweep::SweepSummary {
        support::sweep_and_drain(
            &self.core,
            &self.store,
            &self.clock,
            &TokenSigner::new(Secret::new("k")),
        )
        .await
    }

    async fn drafted_deals(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .store
            .drafts_by_status(DraftStatus::Pending, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.deal.id)
            .collect();
        ids.sort();
        ids
    }
}

#[tokio::test]
async fn when_the_budget_is_short_the_most_valuable_deals_go_first_and_the_rest_wait_for_tomorrow()
{
    let w = World::new(2);
    // All four proposals were sent together; amounts decide the order.
    for (id, amount) in [
        ("small", 2_000.0),
        ("big", 80_000.0),
        ("mid", 30_000.0),
        ("tiny", 500.0),
    ] {
        w.proposal(id, amount, "2026-03-02T09:00:00Z").await;
    }
    w.clock.set(t("2026-03-05T09:00:00Z"));
    let summary = w.sweep().await;
    assert_eq!(
        (summary.due_deals, summary.enqueued, summary.deferred),
        (4, 2, 2),
        "{summary:?}"
    );
    assert_eq!(w.drafted_deals().await, vec!["big", "mid"]);

    // The others are visibly held, not dropped: in their state and in the audit log.
    let small = w
        .store
        .get_deal(&DealRef::new("hubspot", "small"))
        .await
        .unwrap()
        .unwrap();
    // Next local midnight in Europe/Berlin (UTC+1 in March before the DST change).
    assert_eq!(small.deferred_until, Some(t("2026-03-05T23:00:00Z")));
    let deferred = w
        .store
        .entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "trigger.deferred")
        .count();
    assert_eq!(deferred, 2);

    // Later the same day nothing more is drafted.
    w.clock.set(t("2026-03-05T18:00:00Z"));
    w.sweep().await;
    assert_eq!(w.drafted_deals().await.len(), 2);

    // Tomorrow they get the new day's budget.
    w.clock.set(t("2026-03-05T23:15:00Z"));
    w.sweep().await;
    assert_eq!(w.drafted_deals().await, vec!["big", "mid", "small", "tiny"]);
}

#[tokio::test]
async fn a_deal_with_an_undecided_draft_gets_no_second_one_until_the_founder_decides() {
    let w = World::new(10);
    w.proposal("acme", 10_000.0, "2026-03-02T09:00:00Z").await;
    w.clock.set(t("2026-03-05T09:00:00Z"));
    w.sweep().await;
    assert_eq!(w.drafted_deals().await, vec!["acme"]);
    // The stage-unchanged follow-up comes due while the first draft is still pending.
    w.clock.set(t("2026-03-09T09:05:00Z"));
    w.sweep().await;
    assert_eq!(
        w.store
            .drafts_by_status(DraftStatus::Pending, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let held = w
        .store
        .entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "trigger.held")
        .count();
    assert_eq!(held, 1);
    // Once the founder rejects the first, the second follows within the hold (one hour).
    let mut first = w
        .store
        .drafts_by_status(DraftStatus::Pending, None, 10)
        .await
        .unwrap()
        .remove(0);
    first.status = DraftStatus::Rejected;
    w.store
        .update_draft(&first, DraftStatus::Pending)
        .await
        .unwrap();
    w.clock.advance(SignedDuration::from_mins(65));
    w.sweep().await;
    let pending = w
        .store
        .drafts_by_status(DraftStatus::Pending, None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].trigger.as_str(), "stage_unchanged");
}
