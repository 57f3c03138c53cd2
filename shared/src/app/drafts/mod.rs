//! Generate the draft for a fired trigger from the founder's template, put it in the review
//! queue, and tell the founder with a signed review link.

mod facts;
mod model;
mod notes;
mod turns;
pub mod voice;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::json;

use self::facts::call_facts;
pub use self::facts::{brief_facts, template_facts};
use super::{audit, draft_id, short_hash, Core, DraftRequest, WorkError};
use crate::domain::{
    AuditEntry, AuditKind, Deal, Draft, DraftContext, DraftStatus, FounderNotification,
};
use crate::ports::{Notifier, Queue, StoreError};
use crate::rules;
use crate::tokens::{Scope, TokenSigner};
use tracing::Instrument;

pub struct Drafter {
    pub core: Core,
    pub notifier: Arc<dyn Notifier>,
    /// The CRM write-back queue (a delivered brief is logged on the deal).
    pub crm_writes: Arc<dyn Queue>,
    pub tokens: TokenSigner,
    pub public_base_url: String,
    /// The founder's model, when drafts are written by one (`[drafting]`); the template
    /// writes them otherwise, and whenever the model's draft does not pass.
    pub writer: Option<Arc<dyn crate::ports::DraftWriter>>,
    /// The model's caps: tokens per draft, calls per day.
    pub drafting: crate::config::Drafting,
}

/// What a draft is written from: its facts by variable, the timeline read for them, a call's
/// CRM update, and what a model did reading the call's notes.
struct Gathered {
    facts: std::collections::BTreeMap<String, crate::domain::Fact>,
    timeline: Vec<crate::domain::DealEvent>,
    crm_update: Option<crate::domain::CrmUpdate>,
    model: Option<crate::domain::ModelUse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DraftOutcome {
    Created {
        draft_id: String,
        incomplete: bool,
    },
    /// The draft existed (a retry); the founder was notified if that had not happened yet.
    Existing {
        draft_id: String,
    },
    /// Between firing and drafting the trigger stopped holding (e.g. the prospect replied).
    Stopped {
        reason: String,
    },
    DealGone,
    Renotified {
        draft_id: String,
    },
    Digest {
        drafts: usize,
    },
    NothingToDo,
}

impl DraftOutcome {
    fn log(&self) {
        match self {
            DraftOutcome::Created {
                draft_id,
                incomplete,
            } => tracing::info!(%draft_id, incomplete, "draft created and the founder notified"),
            DraftOutcome::Existing { draft_id } => {
                tracing::info!(%draft_id, "draft already existed (a retry)");
            }
            DraftOutcome::Stopped { reason } => {
                tracing::info!(%reason, "trigger stopped holding before drafting");
            }
            DraftOutcome::DealGone => tracing::info!("deal no longer exists; nothing drafted"),
            DraftOutcome::Renotified { draft_id } => {
                tracing::info!(%draft_id, "founder notified again");
            }
            DraftOutcome::Digest { drafts } => tracing::info!(drafts, "daily digest sent"),
            DraftOutcome::NothingToDo => tracing::info!("nothing to do"),
        }
    }
}

impl Drafter {
    pub async fn handle(&self, body: &str) -> Result<DraftOutcome, WorkError> {
        let req: DraftRequest =
            serde_json::from_str(body).map_err(|e| WorkError::Invalid(e.to_string()))?;
        let outcome = match req {
            DraftRequest::Generate { firing } => {
                let span = tracing::info_span!(
                    "draft",
                    deal = %firing.deal,
                    trigger = firing.trigger.as_str()
                );
                self.generate(firing)
                    .instrument(span.clone())
                    .await
                    .inspect(|o| {
                        let _in = span.enter();
                        o.log();
                    })
            }
            DraftRequest::Remind { draft_id } => match self.still_waiting(&draft_id).await? {
                Some(d) if d.status == DraftStatus::Pending => {
                    let span = tracing::info_span!("draft", deal = %d.deal, draft_id = %d.id);
                    self.notify(d).instrument(span.clone()).await?;
                    span.in_scope(|| tracing::info!("reminded of a draft still waiting"));
                    Ok(DraftOutcome::Renotified { draft_id })
                }
                _ => Ok(DraftOutcome::NothingToDo),
            },
            DraftRequest::Withdrawn { draft_id } => self.withdrawn(&draft_id).await,
            DraftRequest::Digest { day } => self.digest(&day).await,
            DraftRequest::WeeklySummary { week } => self.weekly_summary(&week).await,
            DraftRequest::Renotify { draft_id } => match self.still_waiting(&draft_id).await? {
                Some(d) if d.status == DraftStatus::Pending => {
                    let span = tracing::info_span!("draft", deal = %d.deal, draft_id = %d.id);
                    self.notify(d).instrument(span.clone()).await?;
                    span.in_scope(|| tracing::info!("snoozed draft back in the queue"));
                    Ok(DraftOutcome::Renotified { draft_id })
                }
                _ => Ok(DraftOutcome::NothingToDo),
            },
        }?;
        Ok(outcome)
    }

