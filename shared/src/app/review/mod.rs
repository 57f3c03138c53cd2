//! Decisions on drafts: the only service that holds a `Sender`. A decision (approve, edit then
//! send, reject, snooze) arrives already authenticated from the review page or Slack (`http`). Sending moves PENDING -> SENDING -> SENT by conditional writes, so
//! double clicks, concurrent requests and retries send at most once; the trigger is re-checked
//! right before sending and a draft whose reason is gone is superseded instead.

mod form;

use std::sync::Arc;

use jiff::SignedDuration;
use serde_json::{json, Value};

pub(crate) use self::form::DecisionForm;
use self::form::{approved_text, edit_diff, rejection, Rejection};
use super::ApiError;
use super::{audit, record_event, Core};
use crate::domain::{
    AuditEntry, AuditKind, DealEvent, DealSnapshot, Decision, DecisionAction, DomainEvent, Draft,
    DraftStatus, EventKind, FieldChange, OutboundEmail, SentMessage, SentReceipt, Writeback,
    WritebackStatus,
};
use crate::error::Chain;
use crate::ports::{
    Activity, ActivityKind, EventPublisher, Notifier, Queue, SendError, Sender, SentLookup,
    StoreError,
};
use crate::rules;
use crate::tokens::{Scope, TokenError, TokenSigner};

pub struct Review {
    pub core: Core,
    pub sender: Arc<dyn Sender>,
    /// Emails a fresh link to an approver who asks from an expired one, and shows each
    /// decision on the notifications (the Slack message loses its buttons).
    pub notifier: Arc<dyn Notifier>,
    /// Verifies `POST /slack/interactivity` (`SLACK_SIGNING_SECRET`); `None` refuses it.
    pub slack_signing_secret: Option<crate::secret::Secret>,
    pub events: Arc<dyn EventPublisher>,
    /// The CRM write-back queue: approved changes and activities are written from there.
    pub crm_writes: Arc<dyn Queue>,
    pub tokens: TokenSigner,
    pub public_base_url: String,
}

/// "Approved by alex@… Tue 14:10", "Rejected by … : reason", "Superseded: …".
pub(crate) fn decision_words(
    d: &Draft,
    now: jiff::Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Option<String> {
    use super::present::when;
    if let (DraftStatus::Snoozed, Some(until)) = (d.status, d.snoozed_until) {
        return Some(format!(
            "Snoozed until {}; it comes back then",
            when(until, now, tz)
        ));
    }
    if let Some(x) = &d.decision {
        let verb = match x.action {
            DecisionAction::Approve if d.status == DraftStatus::Sent => "Approved and sent",
            DecisionAction::Approve if d.status == DraftStatus::Approved => "Approved for the CRM",
            DecisionAction::Approve => "Approved",
            DecisionAction::Reject => "Rejected",
            DecisionAction::Snooze => "Snoozed",
        };
        let mut out = format!("{verb} by {} {}", x.by, when(x.at, now, tz));
        if x.edited {
            out.push_str(" (edited)");
        }
        if let Some(r) = &x.reason {
            out.push_str(&format!(": {r}"));
        }
        return Some(out);
    }
    d.superseded_reason.clone()
}

/// A draft still SENDING this long after its approval was interrupted mid-send.
const RESUME_AFTER: SignedDuration = SignedDuration::from_secs(60);

/// Where a draft left SENDING stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Unfinished {
    /// Within [`RESUME_AFTER`] of its approval: someone may still be sending it.
    Wait,
    /// Later: approving again finishes it, looking for the message before sending.
    Finish,
}

/// `None` for every draft not left SENDING.
pub(crate) fn unfinished_send(d: &Draft, now: jiff::Timestamp) -> Option<Unfinished> {
    let at = d.decision.as_ref()?.at;
    (d.status == DraftStatus::Sending).then(|| {
        if now.duration_since(at) >= RESUME_AFTER {
            Unfinished::Finish
        } else {
            Unfinished::Wait
        }
    })
}

fn send_error(e: SendError) -> ApiError {
    match e {
        SendError::Unavailable(cause) => ApiError::Transient(cause),
        SendError::Rejected(cause) => ApiError::bad_request(format!(
            "the mail service rejected the message: {}",
            Chain(&*cause)
        )),
    }
}

