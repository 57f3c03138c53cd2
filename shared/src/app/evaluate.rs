//! Evaluate one deal: claim each due trigger occurrence exactly once (a conditional write) and
//! ask for its draft; then record what fired and when the deal is next due.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::{audit, short_hash, Core, DraftRequest, EvaluateRequest, WorkError};
use crate::domain::{AuditEntry, AuditKind};
use crate::ports::keys;
use crate::ports::{Queue, QueueMessage, StoreError};
use crate::rules;
use tracing::Instrument;

pub struct Evaluator {
    pub core: Core,
    pub draft_queue: Arc<dyn Queue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvaluateOutcome {
    pub fired: Vec<String>,
    pub next_due_at: Option<jiff::Timestamp>,
}

/// The founder's local date of `now`, which names the day's draft budget.
pub fn budget_day(config: &crate::config::Config, now: jiff::Timestamp) -> jiff::civil::Date {
    now.to_zoned(config.timezone()).date()
}

/// When a deal held back by the budget is looked at again: local midnight of the next day.
pub fn next_budget_day(config: &crate::config::Config, now: jiff::Timestamp) -> jiff::Timestamp {
    let tomorrow = budget_day(config, now)
        .tomorrow()
        .expect("not the end of time");
    rules::local_time_on(tomorrow, 0, &config.timezone())
}

/// Undecided drafts to the prospect of one deal (pending or snoozed), read by the deal.
pub async fn open_drafts(
    store: &dyn crate::ports::PipelineStore,
    deal: &crate::domain::DealRef,
) -> Result<usize, StoreError> {
    store.open_drafts(deal).await
}

impl Evaluator {
    pub async fn handle(&self, body: &str) -> Result<EvaluateOutcome, WorkError> {
        let req: EvaluateRequest =
            serde_json::from_str(body).map_err(|e| WorkError::Invalid(e.to_string()))?;
        let span = tracing::info_span!("evaluate", deal = %req.deal);
        async {
            let outcome = self.evaluate(&req).await?;
            let next_due_at = outcome.next_due_at.map(|t| t.to_string());
            tracing::info!(
                fired = %outcome.fired.join(", "),
                next_due_at = next_due_at.as_deref(),
                "deal evaluated"
            );
            Ok(outcome)
        }
        .instrument(span)
        .await
    }

    async fn evaluate(&self, req: &EvaluateRequest) -> Result<EvaluateOutcome, WorkError> {
        let c = &self.core;
        for _ in 0..8 {
            let Some(mut deal) = c.store.get_deal(&req.deal).await? else {
                return Ok(EvaluateOutcome::default());
            };
            let now = c.clock.now();
            let before = (deal.next_due_at, deal.deferred_until);
            let evaluation = rules::evaluate(&deal, &c.config, now);
            let held_back = deal.deferred_until.filter(|until| *until > now);
            let mut fired = Vec::new();
            let mut deferred_until = held_back;
            let mut open = None;
            for firing in evaluation.due {
                let deal_pk = keys::deal_pk(&deal.key);
                if firing.trigger.writes_to_prospect() {
                    if held_back.is_some() {
                        continue;
                    }
                    // At most `per_deal_open_drafts` undecided drafts per deal: the rest wait
                    // for the founder's decision (checked again within the hour).
                    let open_now = match open {
                        Some(n) => n,
                        None => open_drafts(&*c.store, &deal.key).await?,
                    };
                    open = Some(open_now);
                    if open_now >= c.config.limits.per_deal_open_drafts as usize {
                        deferred_until = Some(now + jiff::SignedDuration::from_hours(1));
                        audit(
                            &*c.audit,
                            AuditEntry {
                                id: format!("held-{}", short_hash(&[&deal_pk, &firing.occurrence, "cap"])),
                                ..AuditEntry::new(now, AuditKind::TriggerHeld, "evaluate-deal", json!({
                                    "trigger": firing.trigger, "occurrence": firing.occurrence,
                                    "reason": format!("the deal already has {open_now} undecided draft(s)"),
                                }))
                            }
                            .deal(&deal.key),
                        )
                        .await?;
                        continue;
                    }
                    let day = budget_day(&c.config, now).to_string();
                    let slot = format!("{deal_pk}#{}", firing.occurrence);
                    if !c
                        .store
                        .claim_budget(&day, &slot, c.config.limits.daily_draft_budget)
                        .await?
                    {
                        let until = next_budget_day(&c.config, now);
                        deferred_until = Some(until);
                        audit(
                            &*c.audit,
                            AuditEntry {
                                id: format!("deferred-{}", short_hash(&[&deal_pk, &firing.occurrence, &day])),
                                ..AuditEntry::new(now, AuditKind::TriggerDeferred, "evaluate-deal", json!({
                                    "trigger": firing.trigger, "occurrence": firing.occurrence, "until": until,
                                    "reason": format!("the daily draft budget of {} is spent", c.config.limits.daily_draft_budget),
                                }))
                            }
                            .deal(&deal.key),
                        )
                        .await?;
                        continue;
                    }
                    open = Some(open_now + 1);
                }
                if c.store.claim_firing(&firing).await? {
                    audit(
                        &*c.audit,
                        AuditEntry {
                            id: format!("firing-{}", short_hash(&[&deal_pk, &firing.occurrence])),
                            ..AuditEntry::new(now, AuditKind::TriggerFired, "evaluate-deal", json!({
                                "trigger": firing.trigger, "occurrence": firing.occurrence, "due_at": firing.due_at,
                                // Counted from when it could first fire: a stop condition lifted after
                                // the due time (e.g. un-parking) makes it due only then.
                                "late_by_secs": now.duration_since(firing.due_at.max(deal.updated_at)).as_secs(),
                            }))
                        }
                        .deal(&deal.key),
                    )
                    .await?;
                }
                // Claimed now or by an earlier attempt that stopped before recording it on the
                // deal: either way ask for the draft; drafting is idempotent per occurrence.
                let body = serde_json::to_string(&DraftRequest::Generate {
                    firing: firing.clone(),
                })
                .expect("serialisable");
                self.draft_queue
                    .send(&QueueMessage {
                        body,
                        group_id: keys::queue_group(&deal.key),
                        dedup_id: short_hash(&["generate", &deal_pk, &firing.occurrence]),
                    })
                    .await
                    .map_err(|e| WorkError::Retryable(e.into()))?;
                fired.push(firing.occurrence);
            }
            deal.fired.extend(fired.iter().cloned());
            deal.deferred_until = deferred_until;
            let next_due_at = rules::evaluate(&deal, &c.config, now).next_due_at;
            if fired.is_empty() && before == (next_due_at, deal.deferred_until) {
                return Ok(EvaluateOutcome { fired, next_due_at });
            }
            deal.next_due_at = next_due_at;
            deal.version += 1;
            match c.store.put_deal(&deal).await {
                Ok(()) => return Ok(EvaluateOutcome { fired, next_due_at }),
                // The deal changed meanwhile: evaluate again on fresh state (claims hold).
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(WorkError::Retryable(
            "deal kept changing under concurrent writers".into(),
        ))
    }
}
