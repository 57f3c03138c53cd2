//! Application services: each Lambda function (and the local runner) wires one of these to
//! its adapters. They decide nothing themselves beyond orchestration; `rules` decides.

pub mod batch;
pub mod document;
pub mod drafts;
mod error;
pub mod evaluate;
pub mod live;
pub mod outcome;
pub mod present;
pub mod review;
pub mod ses_sends;
pub mod summary;
pub mod sweep;
pub mod sync;
pub mod writeback;

pub use error::ApiError;

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::Config;
use crate::domain::{AuditEntry, AuditKind, Deal, DealEvent, DealRef, Firing};
use crate::error::Cause;
use crate::ports::{AuditLog, Clock, PipelineStore, Recorded, StoreError};
use crate::rules;

/// Failure of a queue-driven unit of work. Either way the message is reported failed, so SQS
/// retries it and finally parks it in the DLQ: nothing accepted is dropped.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("retryable failure")]
    Retryable(#[source] Cause),
    #[error("invalid message: {0}")]
    Invalid(String),
}

impl From<StoreError> for WorkError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(m) => WorkError::Invalid(m),
            other => WorkError::Retryable(other.into()),
        }
    }
}

/// Body of a message on the evaluate queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluateRequest {
    pub deal: DealRef,
    #[serde(default)]
    pub due_at: Option<Timestamp>,
}

/// Body of a message on the draft queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DraftRequest {
    Generate {
        firing: Firing,
    },
    /// A snoozed draft is back: tell the founder again.
    Renotify {
        draft_id: String,
    },
    /// A draft still waits after `review.remind_after_hours`: remind (once a day).
    Remind {
        draft_id: String,
    },
    /// The daily digest of the queue (`review.notify = "daily_digest"`), for `day`.
    Digest {
        day: String,
    },
    /// The weekly pipeline summary for an ISO `week` (sent once, however often asked).
    WeeklySummary {
        week: String,
    },
    /// A waiting draft was withdrawn (its deal talked): channels that can change what they
    /// posted (the Slack message) say so and drop their buttons.
    Withdrawn {
        draft_id: String,
    },
}

/// The notice a withdrawn draft leaves for the founder's next notification.
pub fn withdrawn_notice(draft_id: &str) -> String {
    format!("withdrawn:{draft_id}")
}

/// Set once a withdrawn draft's notifications show it.
pub fn withdrawn_shown_marker(draft_id: &str) -> String {
    format!("withdrawn-shown:{draft_id}")
}

/// Short stable hash for queue dedup ids and draft ids.
pub fn short_hash(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..12])
}

/// Draft ids derive from the trigger occurrence, so a retried generation finds its own draft.
pub fn draft_id(firing: &Firing) -> String {
    draft_id_for(&firing.deal, &firing.occurrence)
}

pub fn draft_id_for(deal: &DealRef, occurrence: &str) -> String {
    format!("d{}", short_hash(&[&deal.crm, &deal.id, occurrence]))
}

/// The shared path for every event that changes a deal: apply it, recompute when the deal is
/// next due, and write event + state atomically (retrying on a concurrent writer). The audit
/// entry's id derives from the event id, so a retry after a partial failure heals the audit log
/// without duplicating it.
pub async fn record_event(
    store: &dyn PipelineStore,
    audit: &dyn AuditLog,
    config: &Config,
    clock: &dyn Clock,
    event: &DealEvent,
    actor: &str,
) -> Result<Recorded, StoreError> {
    // Mail from or to the deal's contact (or their company) finds the deal by these.
    let mut links = BTreeSet::new();
    if let Some(snap) = &event.snapshot {
        links.extend(snap.links.iter().cloned());
        if let Some(email) = &snap.contact_email {
            links.extend(crate::domain::mail::contact_links(email));
        }
    }
    let mut outcome = None;
    for _ in 0..8 {
        let existing = store.get_deal(&event.deal).await?;
        let before = existing.clone();
        let mut deal = existing.unwrap_or_else(|| Deal::new(event.deal.clone(), event.occurred_at));
        // Links the deal does not hold yet are written before the event, so a recorded event's
        // links are always there; the deal remembers them and later events skip the writes.
        let new_links: Vec<String> = links.difference(&deal.linked).cloned().collect();
        if !new_links.is_empty() {
            store.put_links(&event.deal, &new_links).await?;
            deal.linked.extend(new_links);
        }
        deal.version += 1;
        rules::apply(&mut deal, event, config);
        deal.next_due_at = rules::evaluate(&deal, config, clock.now()).next_due_at;
        match store.record_event(event, &deal).await {
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
            Ok(r) => {
                outcome = Some((r, before, deal));
                break;
            }
        }
    }
    let (outcome, before, deal) = outcome.ok_or_else(|| {
        StoreError::Unavailable("deal kept changing under concurrent writers".into())
    })?;
    if outcome == Recorded::Applied {
        report_unmapped_stage(store, audit, config, event, &deal).await?;
        if let Some(before) = &before {
            supersede_stale_drafts(store, audit, config, clock.now(), event, before, &deal).await?;
        }
    }
    tracing::info!(
        event = event.kind.label(),
        duplicate = outcome == Recorded::Duplicate,
        "event recorded"
    );
    audit_accepted(audit, event, actor, clock.now()).await?;
    Ok(outcome)
}

