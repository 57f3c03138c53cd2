//! The scheduled sweep: read only the deals that are due (the due index, never a scan) and
//! enqueue one evaluation per deal; bring back drafts whose snooze is over.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use super::{audit, evaluate, short_hash, Core, DraftRequest, EvaluateRequest, WorkError};
use crate::domain::{AuditEntry, AuditKind, Deal, DealRef, DraftStatus};
use crate::ports::keys;
use crate::ports::{Queue, QueueMessage, StoreError};
use crate::rules;

/// Deals enqueued per sweep; the rest stay due and go on the next run.
pub const PAGE: usize = 1000;

/// When weekly summaries started being due (the first sweep with them on).
const SUMMARIES_SINCE: &str = "summary:since";

pub struct Sweeper {
    pub core: Core,
    pub evaluate_queue: Arc<dyn Queue>,
    pub draft_queue: Arc<dyn Queue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    pub now: Timestamp,
    pub due_deals: usize,
    pub enqueued: usize,
    /// Deals whose follow-up waits for tomorrow's draft budget (lowest priority first to wait).
    pub deferred: usize,
    pub resurfaced_drafts: usize,
    /// Deals and drafts this run could not read or enqueue (a store or queue fault): they stay
    /// due, so the next run takes them; one fault never holds back the rest.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped: usize,
    /// Drafts still waiting after `review.remind_after_hours`, reminded now (once a day).
    pub reminded: usize,
    /// The daily digest was queued by this sweep.
    pub digest: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn queue_err(e: impl Into<crate::error::Cause>) -> WorkError {
    WorkError::Retryable(e.into())
}

impl Sweeper {
    pub async fn run(&self) -> Result<SweepSummary, WorkError> {
        let c = &self.core;
        let now = c.clock.now();
        let due = c.store.due_deals(now, PAGE).await?;
        let mut skipped = 0;

        // Deals about to draft compete for what is left of today's budget, most valuable first;
        // the rest wait, visibly, for tomorrow. Internal briefs need no budget.
        let (mut drafting, other) = self.rank_due(&due, now, &mut skipped).await;
        drafting.sort_by(|a, b| b.0.total_cmp(&a.0));
        let day = evaluate::budget_day(&c.config, now).to_string();
        let used = c.store.budget_used(&day).await?;
        let remaining = c.config.limits.daily_draft_budget.saturating_sub(used) as usize;
        let (mut to_enqueue, deferred) = self
            .defer_beyond_budget(drafting, remaining, &day, now, &mut skipped)
            .await;
        to_enqueue.extend(other);
        let enqueued = self.enqueue_evaluations(&to_enqueue, &mut skipped).await;
        let resurfaced = self.resurface_snoozed(now, &mut skipped).await?;
        self.show_withdrawn().await?;
        let (reminded, digest) = self.reminders_and_digest(now).await?;
        Ok(SweepSummary {
            now,
            due_deals: due.len(),
            enqueued,
            deferred,
            resurfaced_drafts: resurfaced,
            skipped,
            reminded,
            digest,
        })
    }