    /// A waiting draft about to be put before the founder again (a reminder, a snooze's end),
    /// re-checked first: one whose reason went without an event to say so (a meeting held
    /// since it was written) is withdrawn instead, and the founder told why.
    async fn still_waiting(&self, draft_id: &str) -> Result<Option<Draft>, WorkError> {
        let c = &self.core;
        let Some(draft) = c.store.get_draft(draft_id).await? else {
            return Ok(None);
        };
        if !draft.status.is_open() || !draft.trigger.writes_to_prospect() {
            return Ok(Some(draft));
        }
        let Some(deal) = c.store.get_deal(&draft.deal).await? else {
            return Ok(Some(draft));
        };
        let now = c.clock.now();
        let check = rules::still_holds(
            &deal,
            draft.trigger,
            &draft.occurrence,
            draft.created_at,
            &c.config,
            now,
        );
        let Err(stop) = check else {
            return Ok(Some(draft));
        };
        super::withdraw(
            &*c.store,
            &*c.audit,
            &c.config,
            now,
            draft,
            &deal,
            &stop,
            "generate-draft",
            json!({ "when": "before a reminder" }),
        )
        .await?;
        Ok(c.store.get_draft(draft_id).await?)
    }

    /// A draft withdrawn because its deal talked: its Slack message says why and loses its
    /// buttons now, not when someone next presses one. Once per draft.
    async fn withdrawn(&self, draft_id: &str) -> Result<DraftOutcome, WorkError> {
        let c = &self.core;
        let shown = super::withdrawn_shown_marker(draft_id);
        if c.store.marker(&shown).await?.is_some() {
            return Ok(DraftOutcome::NothingToDo);
        }
        let Some(draft) = c.store.get_draft(draft_id).await? else {
            return Ok(DraftOutcome::NothingToDo);
        };
        if draft.status != DraftStatus::Superseded {
            return Ok(DraftOutcome::NothingToDo);
        }
        let words = draft
            .superseded_reason
            .clone()
            .unwrap_or_else(|| "Withdrawn: the deal moved on.".into());
        self.notifier
            .decided(&draft, &words)
            .await
            .map_err(|e| WorkError::Retryable(Box::new(e)))?;
        c.store
            .set_marker(&shown, &c.clock.now().to_string())
            .await?;
        tracing::info!(draft_id, "withdrawn draft shown on its notifications");
        Ok(DraftOutcome::Renotified {
            draft_id: draft_id.to_string(),
        })
    }