/// The audit entry of an accepted event, keyed by the event id: written after the event (a
/// retry after a failure in between writes it then), and again, idempotently, by every
/// redelivery that finds the event already recorded, whatever set it aside as a duplicate. So
/// an accepted event always ends with exactly one entry.
pub async fn audit_accepted(
    audit: &dyn AuditLog,
    event: &DealEvent,
    actor: &str,
    recorded_at: Timestamp,
) -> Result<(), StoreError> {
    let entry = AuditEntry {
        id: format!("event-{}", short_hash(&[&event.id])),
        at: event.occurred_at,
        kind: AuditKind::EventAccepted,
        actor: actor.into(),
        deal: Some(event.deal.clone()),
        draft_id: None,
        detail: json!({ "event_id": event.id, "event": event.kind.label(), "source": event.source, "recorded_at": recorded_at }),
    };
    match audit.append(&entry).await {
        Ok(()) | Err(StoreError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A stage id the config does not map leaves the deal without a canonical stage: it goes to
/// the audit log and to the founder's next notification, whatever route it came by.
async fn report_unmapped_stage(
    store: &dyn PipelineStore,
    log: &dyn AuditLog,
    config: &Config,
    event: &DealEvent,
    deal: &Deal,
) -> Result<(), StoreError> {
    let (Some(raw), None) = (&deal.raw_stage, deal.stage) else {
        return Ok(());
    };
    // Only an event that says the stage reports it: a reply on a deal in an unmapped stage is
    // not a new finding.
    let says_stage = matches!(event.kind, crate::domain::EventKind::StageChanged { .. })
        || event
            .snapshot
            .as_ref()
            .is_some_and(|s| s.raw_stage.is_some());
    if !says_stage {
        return Ok(());
    }
    let crm = event.source_crm();
    let hint = config.unmapped_stage_hint(crm, raw);
    tracing::warn!(stage = %raw, crm, deal = %deal.key, "stage not mapped in the config");
    audit(
        log,
        AuditEntry {
            // Once per deal and stage, however often the stage is repeated.
            id: format!(
                "stage-unmapped-{}",
                short_hash(&[&deal.key.crm, &deal.key.id, raw])
            ),
            at: event.occurred_at,
            kind: AuditKind::StageUnmapped,
            actor: event.source.clone(),
            deal: Some(deal.key.clone()),
            draft_id: None,
            detail: json!({ "crm": crm, "stage": raw, "problem": hint }),
        },
    )
    .await?;
    store
        .add_notice(
            &format!("unmapped-stage:{crm}:{raw}"),
            &format!("{hint}. First seen on {} ({}).", deal.name, deal.key),
        )
        .await
}

/// A reply (from any source), a call, a meeting, the founder's own mail or a stage move can take
/// away a waiting draft's reason: such drafts leave the queue at once, marked superseded,
/// rather than only when someone tries to approve them. A draft can only be waiting for its
/// trigger's occurrence as it stood before this event (and was claimed), so only those are
/// looked at, and a draft is read only when the event ended its occurrence or is a new
/// two-way contact: most events read nothing.
async fn supersede_stale_drafts(
    store: &dyn PipelineStore,
    log: &dyn AuditLog,
    config: &Config,
    now: Timestamp,
    event: &DealEvent,
    before: &Deal,
    deal: &Deal,
) -> Result<(), StoreError> {
    let current = crate::domain::TriggerKind::ALL
        .into_iter()
        .filter(|t| !t.is_internal())
        .filter_map(|t| Some((t, rules::occurrence(before, t, config, now).ok()?.0)))
        .filter(|(_, key)| before.fired.contains(key));
    // A new two-way contact withdraws the follow-ups written before it (read to know when).
    let new_contact = deal.two_way_contact(now) != before.two_way_contact(now);
    for (trigger, occurrence) in current {
        let ended = rules::still_holds(deal, trigger, &occurrence, now, config, now).err();
        if ended.is_none() && !(new_contact && trigger.is_follow_up()) {
            continue;
        }
        let id = draft_id_for(&deal.key, &occurrence);
        let Some(draft) = store.get_draft(&id).await? else {
            continue;
        };
        if !draft.status.is_open() {
            continue;
        }
        let stop = match ended.map_or_else(
            || rules::still_holds(deal, trigger, &occurrence, draft.created_at, config, now),
            Err,
        ) {
            Ok(()) => continue,
            Err(stop) => stop,
        };
        let source = json!({ "event_id": event.id, "event": event.kind.label() });
        withdraw(
            store,
            log,
            config,
            now,
            draft,
            deal,
            &stop,
            &event.source,
            source,
        )
        .await?;
    }
    Ok(())
}

/// Withdraw a waiting draft whose reason is gone (`stop`): superseded with the founder's words
/// (times in her zone), told in her next notification and on its Slack message (the sweep hands
/// it on), and audited with `detail`. A draft decided meanwhile keeps its decision. Whether it
/// was withdrawn.
#[allow(clippy::too_many_arguments)] // the one place a withdrawal is written
pub async fn withdraw(
    store: &dyn PipelineStore,
    log: &dyn AuditLog,
    config: &Config,
    now: Timestamp,
    mut draft: crate::domain::Draft,
    deal: &Deal,
    stop: &rules::StopReason,
    actor: &str,
    mut detail: serde_json::Value,
) -> Result<bool, StoreError> {
    let reason = present::withdrawn(
        Some(deal),
        stop,
        draft.trigger,
        now,
        Some(&config.timezone()),
    );
    let expected = draft.status;
    draft.status = crate::domain::DraftStatus::Superseded;
    draft.superseded_reason = Some(reason.clone());
    match store.update_draft(&draft, expected).await {
        // Decided meanwhile: the decision stands.
        Err(StoreError::Conflict) => return Ok(false),
        other => other?,
    }
    tracing::info!(draft_id = %draft.id, %reason, "waiting draft superseded");
    store
        .add_notice(
            &withdrawn_notice(&draft.id),
            &format!("{}: {reason}", deal.name),
        )
        .await?;
    detail["reason"] = json!(reason);
    audit(
        log,
        AuditEntry {
            id: format!("superseded-{}", short_hash(&[&draft.id])),
            at: now,
            kind: AuditKind::DraftSuperseded,
            actor: actor.into(),
            deal: Some(deal.key.clone()),
            draft_id: Some(draft.id.clone()),
            detail,
        },
    )
    .await?;
    Ok(true)
}

/// Append to the audit log, treating "already there" as done (idempotent retries).
pub async fn audit(log: &dyn AuditLog, entry: AuditEntry) -> Result<(), StoreError> {
    match log.append(&entry).await {
        Ok(()) | Err(StoreError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Everything most services need.
#[derive(Clone)]
pub struct Core {
    pub config: Arc<Config>,
    pub store: Arc<dyn PipelineStore>,
    pub audit: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::adapters::clock::ManualClock;
    use crate::adapters::embedded::EmbeddedStore;
    use crate::domain::{DealRef, DealSnapshot, EventKind};
    use crate::ports::AuditReader;

    #[tokio::test]
    async fn an_unmapped_stage_is_reported_once_not_on_every_later_event() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let clock = ManualClock::new("2026-03-02T09:00:00Z".parse().unwrap());
        let config = Config::bundled().unwrap();
        let deal = DealRef::new("notion", "n1");
        let event = |id: &str, kind: EventKind, stage: Option<&str>| DealEvent {
            id: id.into(),
            deal: deal.clone(),
            occurred_at: "2026-03-02T08:00:00Z".parse().unwrap(),
            source: "notion via generic webhook".into(),
            kind,
            snapshot: stage.map(|s| DealSnapshot {
                raw_stage: Some(s.into()),
                ..DealSnapshot::default()
            }),
        };
        let stage = || EventKind::StageChanged {
            raw_stage: "Bogus".into(),
        };
        let reply = || EventKind::ProspectReplied {
            summary: "Thanks".into(),
        };
        for e in [
            event("1", stage(), None),
            event("2", reply(), None),
            event("3", reply(), None),
            event("4", stage(), Some("Bogus")),
        ] {
            record_event(&*store, &*store, &config, &clock, &e, "test")
                .await
                .unwrap();
        }
        let unmapped = store
            .entries(Some(&deal))
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == AuditKind::StageUnmapped)
            .count();
        assert_eq!(unmapped, 1);
    }
}