pub(crate) fn token_error(e: TokenError) -> ApiError {
    ApiError::Unauthorized(e.to_string())
}

pub(crate) fn store_error(e: StoreError) -> ApiError {
    ApiError::Transient(e.into())
}

/// What the page or JSON says about an already-decided draft.
fn decided_detail(d: &Draft) -> Value {
    json!({
        "draft_id": d.id,
        "status": d.status,
        "decided_by": d.decision.as_ref().map(|x| x.by.clone()),
        "decision": d.decision.as_ref().map(|x| x.action),
        "decided_at": d.decision.as_ref().map(|x| x.at),
        "reason": d.decision.as_ref().and_then(|x| x.reason.clone()).or(d.superseded_reason.clone()),
    })
}

/// A draft decided already, its decision's time as the founder reads it ("Tue 14:10").
fn already_decided(d: &Draft, now: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> ApiError {
    let message = match (&d.decision, d.status) {
        (Some(x), _) => format!(
            "draft already decided: {} by {} at {} (status {})",
            x.action.as_str(),
            x.by,
            super::present::when(x.at, now, tz),
            d.status
        ),
        (None, DraftStatus::Superseded) => d
            .superseded_reason
            .clone()
            .unwrap_or_else(|| "Not sent: this draft was withdrawn.".into()),
        (None, s) => format!("draft is {s}"),
    };
    ApiError::Conflict {
        message,
        detail: decided_detail(d),
    }
}

/// The answer to approving a CRM update: what is being written, in words.
fn crm_update_approved(draft: &Draft, changes: &[FieldChange]) -> Value {
    let what = match changes.len() {
        0 => "the note".to_string(),
        1 => "1 change and the note".to_string(),
        n => format!("{n} changes and the note"),
    };
    json!({
        "draft_id": draft.id, "status": "APPROVED", "crm_changes": changes,
        "message": format!("Approved: {what} are being written to {}.", draft.deal.crm),
    })
}

impl Review {
    /// The answer to approving a withdrawn draft: 409, in words, with the reason and a link to
    /// the deal (its CRM page, or the draft's own page).
    fn withdrawn(
        &self,
        draft: &Draft,
        approver: &str,
        now: jiff::Timestamp,
        words: String,
        reason: Option<String>,
    ) -> ApiError {
        let mut detail = decided_detail(draft);
        detail["withdrawn"] = json!(true);
        detail["reason"] = json!(reason.unwrap_or_else(|| words.clone()));
        detail["deal_url"] = json!(super::present::crm_link(&self.core.config, draft)
            .unwrap_or_else(|| self.review_url(&draft.id, approver, now)));
        ApiError::Conflict {
            message: words,
            detail,
        }
    }

    /// The draft's page, for `approver`.
    pub(crate) fn review_url(&self, id: &str, approver: &str, now: jiff::Timestamp) -> String {
        format!(
            "{}/review/{id}?token={}",
            self.public_base_url.trim_end_matches('/'),
            self.draft_token(id, approver, now)
        )
    }

    pub(crate) fn draft_token(&self, id: &str, approver: &str, now: jiff::Timestamp) -> String {
        let ttl = SignedDuration::from_hours(self.core.config.review.token_ttl_hours as i64);
        self.tokens.sign(Scope::Draft(id), approver, now + ttl)
    }

    /// The founder's queue link (printed by the local runner, sent in summaries).
    pub fn queue_url(&self) -> String {
        let link = self.queue_link(
            &self.core.config.founder.email,
            self.core.clock.now(),
            false,
        );
        format!("{}{link}", self.public_base_url.trim_end_matches('/'))
    }

    pub(crate) fn queue_link(&self, approver: &str, now: jiff::Timestamp, history: bool) -> String {
        let ttl = SignedDuration::from_hours(self.core.config.review.token_ttl_hours as i64);
        let token = self.tokens.sign(Scope::Queue, approver, now + ttl);
        format!(
            "/review?token={token}{}",
            if history { "&view=history" } else { "" }
        )
    }

    pub(crate) async fn load(&self, id: &str) -> Result<Draft, ApiError> {
        self.core
            .store
            .get_draft(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::NotFound(format!("no draft `{id}`")))
    }

    /// One decision by `approver` (already authenticated: a review link, or a Slack user who is
    /// a configured approver), through the same path whatever it came from. Afterwards the
    /// notification channels show the outcome (the Slack message loses its buttons).
    pub(crate) async fn decide_as(
        &self,
        id: &str,
        approver: &str,
        action: DecisionAction,
        form: &DecisionForm,
    ) -> Result<Value, ApiError> {
        let now = self.core.clock.now();
        let draft = self.load(id).await?;
        tracing::Span::current().record("deal", tracing::field::display(&draft.deal));
        let interrupted = action == DecisionAction::Approve
            && unfinished_send(&draft, now) == Some(Unfinished::Finish);
        let result = if interrupted {
            tracing::info!("approved again while left sending: looking in Sent");
            self.resume(draft, approver).await
        } else if draft.status == DraftStatus::Superseded {
            // Withdrawn (its deal talked, or moved): the same answer whenever it is asked.
            let words = draft
                .superseded_reason
                .clone()
                .unwrap_or_else(|| "Not sent: this draft was withdrawn.".into());
            Err(self.withdrawn(&draft, approver, now, words, None))
        } else if !draft.status.is_open() {
            Err(self.already_decided(&draft))
        } else {
            tracing::info!(action = ?action, "decision received");
            match action {
                DecisionAction::Approve => self.approve(draft, approver, form).await,
                DecisionAction::Reject => self.reject(draft, approver, form).await,
                DecisionAction::Snooze => self.snooze(draft, approver, form).await,
            }
        };
        // Whatever happened (decided now, or long ago), channels show the draft as it is.
        if let Ok(Some(d)) = self.core.store.get_draft(id).await {
            if !d.status.is_open() || d.status == DraftStatus::Snoozed {
                let words = decision_words(&d, now, &self.core.config.timezone())
                    .unwrap_or_else(|| d.status.to_string());
                if let Err(e) = self.notifier.decided(&d, &words).await {
                    tracing::warn!(error = %Chain(&e), "the decision could not be shown on the notification");
                }
            }
        }
        result
    }

    /// Move an open draft to `next`; losing the race means someone else decided first.
    fn already_decided(&self, d: &Draft) -> ApiError {
        already_decided(d, self.core.clock.now(), &self.core.config.timezone())
    }

    async fn transition(&self, draft: &Draft, expected: DraftStatus) -> Result<(), ApiError> {
        match self.core.store.update_draft(draft, expected).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(self.already_decided(&self.load(&draft.id).await?)),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn approve(
        &self,
        mut draft: Draft,
        approver: &str,
        form: &DecisionForm,
    ) -> Result<Value, ApiError> {
        let c = &self.core;
        let now = c.clock.now();
        let (subject, body) = approved_text(&draft, form)?;
        let crm_only = draft.trigger.is_crm_update();
        let to = match draft.to.clone() {
            Some(to) => to,
            None if crm_only => String::new(),
            None => {
                return Err(ApiError::BadRequest {
                    message:
                        "the deal has no contact email; add one in the CRM, then approve again"
                            .into(),
                    detail: json!({ "missing": ["contact.email"] }),
                })
            }
        };
        let expected = draft.status;

        // Re-check the trigger on the deal as it is now.
        let deal = c.store.get_deal(&draft.deal).await.map_err(store_error)?;
        self.withdraw_if_gone(&mut draft, deal.as_ref(), approver, expected, now)
            .await?;

        let change = edit_diff(&draft, &subject, &body);
        let edited = change.is_some();
        // A proposal is kept as Markdown (its printable page); its message carries it as text.
        let message_body = if draft.trigger == crate::domain::TriggerKind::ProposalDraft {
            crate::drafting::markdown_plain(&body)
        } else {
            body.clone()
        };
        // Exactly the changes approved, with the record of what was done, for the CRM.
        let changes = form.approved_changes(&draft);
        let job = super::writeback::job_for(
            &c.config,
            &draft,
            Some(Activity {
                kind: if crm_only {
                    ActivityKind::Note
                } else {
                    ActivityKind::Email
                },
                subject: subject.clone(),
                body: message_body.clone(),
                at: now,
                by: approver.into(),
                to: (!crm_only).then(|| to.clone()),
            }),
            &changes,
        );
        let writes = !job.ops.is_empty() && self.core.config.crms.writes_to(&draft.deal.crm);
        if writes {
            draft.writeback = Some(Writeback {
                status: WritebackStatus::Queued,
                at: now,
                changes: changes.clone(),
                attempts: 0,
                error: None,
            });
        }
        let decision = Decision {
            action: DecisionAction::Approve,
            by: approver.into(),
            at: now,
            reason: None,
            edited,
            diff: change.clone(),
        };
        // A CRM update is approved as edited and sends nothing; a message goes out from here.
        let email = (!crm_only).then(|| OutboundEmail {
            draft_id: draft.id.clone(),
            from: c.config.founder.from.clone(),
            to: to.clone(),
            reply_to: Some(c.config.founder.email.clone()),
            subject: subject.clone(),
            body: message_body.clone(),
            // Continue the deal's conversation, in its thread.
            thread: deal.as_ref().and_then(|d| d.conversation.clone()),
        });
        if crm_only {
            draft.status = DraftStatus::Approved;
            draft.subject = subject.clone();
            draft.body = body.clone();
        } else {
            draft.status = DraftStatus::Sending;
        }
        draft.decision = Some(decision);
        draft.outgoing = email.clone();
        self.transition(&draft, expected).await?;
        self.queue_writes(&draft, expected, &job).await?;
        self.audit_decision(
            &draft,
            AuditKind::DraftApproved,
            approver,
            now,
            json!({ "edited": edited, "diff": change, "subject": subject, "crm_changes": changes }),
        )
        .await?;
        let Some(email) = email else {
            return Ok(crm_update_approved(&draft, &changes));
        };
        self.deliver(draft, email, approver, Some(expected)).await
    }

    /// One audit entry about `draft`, by `by`.
    async fn audit_decision(
        &self,
        draft: &Draft,
        kind: AuditKind,
        by: &str,
        at: jiff::Timestamp,
        detail: Value,
    ) -> Result<(), ApiError> {
        audit(
            &*self.core.audit,
            AuditEntry::new(at, kind, by, detail)
                .deal(&draft.deal)
                .draft(&draft.id),
        )
        .await
        .map_err(store_error)
    }

    /// Supersede `draft` when its reason is gone from the deal as it is now (a reply, a held
    /// meeting, a deleted deal), and answer with why: nothing is sent.
    async fn withdraw_if_gone(
        &self,
        draft: &mut Draft,
        deal: Option<&crate::domain::Deal>,
        approver: &str,
        expected: DraftStatus,
        now: jiff::Timestamp,
    ) -> Result<(), ApiError> {
        let c = &self.core;
        let stop = match deal {
            None => Some(rules::StopReason::Deleted),
            Some(d) => rules::still_holds(
                d,
                draft.trigger,
                &draft.occurrence,
                draft.created_at,
                &c.config,
                now,
            )
            .err(),
        };
        if let Some(stop) = stop {
            let reason = stop.to_string();
            let words = super::present::withdrawn(deal, &stop, draft.trigger, now, None);
            draft.status = DraftStatus::Superseded;
            draft.superseded_reason = Some(super::present::withdrawn(
                deal,
                &stop,
                draft.trigger,
                now,
                Some(&c.config.timezone()),
            ));
            self.transition(draft, expected).await?;
            self.audit_decision(
                draft,
                AuditKind::DraftSuperseded,
                approver,
                now,
                json!({ "reason": reason, "words": words }),
            )
            .await?;
            return Err(self.withdrawn(draft, approver, now, words, Some(reason)));
        }
        Ok(())
    }

    /// Queue the CRM writes of a draft just approved (the worker writes them once the draft is
    /// SENT or APPROVED). If the queue is unavailable the decision is undone, so the founder
    /// approves again rather than losing the write.
    async fn queue_writes(
        &self,
        draft: &Draft,
        back_to: DraftStatus,
        job: &super::writeback::WriteJob,
    ) -> Result<(), ApiError> {
        let Err(e) = super::writeback::enqueue(&*self.crm_writes, &self.core.config, job).await
        else {
            return Ok(());
        };
        tracing::warn!(error = %Chain(&e), "the CRM write-back queue is unavailable; decision undone");
        let mut back = draft.clone();
        back.status = back_to;
        back.decision = None;
        back.outgoing = None;
        back.writeback = None;
        let _ = self.core.store.update_draft(&back, draft.status).await;
        Err(ApiError::Transient(Box::new(e)))
    }

    /// Send an approved message. If the send fails, the draft goes back to `back_to` so the
    /// founder can try again; a resumed send (`None`) stays SENDING.
    async fn deliver(
        &self,
        draft: Draft,
        email: OutboundEmail,
        approver: &str,
        back_to: Option<DraftStatus>,
    ) -> Result<Value, ApiError> {
        let c = &self.core;
        let receipt = match self.sender.send(&email).await {
            Ok(r) => r,
            Err(e) => {
                // No clear refusal from a mailbox that keeps a Sent folder: the message may be
                // out. The draft stays SENDING; approving again looks in Sent before sending.
                let maybe_out = matches!(e, SendError::Unavailable(_)) && self.sender.finds_sent();
                if let Some(expected) = back_to.filter(|_| !maybe_out) {
                    let mut back = draft.clone();
                    back.status = expected;
                    back.decision = None;
                    back.outgoing = None;
                    back.writeback = None;
                    let _ = c.store.update_draft(&back, DraftStatus::Sending).await;
                }
                self.audit_decision(
                    &draft,
                    AuditKind::SendFailed,
                    approver,
                    c.clock.now(),
                    json!({ "error": e.to_string(), "maybe_out": maybe_out }),
                )
                .await?;
                return Err(send_error(e));
            }
        };
        self.sent(draft, email, receipt, approver).await
    }

    /// Approve again on a draft left SENDING by an interrupted send: look in the mailbox's Sent
    /// folder for it first, and send only if it is not there.
    async fn resume(&self, draft: Draft, approver: &str) -> Result<Value, ApiError> {
        let c = &self.core;
        let Some(email) = draft.outgoing.clone() else {
            return Err(self.already_decided(&draft));
        };
        let lookup = self.sender.find_sent(&email).await.map_err(send_error)?;
        let (kind, found) = match &lookup {
            SentLookup::Found(r) => (AuditKind::SendFoundInSent, Some(r.id.clone())),
            SentLookup::NotFound => (AuditKind::SendResumed, None),
            // Nowhere to look: sending again could send twice.
            SentLookup::CannotLook => return Err(self.already_decided(&draft)),
        };
        self.audit_decision(
            &draft,
            kind,
            approver,
            c.clock.now(),
            json!({ "message_id": found, "rfc_message_id": email.message_id() }),
        )
        .await?;
        match lookup {
            SentLookup::Found(receipt) => self.sent(draft, email, receipt, approver).await,
            _ => self.deliver(draft, email, approver, None).await,
        }
    }

    /// The message is out: record it on the draft, the audit log and the deal, and publish it.
    async fn sent(
        &self,
        mut draft: Draft,
        email: OutboundEmail,
        receipt: SentReceipt,
        approver: &str,
    ) -> Result<Value, ApiError> {
        let c = &self.core;
        let now = c.clock.now();
        let message_id = receipt.id.clone();
        let to = email.to.clone();
        let subject = email.subject.clone();
        let edited = draft.decision.as_ref().is_some_and(|d| d.edited);
        draft.status = DraftStatus::Sent;
        draft.sent = Some(SentMessage {
            message_id: message_id.clone(),
            at: now,
            to: to.clone(),
            subject: subject.clone(),
            body: email.body.clone(),
        });
        // The message is out; if recording that fails the draft stays SENDING, and approving
        // again finds the message in Sent instead of sending it twice.
        self.transition(&draft, DraftStatus::Sending).await?;
        self.audit_decision(&draft, AuditKind::MessageSent, approver, now, json!({ "message_id": message_id, "to": to, "subject": subject, "in_reply_to": email.thread.as_ref().and_then(|t| t.message_id.clone()) }))
            .await?;
        let snapshot = receipt.conversation.map(|t| DealSnapshot {
            links: vec![crate::domain::mail::thread_link(&t.mailbox, &t.thread_id)],
            conversation: Some(t),
            ..DealSnapshot::default()
        });
        let sent_event = DealEvent {
            id: format!("draftgate:sent:{}", draft.id),
            deal: draft.deal.clone(),
            occurred_at: now,
            source: "draftgate".into(),
            kind: EventKind::FollowUpSent {
                draft_id: draft.id.clone(),
                subject: subject.clone(),
                trigger: Some(draft.trigger),
            },
            snapshot,
        };
        if let Err(e) = record_event(
            &*c.store,
            &*c.audit,
            &c.config,
            &*c.clock,
            &sent_event,
            approver,
        )
        .await
        {
            tracing::warn!(draft_id = %draft.id, error = %e, "sent, but recording the follow-up on the deal failed");
        }
        if let Err(e) = self
            .events
            .publish(&DomainEvent {
                detail_type: "draft.sent".into(),
                detail: json!({ "draft_id": draft.id, "deal": draft.deal, "trigger": draft.trigger, "approved_by": approver, "edited": edited, "message_id": message_id }),
            })
            .await
        {
            tracing::warn!(draft_id = %draft.id, error = %e, "sent, but publishing draft.sent failed");
        }
        // What the founder approves, as sent, is how the founder writes: the model's examples.
        if let Err(e) = crate::app::drafts::voice::remember(&*c.store, &email.body).await {
            tracing::warn!(draft_id = %draft.id, error = %e, "sent, but keeping it as a voice example failed");
        }
        Ok(
            json!({ "draft_id": draft.id, "status": "SENT", "message_id": message_id, "edited": edited, "message": format!("Sent to {to}.") }),
        )
    }

    async fn reject(
        &self,
        mut draft: Draft,
        approver: &str,
        form: &DecisionForm,
    ) -> Result<Value, ApiError> {
        let c = &self.core;
        let now = c.clock.now();
        let Rejection {
            kind,
            note,
            hold,
            reason,
        } = rejection(form, &draft, &c.config, now)?;
        let expected = draft.status;
        draft.status = DraftStatus::Rejected;
        draft.decision = Some(Decision {
            action: DecisionAction::Reject,
            by: approver.into(),
            at: now,
            reason: Some(reason.clone()),
            edited: false,
            diff: None,
        });
        self.transition(&draft, expected).await?;
        self.audit_decision(
            &draft,
            AuditKind::DraftRejected,
            approver,
            now,
            json!({ "reason": reason, "reason_kind": kind, "note": note, "hold": hold }),
        )
        .await?;
        let mut effect = "Nothing was sent.".to_string();
        if let Some(hold) = hold {
            effect = format!(
                "Nothing was sent; the deal is {}.",
                hold.describe(|t| { super::present::when(t, now, &c.config.timezone()) })
            );
            let event = DealEvent {
                id: format!("draftgate:hold:{}", draft.id),
                deal: draft.deal.clone(),
                occurred_at: now,
                source: "draftgate".into(),
                kind: EventKind::FounderHold {
                    hold,
                    by: approver.into(),
                    note: note.clone(),
                },
                snapshot: None,
            };
            record_event(&*c.store, &*c.audit, &c.config, &*c.clock, &event, approver)
                .await
                .map_err(store_error)?;
        }
        Ok(
            json!({ "draft_id": draft.id, "status": "REJECTED", "reason": reason, "reason_kind": kind, "message": format!("Rejected: {reason}. {effect}") }),
        )
    }

    async fn snooze(
        &self,
        mut draft: Draft,
        approver: &str,
        form: &DecisionForm,
    ) -> Result<Value, ApiError> {
        let now = self.core.clock.now();
        let hours = match form
            .snooze_hours
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => self.core.config.review.snooze_hours,
            Some(h) => h
                .parse::<u32>()
                .ok()
                .filter(|h| (1..=24 * 90).contains(h))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`snooze_hours` must be a whole number of hours from 1 to 2160, got `{h}`"
                    ))
                })?,
        };
        let until = now + SignedDuration::from_hours(hours as i64);
        let expected = draft.status;
        draft.status = DraftStatus::Snoozed;
        draft.snoozed_until = Some(until);
        self.transition(&draft, expected).await?;
        self.audit_decision(
            &draft,
            AuditKind::DraftSnoozed,
            approver,
            now,
            json!({ "until": until, "hours": hours }),
        )
        .await?;
        Ok(
            json!({ "draft_id": draft.id, "status": "SNOOZED", "snoozed_until": until, "message": format!("Snoozed until {}; you will be reminded then.", super::present::when(until, now, &self.core.config.timezone())) }),
        )
    }
}