    async fn generate(&self, firing: crate::domain::Firing) -> Result<DraftOutcome, WorkError> {
        let c = &self.core;
        let id = draft_id(&firing);
        if let Some(existing) = c.store.get_draft(&id).await? {
            self.resume(existing).await?;
            return Ok(DraftOutcome::Existing { draft_id: id });
        }
        let Some(deal) = c.store.get_deal(&firing.deal).await? else {
            return Ok(DraftOutcome::DealGone);
        };
        let now = c.clock.now();
        if let Err(stop) = rules::still_holds(
            &deal,
            firing.trigger,
            &firing.occurrence,
            firing.fired_at,
            &c.config,
            now,
        ) {
            audit(
                &*c.audit,
                AuditEntry::new(
                    now,
                    AuditKind::TriggerStopped,
                    "generate-draft",
                    json!({ "occurrence": firing.occurrence, "reason": stop.to_string() }),
                )
                .deal(&deal.key),
            )
            .await?;
            return Ok(DraftOutcome::Stopped {
                reason: stop.to_string(),
            });
        }
        let Gathered {
            facts,
            timeline,
            crm_update,
            model: notes_model,
        } = self.facts(&deal, &firing, now).await?;
        let mut document = None;
        let mut rendered = if firing.trigger == crate::domain::TriggerKind::ProposalDraft {
            let Some(proposal) = c.config.proposal_for(deal.deal_type.as_deref()) else {
                return self.no_proposal_template(&deal, &firing).await;
            };
            let (rendered, doc) = proposal_draft(proposal, &facts, &deal, &c.config, now);
            document = Some(doc);
            rendered
        } else {
            c.config
                .templates
                .render(firing.trigger, deal.deal_type.as_deref(), &facts)
                .ok_or_else(|| WorkError::Invalid(format!("no template for {}", firing.trigger)))?
        };
        let model = match firing.trigger {
            crate::domain::TriggerKind::CallNotes => notes_model,
            crate::domain::TriggerKind::MeetingPrep => {
                self.with_brief(&firing, &facts, &timeline, &mut rendered)
                    .await?
            }
            _ => {
                self.with_model(&firing, &facts, &timeline, &mut rendered)
                    .await?
            }
        };
        let mut missing = rendered.missing.clone();
        // A brief goes to the founder; a follow-up to the deal's contact; a CRM update to no one.
        let to = recipient(&deal, firing.trigger, &c.config);
        if to.is_none() && firing.trigger.writes_to_prospect() {
            missing.push("recipient email (contact.email)".into());
        }
        let draft = Draft {
            id: id.clone(),
            deal: deal.key.clone(),
            deal_name: deal.name.clone(),
            trigger: firing.trigger,
            occurrence: firing.occurrence.clone(),
            status: if firing.trigger.is_internal() {
                DraftStatus::Brief
            } else {
                DraftStatus::Pending
            },
            to,
            // A follow-up to a prospect continues the conversation the deal already has.
            subject: match (&deal.conversation, firing.trigger.writes_to_prospect()) {
                (Some(thread), true) => crate::domain::headers::subject(&thread.reply_subject()),
                _ => rendered.subject,
            },
            body: rendered.body,
            missing,
            context: DraftContext {
                model,
                ..draft_context(&firing, &deal, rendered.used, rendered.template, now)
            },
            created_at: now,
            notified_at: None,
            snoozed_until: None,
            decision: None,
            outgoing: None,
            sent: None,
            superseded_reason: None,
            crm_update,
            document,
            writeback: None,
        };
        self.record_new(&draft, now).await?;
        let incomplete = draft.is_incomplete();
        if draft.status == DraftStatus::Brief {
            self.brief(draft).await?;
        } else {
            if self.per_draft() {
                self.notify(draft).await?;
            }
        }
        Ok(DraftOutcome::Created {
            draft_id: id,
            incomplete,
        })
    }