    /// The due deals that want a prospect-facing draft (with their priority), and the rest.
    async fn rank_due(
        &self,
        due: &[(DealRef, Timestamp)],
        now: Timestamp,
        skipped: &mut usize,
    ) -> (Vec<(f64, Deal, Timestamp)>, Vec<(DealRef, Timestamp)>) {
        let c = &self.core;
        let mut drafting = Vec::new();
        let mut other = Vec::new();
        for (key, due_at) in due {
            let deal = match c.store.get_deal(key).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(deal = %key, error = %crate::error::Chain(&e), "due deal unreadable; the next sweep takes it");
                    *skipped += 1;
                    continue;
                }
            };
            match deal {
                Some(deal) => {
                    let wants_draft = rules::evaluate(&deal, &c.config, now)
                        .due
                        .iter()
                        .any(|f| f.trigger.writes_to_prospect())
                        && deal.deferred_until.is_none_or(|u| u <= now);
                    if wants_draft {
                        drafting.push((
                            rules::priority(&deal, &c.config.limits, now),
                            deal,
                            *due_at,
                        ));
                    } else {
                        other.push((key.clone(), *due_at));
                    }
                }
                None => continue,
            }
        }
        (drafting, other)
    }

    /// Deals beyond today's budget are deferred to the next budget day (audited first); the
    /// others are to be evaluated now.
    async fn defer_beyond_budget(
        &self,
        drafting: Vec<(f64, Deal, Timestamp)>,
        remaining: usize,
        day: &str,
        now: Timestamp,
        skipped: &mut usize,
    ) -> (Vec<(DealRef, Timestamp)>, usize) {
        let c = &self.core;
        let mut deferred = 0;
        let mut to_enqueue = Vec::new();
        for (rank, (score, mut deal, due_at)) in drafting.into_iter().enumerate() {
            if rank < remaining {
                to_enqueue.push((deal.key.clone(), due_at));
                continue;
            }
            let until = evaluate::next_budget_day(&c.config, now);
            // The audit entry first (its id is the deal's and the day's, so a retry rewrites the
            // same entry), then the deferral: a fault between them leaves the deal due, and the
            // next sweep does both again; never a deferral the audit log does not show.
            let entry = AuditEntry {
                id: format!("deferred-{}", short_hash(&[&keys::deal_pk(&deal.key), day, "sweep"])),
                ..AuditEntry::new(now, AuditKind::TriggerDeferred, "sweep", serde_json::json!({
                    "until": until, "priority": score,
                    "reason": format!("the daily draft budget of {} is spent; higher-priority deals went first", c.config.limits.daily_draft_budget),
                }))
            }
            .deal(&deal.key);
            if let Err(e) = audit(&*c.audit, entry).await {
                tracing::warn!(deal = %deal.key, error = %crate::error::Chain(&e), "deferral not audited; the next sweep ranks it again");
                *skipped += 1;
                continue;
            }
            deal.deferred_until = Some(until);
            deal.next_due_at = rules::evaluate(&deal, &c.config, now).next_due_at;
            deal.version += 1;
            match c.store.put_deal(&deal).await {
                Ok(()) => deferred += 1,
                // Changed meanwhile: the next sweep ranks it again.
                Err(StoreError::Conflict) => {}
                Err(e) => {
                    tracing::warn!(deal = %deal.key, error = %crate::error::Chain(&e), "deferral not stored; the next sweep ranks it again");
                    *skipped += 1;
                }
            }
        }
        (to_enqueue, deferred)
    }

    /// One evaluation per due deal on the queue (deduplicated by deal and due time).
    async fn enqueue_evaluations(
        &self,
        deals: &[(DealRef, Timestamp)],
        skipped: &mut usize,
    ) -> usize {
        let mut enqueued = 0;
        for (deal, due_at) in deals {
            let body = serde_json::to_string(&EvaluateRequest {
                deal: deal.clone(),
                due_at: Some(*due_at),
            })
            .expect("serialisable");
            let dedup_id = short_hash(&[
                &keys::deal_pk(deal),
                &crate::domain::time::sortable(*due_at),
            ]);
            let sent = self
                .evaluate_queue
                .send(&QueueMessage {
                    body,
                    group_id: keys::queue_group(deal),
                    dedup_id,
                })
                .await;
            match sent {
                Ok(()) => enqueued += 1,
                Err(e) => {
                    tracing::warn!(deal = %deal, error = %crate::error::Chain(&e), "evaluation not enqueued; the next sweep takes it");
                    *skipped += 1;
                }
            }
        }

        enqueued
    }

    /// Snoozed drafts whose time has come go back to the queue, and the founder hears again.
    async fn resurface_snoozed(
        &self,
        now: Timestamp,
        skipped: &mut usize,
    ) -> Result<usize, WorkError> {
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
                // Still snoozed and due: the next sweep brings it back.
                Err(e) => {
                    tracing::warn!(draft = %draft.id, error = %crate::error::Chain(&e), "snoozed draft not brought back yet");
                    *skipped += 1;
                    continue;
                }
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
                        &until.map(crate::domain::time::sortable).unwrap_or_default(),
                    ]),
                })
                .await
                .map_err(queue_err)?;
            audit(
                &*self.core.audit,
                AuditEntry::new(
                    now,
                    AuditKind::DraftResurfaced,
                    "sweep",
                    serde_json::json!({ "snoozed_until": until }),
                )
                .deal(&draft.deal)
                .draft(&draft.id),
            )
            .await?;
        }
        Ok(resurfaced)
    }

    /// Drafts withdrawn since the last sweep (their deal talked) are shown on their Slack
    /// messages by generate-draft, which holds the notifier: within one sweep of the event.
    async fn show_withdrawn(&self) -> Result<(), WorkError> {
        let c = &self.core;
        for (key, _) in c.store.notices(100).await? {
            let Some(draft_id) = key.strip_prefix("withdrawn:") else {
                continue;
            };
            if c.store
                .marker(&super::withdrawn_shown_marker(draft_id))
                .await?
                .is_some()
            {
                continue;
            }
            let body = serde_json::to_string(&DraftRequest::Withdrawn {
                draft_id: draft_id.to_string(),
            })
            .expect("serialisable");
            self.draft_queue
                .send(&QueueMessage {
                    body,
                    group_id: format!("withdrawn-{draft_id}"),
                    dedup_id: short_hash(&["withdrawn", draft_id]),
                })
                .await
                .map_err(queue_err)?;
        }
        Ok(())
    }

    /// Drafts are never forgotten and never sent by waiting: a draft waiting longer than
    /// `review.remind_after_hours` is reminded once a day; with `review.notify =
    /// "daily_digest"` one digest a day (after `review.digest_hour`, local) lists the queue.
    async fn reminders_and_digest(&self, now: Timestamp) -> Result<(usize, bool), WorkError> {
        let c = &self.core;
        let review = &c.config.review;
        let local = now.to_zoned(c.config.timezone());
        let day = local.date().to_string();
        self.queue_weekly_summary(now).await?;
        if review.notify == crate::config::NotifyMode::DailyDigest {
            let marker = format!("digest:{day}");
            // Only with something to list; a draft written by this sweep is in the next one's.
            let waiting = !c
                .store
                .drafts_by_status(DraftStatus::Pending, None, 1)
                .await?
                .is_empty();
            if waiting
                && local.hour() >= review.digest_hour as i8
                && c.store.marker(&marker).await?.is_none()
            {
                self.send_request(
                    DraftRequest::Digest { day: day.clone() },
                    "digest".into(),
                    short_hash(&["digest", &day]),
                )
                .await?;
                c.store.set_marker(&marker, &now.to_string()).await?;
                return Ok((0, true));
            }
            return Ok((0, false));
        }
        if review.remind_after_hours == 0 {
            return Ok((0, false));
        }
        let waited = jiff::SignedDuration::from_hours(review.remind_after_hours as i64);
        let day_ago = jiff::SignedDuration::from_hours(23);
        let mut reminded = 0;
        for d in c
            .store
            .drafts_by_status(DraftStatus::Pending, Some(now - waited), PAGE)
            .await?
        {
            if d.notified_at
                .is_some_and(|at| now.duration_since(at) < day_ago)
            {
                continue;
            }
            self.send_request(
                DraftRequest::Remind {
                    draft_id: d.id.clone(),
                },
                keys::queue_group(&d.deal),
                short_hash(&["remind", &d.id, &day]),
            )
            .await?;
            reminded += 1;
        }
        Ok((reminded, false))
    }

    /// A request to generate-draft, deduplicated by `dedup` within its group.
    async fn send_request(
        &self,
        request: DraftRequest,
        group: String,
        dedup: String,
    ) -> Result<(), WorkError> {
        let body = serde_json::to_string(&request).expect("serialisable");
        self.draft_queue
            .send(&QueueMessage {
                body,
                group_id: group,
                dedup_id: dedup,
            })
            .await
            .map_err(queue_err)
    }

    /// The weekly summary, once per week, at its day and hour in the founder's time zone.
    async fn queue_weekly_summary(&self, now: Timestamp) -> Result<(), WorkError> {
        let c = &self.core;
        let review = &c.config.review;
        let local = now.to_zoned(c.config.timezone());
        let summary_on = !review.summary_day.eq_ignore_ascii_case("off");
        // Summaries are due from the first sweep on: a deployment (or a runner) that starts on
        // a Monday after 08:00 sends its first summary the next Monday, not at start-up.
        let summaries_since = if summary_on {
            match c
                .store
                .marker(SUMMARIES_SINCE)
                .await?
                .and_then(|v| v.parse::<Timestamp>().ok())
            {
                Some(t) => t,
                None => {
                    c.store
                        .set_marker(SUMMARIES_SINCE, &now.to_string())
                        .await?;
                    now
                }
            }
        } else {
            now
        };
        // The latest scheduled time at or before now (this week's, or last week's when today
        // is before it): a week whose summary day passed without a sweep still gets it.
        let days_back = (0..7)
            .find(|d| {
                local
                    .date()
                    .checked_sub(jiff::Span::new().days(*d))
                    .is_ok_and(|day| {
                        day.strftime("%A")
                            .to_string()
                            .eq_ignore_ascii_case(&review.summary_day)
                            && rules::local_time_on(
                                day,
                                u32::from(review.summary_hour),
                                &c.config.timezone(),
                            ) <= now
                    })
            })
            .unwrap_or(7);
        let scheduled = local
            .date()
            .checked_sub(jiff::Span::new().days(days_back))
            .map(|day| {
                rules::local_time_on(day, u32::from(review.summary_hour), &c.config.timezone())
            })
            .ok();
        if let Some(scheduled) = scheduled.filter(|s| summary_on && *s >= summaries_since) {
            let week = super::summary::week_label(c, scheduled);
            let marker = format!("summary:queued:{week}");
            if c.store.marker(&marker).await?.is_none() {
                self.send_request(
                    DraftRequest::WeeklySummary { week: week.clone() },
                    "summary".into(),
                    short_hash(&["summary", &week]),
                )
                .await?;
                c.store.set_marker(&marker, &now.to_string()).await?;
            }
        }
        Ok(())
    }
}
