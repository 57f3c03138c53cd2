//! Evaluate one deal: claim each due trigger occurrence exactly once (a conditional write) and
//! ask for its draft; then record what fired and when the deal is next due.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::{audit, short_hash, Core, DraftRequest, EvaluateRequest, WorkError};
use crate::domain::AuditEntry;
use crate::keys;
use crate::ports::{Queue, QueueMessage, StoreError};
use crate::rules;

pub struct Evaluator {
    pub core: Core,
    pub draft_queue: Arc<dyn Queue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvaluateOutcome {
    pub fired: Vec<String>,
    pub next_due_at: Option<jiff::Timestamp>,
}

impl Evaluator {
    pub async fn handle(&self, body: &str) -> Result<EvaluateOutcome, WorkError> {
        let req: EvaluateRequest =
            serde_json::from_str(body).map_err(|e| WorkError::Invalid(e.to_string()))?;
        let c = &self.core;
        for _ in 0..8 {
            let Some(mut deal) = c.store.get_deal(&req.deal).await? else {
                return Ok(EvaluateOutcome::default());
            };
            let now = c.clock.now();
            let evaluation = rules::evaluate(&deal, &c.config, now);
            let mut fired = Vec::new();
            for firing in evaluation.due {
                if c.store.claim_firing(&firing).await? {
                    audit(
                        &*c.audit,
                        AuditEntry {
                            id: format!("firing-{}", short_hash(&[&keys::deal_pk(&deal.key), &firing.occurrence])),
                            ..AuditEntry::new(now, "trigger.fired", "evaluate-deal", json!({
                                "trigger": firing.trigger, "occurrence": firing.occurrence, "due_at": firing.due_at,
                                "late_by_secs": now.duration_since(firing.due_at).as_secs(),
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
                        dedup_id: short_hash(&[
                            "generate",
                            &keys::deal_pk(&deal.key),
                            &firing.occurrence,
                        ]),
                    })
                    .await
                    .map_err(|e| WorkError::Retryable(e.to_string()))?;
                fired.push(firing.occurrence);
            }
            deal.fired.extend(fired.iter().cloned());
            let next_due_at = rules::evaluate(&deal, &c.config, now).next_due_at;
            if fired.is_empty() && next_due_at == deal.next_due_at {
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