    /// What a draft is written from: the deal's facts (with a brief's timeline lines, or the
    /// last conversation for a follow-up), the timeline read for them, and a call's CRM update.
    async fn facts(
        &self,
        deal: &Deal,
        firing: &crate::domain::Firing,
        now: Timestamp,
    ) -> Result<Gathered, WorkError> {
        let c = &self.core;
        let trigger = firing.trigger;
        let mut facts = template_facts(deal, &c.config, now);
        let timeline = if trigger.is_internal() || trigger.writes_to_prospect() {
            c.store.timeline(&deal.key).await?
        } else {
            Vec::new()
        };
        if trigger.is_internal() {
            // A brief before a call: what the timeline says, each line with its source.
            facts.extend(brief_facts(&timeline, &c.config, now));
        } else {
            // The last call and the prospect's last question, for the templates that use them.
            facts.extend(facts::conversation_facts(&timeline));
        }
        // A call's notes: the CRM update they call for, and the notes to log.
        let (crm_update, model) = match (&deal.last_call_note, firing.trigger) {
            (Some(note), crate::domain::TriggerKind::CallNotes) => {
                // Free-text notes: the founder's model reads them, if there is one.
                let (reading, model) = self.read_call_notes(firing, note).await?;
                let update =
                    super::writeback::call_update_read(deal, note, &c.config, reading.as_ref());
                facts.extend(call_facts(note, &update, &c.config));
                (Some(update), model)
            }
            _ => (None, None),
        };
        Ok(Gathered {
            facts,
            timeline,
            crm_update,
            model,
        })
    }

    /// Store a new draft and audit it, once (a retried message finds it written).
    async fn record_new(&self, draft: &Draft, now: Timestamp) -> Result<(), WorkError> {
        let c = &self.core;
        let id = &draft.id;
        if c.store.create_draft(draft).await? {
            audit(
                &*c.audit,
                AuditEntry {
                    id: format!("draft-created-{id}"),
                    ..AuditEntry::new(now, AuditKind::DraftCreated, "generate-draft", json!({
                        "trigger": draft.trigger, "occurrence": draft.occurrence, "subject": draft.subject,
                        "body": draft.body, "missing": draft.missing, "template": draft.context.template,
                    }))
                }
                .deal(&draft.deal)
                .draft(id),
            )
            .await?;
        }
        Ok(())
    }

