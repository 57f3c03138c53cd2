//! The scheduled sweep: read only the deals that are due (the due index, never a scan) and
//! enqueue one evaluation per deal; bring back drafts whose snooze is over.

use std::sync::Arc;

use serde::Serialize;

use super::{short_hash, Core, DraftRequest, EvaluateRequest, WorkError};
use crate::domain::{AuditEntry, DraftStatus};
use crate::keys;
use crate::ports::{Queue, QueueMessage, StoreError};

/// Deals enqueued per sweep; the rest stay due and go on the next run.
pub const PAGE: usize = 1000;

pub struct Sweeper {
    pub core: Core,
    pub evaluate_queue: Arc<dyn Queue>,
    pub draft_queue: Arc<dyn Queue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    pub now: jiff::Timestamp,
    pub due_deals: usize,
    pub enqueued: usize,
    pub resurfaced_drafts: usize,
}

fn queue_err(e: impl std::fmt::Display) -> WorkError {
    WorkError::Retryable(e.to_string())
}

impl Sweeper {
    pub async fn run(&self) -> Result<SweepSummary, WorkError> {
        let now = self.core.clock.now();
        let due = self.core.store.due_deals(now, PAGE).await?;
        for (deal, due_at) in &due {
            let body = serde_json::to_string(&EvaluateRequest {
                deal: deal.clone(),
                due_at: Some(*due_at),
            })
            .expect("serialisable");
            let dedup_id = short_hash(&[&keys::deal_pk(deal), &keys::sortable(*due_at)]);
            self.evaluate_queue
                .send(&QueueMessage {
                    body,
                    group_id: keys::queue_group(deal),
                    dedup_id,
                })
                .await
                .map_err(queue_err)?;
        }

        let mut resurfaced = 0;
        for mut draft in self
            .core
            .store
            .drafts_by_status(DraftStatus::Snoozed, Some(now), PAGE)
            .await?
        {
            draft.status = DraftStatus::Pending;
            let until = draft.snoozed_until.take();
            match self
                .core
                .store
                .update_draft(&draft, DraftStatus::Snoozed)
                .await
            {
                // Decided meanwhile: nothing to bring back.
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
                Ok(()) => {}
            }
            resurfaced += 1;
            let body = serde_json::to_string(&DraftRequest::Renotify {
                draft_id: draft.id.clone(),
            })
            .expect("serialisable");
            self.draft_queue
                .send(&QueueMessage {
                    body,
                    group_id: keys::queue_group(&draft.deal),
                    dedup_id: short_hash(&[
                        "renotify",
                        &draft.id,
                        &until.map(keys::sortable).unwrap_or_default(),
                    ]),
                })
                .await
                .map_err(queue_err)?;
            super::audit(
                &*self.core.audit,
                AuditEntry::new(
                    now,
                    "draft.resurfaced",
                    "sweep",
                    serde_json::json!({ "snoozed_until": until }),
                )
                .deal(&draft.deal)
                .draft(&draft.id),
            )
            .await?;
        }
        Ok(SweepSummary {
            now,
            due_deals: due.len(),
            enqueued: due.len(),
            resurfaced_drafts: resurfaced,
        })
    }
}
