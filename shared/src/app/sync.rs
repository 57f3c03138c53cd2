//! The CRM sync: every open deal on the first run, then only what each CRM changed since the last
//! one, recorded as canonical events through the same path as a webhook's. It heals what webhooks
//! missed (a Pipedrive webhook deleted after days of failures, HubSpot giving up after 24 h) and
//! makes deals that never sent a webhook known.
//!
//! Every event's id derives from what the CRM says (the deal's stage and when it entered it, its
//! update time, each activity's id), so a second run over the same data records nothing new.
//! A CRM's watermark moves only after every page was recorded: a CRM that is down or rate-limits
//! past the client's patience delays the sync and leaves the state as it was.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tracing::Instrument;

use super::{record_event, Core, WorkError};
use crate::domain::{DealEvent, DealRef, EventKind};
use crate::error::Chain;
use crate::ports::{CrmSource, Recorded, SyncedDeal};

/// Re-read this much before the watermark: CRMs stamp updates to the second, and an update in
/// the same second as the last one read must not be missed (re-reads are duplicates).
const OVERLAP: SignedDuration = SignedDuration::from_secs(60);

pub struct Syncer {
    pub core: Core,
    pub sources: Vec<Arc<dyn CrmSource>>,
    /// Where won and lost deals the sync finds are announced.
    pub events: Arc<dyn crate::ports::EventPublisher>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CrmSummary {
    pub crm: String,
    /// `full` (first run: every open deal) or `since <watermark>`.
    pub mode: String,
    pub pages: usize,
    pub deals: usize,
    /// Events recorded now (new to draftgate).
    pub recorded: usize,
    /// Events draftgate already had (from webhooks or an earlier sync).
    pub unchanged: usize,
    /// Set when this CRM could not be read; its watermark did not move.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    pub crms: Vec<CrmSummary>,
}

fn marker_name(crm: &str) -> String {
    format!("sync:{crm}")
}

/// The canonical events a listed deal stands for, in the order they apply.
pub fn deal_events(crm: &str, d: &SyncedDeal) -> Vec<DealEvent> {
    let deal = DealRef::new(crm, d.id.clone());
    let event = |id: String, at: Timestamp, kind: EventKind| DealEvent {
        id,
        deal: deal.clone(),
        occurred_at: at,
        source: crm.to_string(),
        kind,
        snapshot: None,
    };
    let mut events = Vec::new();
    if d.deleted {
        events.push(event(
            format!("sync:{crm}:{}:deleted", d.id),
            d.updated_at,
            EventKind::DealDeleted,
        ));
        return events;
    }
    // The stage first, at the time the deal entered it, so an idle deal is known to be idle.
    if let Some(raw) = &d.snapshot.raw_stage {
        let entered = d.stage_entered_at.unwrap_or(d.updated_at);
        let mut e = event(
            format!("sync:{crm}:{}:stage:{raw}:{}", d.id, entered.as_second()),
            entered,
            EventKind::StageChanged {
                raw_stage: raw.clone(),
            },
        );
        e.snapshot = Some(d.snapshot.clone());
        events.push(e);
    }
    for a in &d.activities {
        events.push(event(
            format!("sync:{crm}:activity:{}", a.id),
            a.at,
            a.kind.clone(),
        ));
    }
    // The details as of the CRM's last change (name, amount, contact).
    let mut updated = event(
        format!("sync:{crm}:{}:updated:{}", d.id, d.updated_at.as_second()),
        d.updated_at,
        EventKind::DealUpdated,
    );
    updated.snapshot = Some(d.snapshot.clone());
    events.push(updated);
    events
}

impl Syncer {
    /// One run over every configured CRM. A CRM that fails is reported and retried next run;
    /// the others are still synced.
    pub async fn run(&self) -> SyncSummary {
        let mut summary = SyncSummary::default();
        for source in &self.sources {
            let crm = source.crm();
            let span = tracing::info_span!("sync", crm);
            let mut s = CrmSummary {
                crm: crm.to_string(),
                ..Default::default()
            };
            let result = self
                .sync_one(&**source, &mut s)
                .instrument(span.clone())
                .await;
            let _in = span.enter();
            if let Err(e) = result {
                tracing::warn!(error = %Chain(&e), "CRM sync stopped; the watermark did not move");
                s.error = Some(Chain(&e).to_string());
            } else {
                tracing::info!(
                    deals = s.deals,
                    recorded = s.recorded,
                    unchanged = s.unchanged,
                    "CRM synced"
                );
            }
            drop(_in);
            summary.crms.push(s);
        }
        summary
    }

    async fn sync_one(&self, source: &dyn CrmSource, s: &mut CrmSummary) -> Result<(), WorkError> {
        let c = &self.core;
        let crm = source.crm();
        let watermark: Option<Timestamp> = c
            .store
            .marker(&marker_name(crm))
            .await?
            .and_then(|v| v.parse().ok());
        let since = watermark.map(|w| w - OVERLAP);
        s.mode = match watermark {
            Some(w) => format!("since {w}"),
            None => "full".into(),
        };
        let mut newest = watermark;
        let mut page: Option<String> = None;
        loop {
            let p = source
                .deals(since, page.as_deref())
                .await
                .map_err(|e| WorkError::Retryable(e.into()))?;
            s.pages += 1;
            for d in &p.deals {
                s.deals += 1;
                newest = newest.max(Some(d.updated_at));
                for event in deal_events(crm, d) {
                    if let Some(why) = crate::domain::checks::event_problem(
                        &event,
                        c.clock.now(),
                        c.config.crms.numeric_ids(&event.deal.crm),
                    ) {
                        tracing::warn!(event = %event.id, %why, "synced event not recorded");
                        continue;
                    }
                    match record_event(&*c.store, &*c.audit, &c.config, &*c.clock, &event, "sync")
                        .await?
                    {
                        Recorded::Applied => s.recorded += 1,
                        Recorded::Duplicate => s.unchanged += 1,
                    }
                    if let EventKind::StageChanged { .. } = event.kind {
                        if let Some(deal) = c.store.get_deal(&event.deal).await? {
                            if let Some(a) = super::outcome::closing(&c.config, &deal, &event) {
                                self.events
                                    .publish(&a)
                                    .await
                                    .map_err(|e| WorkError::Retryable(Box::new(e)))?;
                            }
                        }
                    }
                }
            }
            match p.next {
                Some(next) => page = Some(next),
                None => break,
            }
        }
        // A first run over an empty pipeline still starts the incremental ones from now.
        let mark = newest.unwrap_or_else(|| c.clock.now());
        c.store
            .set_marker(&marker_name(crm), &mark.to_string())
            .await?;
        Ok(())
    }
}