    /// A draft written before (a retried message): tell the founder if that did not happen yet.
    async fn resume(&self, existing: Draft) -> Result<(), WorkError> {
        match existing.status {
            DraftStatus::Pending if existing.notified_at.is_none() && self.per_draft() => {
                self.notify(existing).await?;
            }
            DraftStatus::Brief if existing.notified_at.is_none() => {
                self.brief(existing).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// One notification per draft, or a daily digest instead.
    fn per_draft(&self) -> bool {
        self.core.config.review.notify == crate::config::NotifyMode::Each
    }

    /// The daily digest: every waiting draft, best first, with one link each and the queue's.
    async fn digest(&self, day: &str) -> Result<DraftOutcome, WorkError> {
        let c = &self.core;
        let now = c.clock.now();
        let tz = c.config.timezone();
        let drafts = c
            .store
            .drafts_by_status(DraftStatus::Pending, None, 200)
            .await?;
        if drafts.is_empty() {
            return Ok(DraftOutcome::Digest { drafts: 0 });
        }
        let mut ranked = Vec::new();
        for d in drafts {
            let deal = c.store.get_deal(&d.deal).await?;
            let score = super::present::priority(&d, deal.as_ref(), &c.config, now);
            let why = super::present::why(&d, deal.as_ref(), now, &tz);
            ranked.push((score, d, why));
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut body = format!(
            "{} drafts wait for your decision. Nothing is sent until you approve.\n\n",
            ranked.len()
        );
        for (_, d, why) in ranked.iter().take(50) {
            body.push_str(&format!(
                "- {}: {why}\n  {}\n",
                d.deal_name,
                self.review_url(&d.id, now)
            ));
        }
        let queue = self.queue_url(now);
        body.push_str(&format!("\nEverything waiting for you: {queue}\n"));
        let note = FounderNotification {
            to: c.config.founder.email.clone(),
            subject: format!("draftgate: {} drafts waiting ({day})", ranked.len()),
            body,
            draft_id: None,
            deal_name: String::new(),
            review_url: Some(queue),
            personal: false,
        };
        self.notifier
            .notify(&note)
            .await
            .map_err(|e| WorkError::Retryable(Box::new(e)))?;
        audit(
            &*c.audit,
            AuditEntry {
                id: format!("digest-{}", short_hash(&[day])),
                ..AuditEntry::new(
                    now,
                    AuditKind::DigestSent,
                    "draftgate",
                    json!({ "day": day, "drafts": ranked.len() }),
                )
            },
        )
        .await?;
        Ok(DraftOutcome::Digest {
            drafts: ranked.len(),
        })
    }

    /// The weekly pipeline summary: built, kept for `GET /summary`, and sent once per week
    /// (a redelivered request finds the week's audit entry and sends nothing).
    async fn weekly_summary(&self, week: &str) -> Result<DraftOutcome, WorkError> {
        let c = &self.core;
        let sent = format!("summary:sent:{week}");
        if c.store.marker(&sent).await?.is_some() {
            return Ok(DraftOutcome::NothingToDo);
        }
        let summary = super::summary::build(c).await?;
        c.store
            .set_marker(
                super::summary::LATEST,
                &serde_json::to_string(&summary).expect("serialisable"),
            )
            .await?;
        let now = c.clock.now();
        let page = self.summary_url(now);
        let note = FounderNotification {
            to: c.config.founder.email.clone(),
            subject: format!("draftgate: your pipeline, week {}", summary.week),
            body: format!("{}\nAs a page: {page}\n", summary.text()),
            draft_id: None,
            deal_name: String::new(),
            review_url: Some(page),
            personal: false,
        };
        self.notifier
            .notify(&note)
            .await
            .map_err(|e| WorkError::Retryable(Box::new(e)))?;
        c.store.set_marker(&sent, &now.to_string()).await?;
        audit(
            &*c.audit,
            AuditEntry {
                id: format!("summary-{}", short_hash(&[week])),
                ..AuditEntry::new(now, AuditKind::SummarySent, "draftgate", json!({ "week": week, "open_deals": summary.open_deals.len(), "lost": summary.lost.len(), "won": summary.won.len() }))
            },
        )
        .await?;
        Ok(DraftOutcome::Digest {
            drafts: summary.open_deals.len(),
        })
    }

    /// The summary page's link.
    pub fn summary_url(&self, now: Timestamp) -> String {
        self.link("/summary", Scope::Queue, now)
    }

    /// A fresh link to the founder's whole queue, carried by every notification.
    pub fn queue_url(&self, now: Timestamp) -> String {
        self.link("/review", Scope::Queue, now)
    }

    pub fn review_url(&self, draft_id: &str, now: Timestamp) -> String {
        self.link(&format!("/review/{draft_id}"), Scope::Draft(draft_id), now)
    }

    /// `path` with the founder's token for `scope`, valid for the configured lifetime.
    fn link(&self, path: &str, scope: Scope<'_>, now: Timestamp) -> String {
        let ttl = SignedDuration::from_hours(self.core.config.review.token_ttl_hours as i64);
        let token = self
            .tokens
            .sign(scope, &self.core.config.founder.email, now + ttl);
        format!(
            "{}{path}?token={token}",
            self.public_base_url.trim_end_matches('/')
        )
    }

    /// Deliver an internal brief to the founder: no review link, nothing to decide.
    /// No proposal template for the deal's engagement type: nothing is guessed, and the founder
    /// is told with the next notification, once per engagement type (like an unmapped stage).
    async fn no_proposal_template(
        &self,
        deal: &Deal,
        firing: &crate::domain::Firing,
    ) -> Result<DraftOutcome, WorkError> {
        let c = &self.core;
        let now = c.clock.now();
        let kind = deal.deal_type.as_deref().unwrap_or("(none)");
        let known: Vec<String> = c
            .config
            .proposals
            .iter()
            .map(|p| format!("{} ({})", p.name, p.engagement_types.join(", ")))
            .collect();
        let text = format!(
            "{} entered the proposal stage, but no proposal template is for its engagement type `{kind}`, so none was drafted. Templates: {}. Add its type to one in [[proposals]] of the config, or write the proposal yourself.",
            deal.name,
            known.join("; ")
        );
        c.store
            .add_notice(&format!("proposal-template:{kind}"), &text)
            .await?;
        audit(
            &*c.audit,
            AuditEntry {
                id: format!(
                    "no-proposal-template-{}",
                    short_hash(&[&firing.occurrence, &deal.key.to_string()])
                ),
                ..AuditEntry::new(
                    now,
                    AuditKind::ProposalNoTemplate,
                    "generate-draft",
                    json!({ "engagement_type": deal.deal_type, "occurrence": firing.occurrence }),
                )
            }
            .deal(&deal.key),
        )
        .await?;
        Ok(DraftOutcome::Stopped {
            reason: format!("no proposal template for engagement type `{kind}`"),
        })
    }

    async fn brief(&self, mut draft: Draft) -> Result<(), WorkError> {
        let c = &self.core;
        let now = c.clock.now();
        let mut body = draft.body.clone();
        if draft.is_incomplete() {
            body.push_str(&format!(
                "\n(Not in the CRM yet: {})\n",
                draft.missing.join(", ")
            ));
        }
        let note = FounderNotification {
            to: c.config.founder.email.clone(),
            subject: draft.subject.clone(),
            body,
            draft_id: None,
            deal_name: draft.deal_name.clone(),
            review_url: None,
            personal: false,
        };
        self.notifier
            .notify(&note)
            .await
            .map_err(|e| WorkError::Retryable(e.into()))?;
        audit(
            &*c.audit,
            AuditEntry::new(
                now,
                AuditKind::BriefSent,
                "generate-draft",
                json!({ "to": note.to, "subject": note.subject, "trigger": draft.trigger }),
            )
            .deal(&draft.deal)
            .draft(&draft.id),
        )
        .await?;
        // The deal's record shows the brief was delivered.
        let job = super::writeback::job_for(
            &c.config,
            &draft,
            Some(crate::ports::Activity {
                kind: crate::ports::ActivityKind::Note,
                subject: format!("Meeting brief delivered to {}", note.to),
                body: draft.body.clone(),
                at: now,
                by: "draftgate".into(),
                to: None,
            }),
            &[],
        );
        super::writeback::enqueue(&*self.crm_writes, &self.core.config, &job)
            .await
            .map_err(|e| WorkError::Retryable(Box::new(e)))?;
        draft.notified_at = Some(now);
        match c.store.update_draft(&draft, DraftStatus::Brief).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn notify(&self, mut draft: Draft) -> Result<(), WorkError> {
        let c = &self.core;
        let now = c.clock.now();
        let review_url = self.review_url(&draft.id, now);
        let to = match (&draft.to, draft.trigger.is_crm_update()) {
            (_, true) => format!("{} only (nothing goes to the prospect)", draft.deal.crm),
            (Some(to), false) => to.clone(),
            (None, false) => "(no recipient yet)".into(),
        };
        let mut body = format!(
            "{} on {}.\n\nTo: {to}\nSubject: {}\n",
            draft.context.trigger_label, draft.deal_name, draft.subject
        );
        // The diff an approval writes (from Slack too), line by line.
        if let Some(update) = draft.crm_update.as_ref().filter(|u| !u.changes.is_empty()) {
            body.push_str(&format!("Changes to {} if approved:\n", draft.deal.crm));
            for ch in &update.changes {
                body.push_str(&format!(
                    "- {}: {}{}\n",
                    ch.field.label(),
                    ch.from
                        .as_deref()
                        .map(|f| format!("{f} -> "))
                        .unwrap_or_default(),
                    ch.shown.as_deref().unwrap_or(&ch.to)
                ));
            }
        }
        if let Some(days) = draft.context.days_since_last_contact {
            body.push_str(&format!("Days since last contact: {days}\n"));
        }
        if let Some(i) = &draft.context.last_interaction {
            body.push_str(&format!(
                "Last interaction: {} ({})\n",
                i.summary,
                i.at.strftime("%Y-%m-%d")
            ));
        }
        if draft.is_incomplete() {
            body.push_str(&format!(
                "\nIncomplete, fill in before sending: {}\n",
                draft.missing.join(", ")
            ));
        }
        body.push_str(&format!("\nReview, edit, approve or reject: {review_url}\n\nNothing is sent until you approve.\n"));
        body.push_str(&format!(
            "Everything waiting for you: {}\n",
            self.queue_url(now)
        ));
        let notices = c.store.notices(20).await?;
        if !notices.is_empty() {
            body.push_str("\nNeeds your attention:\n");
            for (_, text) in &notices {
                body.push_str(&format!("- {text}\n"));
            }
        }
        let note = FounderNotification {
            to: c.config.founder.email.clone(),
            subject: format!(
                "Draft to review: {} ({})",
                draft.deal_name, draft.context.trigger_label
            ),
            body,
            draft_id: Some(draft.id.clone()),
            deal_name: draft.deal_name.clone(),
            review_url: Some(review_url),
            personal: false,
        };
        self.notifier
            .notify(&note)
            .await
            .map_err(|e| WorkError::Retryable(e.into()))?;
        for (key, _) in &notices {
            // A withdrawal told here is shown on its Slack message first (if the sweep has
            // not done it yet), so removing the notice never loses that.
            if let Some(id) = key.strip_prefix("withdrawn:") {
                Box::pin(self.withdrawn(id)).await?;
            }
            c.store.remove_notice(key).await?;
        }
        audit(
            &*c.audit,
            AuditEntry::new(
                now,
                AuditKind::FounderNotified,
                "generate-draft",
                json!({ "to": note.to, "subject": note.subject }),
            )
            .deal(&draft.deal)
            .draft(&draft.id),
        )
        .await?;
        draft.notified_at = Some(now);
        match c.store.update_draft(&draft, DraftStatus::Pending).await {
            // Already decided or snoozed by the time we got here: the notification stands.
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A proposal rendered from the founder's template, and its printable document.
fn proposal_draft(
    proposal: &crate::config::ProposalTemplate,
    facts: &std::collections::BTreeMap<String, crate::domain::Fact>,
    deal: &Deal,
    config: &crate::config::Config,
    now: Timestamp,
) -> (crate::drafting::Rendered, String) {
    let rendered = crate::drafting::render_markdown(&proposal.template, facts);
    let document = super::document::proposal_document(
        &rendered.subject,
        &rendered.body,
        &deal.name,
        config,
        now,
    );
    let rendered = crate::drafting::Rendered {
        template: format!("{} ({})", proposal.name, rendered.template),
        ..rendered
    };
    (rendered, document)
}

/// A brief goes to the founder; a follow-up to the deal's contact; a CRM update to no one.
fn recipient(
    deal: &Deal,
    trigger: crate::domain::TriggerKind,
    config: &crate::config::Config,
) -> Option<String> {
    if trigger.is_internal() {
        Some(config.founder.email.clone())
    } else if trigger.is_crm_update() {
        None
    } else {
        deal.contact_email
            .clone()
            .or_else(|| deal.facts.get("contact.email").map(|f| f.value.clone()))
    }
}

/// Why the draft exists and what it rests on, for the review page.
fn draft_context(
    firing: &crate::domain::Firing,
    deal: &Deal,
    facts: Vec<crate::domain::FactUse>,
    template: String,
    now: Timestamp,
) -> DraftContext {
    DraftContext {
        trigger_label: firing.trigger.label().into(),
        due_at: firing.due_at,
        fired_at: firing.fired_at,
        days_since_last_contact: deal
            .last_contact_at()
            .map(|t| now.duration_since(t).as_hours() / 24),
        last_interaction: deal.last_interaction.clone(),
        facts,
        stage: deal.stage,
        template,
        model: None,
    }
}
