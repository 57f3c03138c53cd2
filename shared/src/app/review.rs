//! The approval endpoint: the only service that holds a `Sender`. GET shows, never changes
//! state; POST decides. Sending moves PENDING -> SENDING -> SENT by conditional writes, so
//! double clicks, concurrent requests and retries send at most once; the trigger is re-checked
//! right before sending and a draft whose reason is gone is superseded instead.

use std::sync::Arc;

use jiff::SignedDuration;
use serde::Deserialize;
use serde_json::{json, Value};

use super::pages;
use super::{audit, record_event, Core};
use crate::domain::{
    AuditEntry, DealEvent, DealSnapshot, Decision, DecisionAction, DomainEvent, Draft, DraftStatus,
    EventKind, OutboundEmail, SentMessage, SentReceipt,
};
use crate::drafting::missing_marker;
use crate::error::Chain;
use crate::http::{self, ApiError, Request, Response};
use crate::ports::{EventPublisher, SendError, Sender, SentLookup, StoreError};
use crate::rules;
use crate::tokens::{Scope, TokenError, TokenSigner};
use tracing::Instrument;

pub struct Review {
    pub core: Core,
    pub sender: Arc<dyn Sender>,
    pub events: Arc<dyn EventPublisher>,
    pub tokens: TokenSigner,
    pub public_base_url: String,
}

#[derive(Debug, Default, Deserialize)]
struct DecisionForm {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    snooze_hours: Option<String>,
}

/// A draft still SENDING this long after its approval was interrupted mid-send.
const RESUME_AFTER: SignedDuration = SignedDuration::from_secs(60);

fn send_error(e: SendError) -> ApiError {
    match e {
        SendError::Unavailable(cause) => ApiError::Transient(cause),
        SendError::Rejected(cause) => ApiError::bad_request(format!(
            "the mail service rejected the message: {}",
            Chain(&*cause)
        )),
    }
}

fn token_error(e: TokenError) -> ApiError {
    ApiError::Unauthorized(e.to_string())
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Transient(e.into())
}

/// A unified line diff between the drafted and the sent text.
fn diff(before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(2)
        .header("drafted", "sent")
        .to_string()
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

fn already_decided(d: &Draft) -> ApiError {
    let message = match (&d.decision, d.status) {
        (Some(x), _) => format!(
            "draft already decided: {} by {} at {} (status {})",
            x.action.as_str(),
            x.by,
            x.at,
            d.status
        ),
        (None, DraftStatus::Superseded) => format!(
            "draft was superseded: {}",
            d.superseded_reason
                .as_deref()
                .unwrap_or("its trigger no longer holds")
        ),
        (None, s) => format!("draft is {s}"),
    };
    ApiError::Conflict {
        message,
        detail: decided_detail(d),
    }
}

impl Review {
    pub async fn handle(&self, req: Request) -> Response {
        let wants_json = http::wants_json(req.headers());
        // The path names the draft; the query (the token) is never logged.
        let span = tracing::info_span!(
            "review",
            method = %req.method(),
            draft_id = tracing::field::Empty,
            deal = tracing::field::Empty
        );
        if let Some(id) = req.uri().path().strip_prefix("/review/") {
            span.record("draft_id", id.trim_end_matches('/'));
        }
        let result = self.route(req).instrument(span.clone()).await;
        let _in = span.enter();
        match &result {
            Ok(r) => tracing::info!(status = r.status().as_u16(), "review request answered"),
            Err(e) if !e.status().is_server_error() => {
                tracing::info!(status = e.status().as_u16(), error = %e.log_summary(), "review request refused");
            }
            Err(_) => {}
        }
        match (result, wants_json) {
            (Ok(r), _) => r,
            (Err(e), true) => e.into_response(),
            (Err(e), false) => {
                let status = e.status();
                if status.is_server_error() {
                    return e.into_response();
                }
                http::html_response(status, pages::message("Cannot do that", &e.to_string()))
            }
        }
    }

    async fn route(&self, req: Request) -> Result<Response, ApiError> {
        http::check_size(req.body())?;
        let path = req.uri().path().trim_end_matches('/').to_string();
        let wants_json = http::wants_json(req.headers());
        match (req.method().clone(), path.strip_prefix("/review")) {
            (http::Method::GET, Some("")) => self.queue(&req, wants_json).await,
            (http::Method::GET, Some(rest)) if rest.starts_with('/') => {
                self.show(&rest[1..], &req, wants_json).await
            }
            (http::Method::POST, Some(rest)) if rest.starts_with('/') && rest.len() > 1 => {
                self.decide(&rest[1..], &req, wants_json).await
            }
            (m, Some(_)) => Err(ApiError::MethodNotAllowed(format!(
                "{m} {path} is not supported"
            ))),
            _ => Err(ApiError::NotFound(format!("no route for {path}"))),
        }
    }

    fn draft_token(&self, id: &str, now: jiff::Timestamp) -> String {
        let ttl = SignedDuration::from_hours(self.core.config.review.token_ttl_hours as i64);
        self.tokens
            .sign(Scope::Draft(id), &self.core.config.founder.email, now + ttl)
    }

    /// The founder's queue link (printed by the local runner, sent in summaries).
    pub fn queue_url(&self) -> String {
        let now = self.core.clock.now();
        let ttl = SignedDuration::from_hours(self.core.config.review.token_ttl_hours as i64);
        let token = self
            .tokens
            .sign(Scope::Queue, &self.core.config.founder.email, now + ttl);
        format!(
            "{}/review?token={token}",
            self.public_base_url.trim_end_matches('/')
        )
    }

    async fn queue(&self, req: &Request, wants_json: bool) -> Result<Response, ApiError> {
        let now = self.core.clock.now();
        let token = http::query_param(req.uri().query(), "token");
        self.tokens
            .verify(Scope::Queue, token.as_deref(), now)
            .map_err(token_error)?;
        let mut drafts = self
            .core
            .store
            .drafts_by_status(DraftStatus::Pending, None, 200)
            .await
            .map_err(store_error)?;
        drafts.extend(
            self.core
                .store
                .drafts_by_status(DraftStatus::Snoozed, None, 200)
                .await
                .map_err(store_error)?,
        );
        let items: Vec<Value> = drafts
            .iter()
            .map(|d| {
                json!({
                    "draft_id": d.id, "deal": d.deal_name, "trigger": d.context.trigger_label, "status": d.status,
                    "subject": d.subject, "created_at": d.created_at, "incomplete": d.is_incomplete(),
                    "review_url": format!("/review/{}?token={}", d.id, self.draft_token(&d.id, now)),
                })
            })
            .collect();
        if wants_json {
            return Ok(http::json_response(
                http::StatusCode::OK,
                &json!({ "pending": items }),
            ));
        }
        Ok(http::html_response(
            http::StatusCode::OK,
            pages::queue(&items),
        ))
    }

    async fn load(&self, id: &str) -> Result<Draft, ApiError> {
        self.core
            .store
            .get_draft(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::NotFound(format!("no draft `{id}`")))
    }

    async fn show(&self, id: &str, req: &Request, wants_json: bool) -> Result<Response, ApiError> {
        let now = self.core.clock.now();
        let token = http::query_param(req.uri().query(), "token");
        self.tokens
            .verify(Scope::Draft(id), token.as_deref(), now)
            .map_err(token_error)?;
        let draft = self.load(id).await?;
        if wants_json {
            return Ok(http::json_response(
                http::StatusCode::OK,
                &serde_json::to_value(&draft).expect("serialisable"),
            ));
        }
        Ok(http::html_response(
            http::StatusCode::OK,
            pages::draft(
                &draft,
                token.as_deref().unwrap_or(""),
                self.core.config.review.snooze_hours,
            ),
        ))
    }

    async fn decide(
        &self,
        id: &str,
        req: &Request,
        wants_json: bool,
    ) -> Result<Response, ApiError> {
        let now = self.core.clock.now();
        match http::media_type(req.headers()).as_deref() {
            Some("application/x-www-form-urlencoded") => {}
            other => {
                return Err(ApiError::BadRequest {
                    message: format!(
                        "unsupported content type `{}`; send the form as application/x-www-form-urlencoded",
                        other.unwrap_or("(none)")
                    ),
                    detail: json!({ "expected_content_type": "application/x-www-form-urlencoded" }),
                })
            }
        }
        let form: DecisionForm = serde_urlencoded::from_bytes(req.body())
            .map_err(|e| ApiError::bad_request(format!("malformed form: {e}")))?;
        let approver = self
            .tokens
            .verify(Scope::Draft(id), form.token.as_deref(), now)
            .map_err(token_error)?;
        let action = form
            .action
            .as_deref()
            .and_then(DecisionAction::parse)
            .ok_or_else(|| ApiError::BadRequest {
                message: format!(
                    "`action` must be approve, reject or snooze, got `{}`",
                    form.action.as_deref().unwrap_or("")
                ),
                detail: json!({ "allowed_actions": ["approve", "reject", "snooze"] }),
            })?;
        let draft = self.load(id).await?;
        tracing::Span::current().record("deal", tracing::field::display(&draft.deal));
        let interrupted = draft.status == DraftStatus::Sending
            && action == DecisionAction::Approve
            && draft
                .decision
                .as_ref()
                .is_some_and(|d| now.duration_since(d.at) >= RESUME_AFTER);
        if interrupted {
            tracing::info!("approved again while left sending: looking in Sent");
            let result = self.resume(draft, &approver).await?;
            return Ok(self.answer(result, wants_json));
        }
        if !draft.status.is_open() {
            return Err(already_decided(&draft));
        }
        tracing::info!(action = ?action, "decision received");
        let result = match action {
            DecisionAction::Approve => self.approve(draft, &approver, &form).await?,
            DecisionAction::Reject => self.reject(draft, &approver, &form).await?,
            DecisionAction::Snooze => self.snooze(draft, &approver, &form).await?,
        };
        Ok(self.answer(result, wants_json))
    }

    fn answer(&self, result: Value, wants_json: bool) -> Response {
        if wants_json {
            return http::json_response(http::StatusCode::OK, &result);
        }
        let title = result["status"].as_str().unwrap_or("Done").to_string();
        let text = result["message"].as_str().unwrap_or("").to_string();
        http::html_response(http::StatusCode::OK, pages::message(&title, &text))
    }

    /// Move an open draft to `next`; losing the race means someone else decided first.
    async fn transition(&self, draft: &Draft, expected: DraftStatus) -> Result<(), ApiError> {
        match self.core.store.update_draft(draft, expected).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(already_decided(&self.load(&draft.id).await?)),
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
        let subject = form
            .subject
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| draft.subject.clone());
        let body = form
            .body
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| draft.body.clone());
        // Normalise browser line endings so an untouched textarea is not an "edit".
        let body = body.replace("\r\n", "\n");
        let still_missing: Vec<&String> = draft
            .missing
            .iter()
            .filter(|m| subject.contains(&missing_marker(m)) || body.contains(&missing_marker(m)))
            .collect();
        if !still_missing.is_empty() {
            return Err(ApiError::BadRequest {
                message: format!(
                    "the draft is incomplete: fill in {} before approving",
                    still_missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                detail: json!({ "missing": still_missing }),
            });
        }
        let Some(to) = draft.to.clone() else {
            return Err(ApiError::BadRequest {
                message: "the deal has no contact email; add one in the CRM, then approve again"
                    .into(),
                detail: json!({ "missing": ["contact.email"] }),
            });
        };
        let expected = draft.status;

        // Re-check the trigger on the deal as it is now.
        let deal = c.store.get_deal(&draft.deal).await.map_err(store_error)?;
        let stop = match &deal {
            None => Some("the deal no longer exists".to_string()),
            Some(d) => rules::still_holds(d, draft.trigger, &draft.occurrence, &c.config, now)
                .err()
                .map(|s| s.to_string()),
        };
        if let Some(reason) = stop {
            draft.status = DraftStatus::Superseded;
            draft.superseded_reason = Some(reason.clone());
            self.transition(&draft, expected).await?;
            audit(
                &*c.audit,
                AuditEntry::new(
                    now,
                    "draft.superseded",
                    approver,
                    json!({ "reason": reason }),
                )
                .deal(&draft.deal)
                .draft(&draft.id),
            )
            .await
            .map_err(store_error)?;
            return Err(ApiError::Conflict {
                message: format!(
                    "not sent: {reason} since this draft was written, so it was superseded"
                ),
                detail: decided_detail(&draft),
            });
        }

        let edited = subject != draft.subject || body != draft.body;
        let change = edited.then(|| {
            let mut d = String::new();
            if subject != draft.subject {
                d.push_str(&format!(
                    "-Subject: {}\n+Subject: {}\n",
                    draft.subject, subject
                ));
            }
            d.push_str(&diff(&draft.body, &body));
            d
        });
        let email = OutboundEmail {
            draft_id: draft.id.clone(),
            from: c.config.founder.from.clone(),
            to: to.clone(),
            reply_to: Some(c.config.founder.email.clone()),
            subject: subject.clone(),
            body: body.clone(),
            // Continue the deal's conversation, in its thread.
            thread: deal.as_ref().and_then(|d| d.conversation.clone()),
        };
        draft.status = DraftStatus::Sending;
        draft.decision = Some(Decision {
            action: DecisionAction::Approve,
            by: approver.into(),
            at: now,
            reason: None,
            edited,
            diff: change.clone(),
        });
        draft.outgoing = Some(email.clone());
        self.transition(&draft, expected).await?;
        audit(
            &*c.audit,
            AuditEntry::new(
                now,
                "draft.approved",
                approver,
                json!({ "edited": edited, "diff": change, "subject": subject }),
            )
            .deal(&draft.deal)
            .draft(&draft.id),
        )
        .await
        .map_err(store_error)?;
        self.deliver(draft, email, approver, Some(expected)).await
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
                if let Some(expected) = back_to {
                    let mut back = draft.clone();
                    back.status = expected;
                    back.decision = None;
                    back.outgoing = None;
                    let _ = c.store.update_draft(&back, DraftStatus::Sending).await;
                }
                audit(
                    &*c.audit,
                    AuditEntry::new(
                        c.clock.now(),
                        "send.failed",
                        approver,
                        json!({ "error": e.to_string() }),
                    )
                    .deal(&draft.deal)
                    .draft(&draft.id),
                )
                .await
                .map_err(store_error)?;
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
            return Err(already_decided(&draft));
        };
        let lookup = self.sender.find_sent(&email).await.map_err(send_error)?;
        let (kind, found) = match &lookup {
            SentLookup::Found(r) => ("send.found_in_sent", Some(r.id.clone())),
            SentLookup::NotFound => ("send.resumed", None),
            // Nowhere to look: sending again could send twice.
            SentLookup::CannotLook => return Err(already_decided(&draft)),
        };
        audit(
            &*c.audit,
            AuditEntry::new(
                c.clock.now(),
                kind,
                approver,
                json!({ "message_id": found, "rfc_message_id": email.message_id() }),
            )
            .deal(&draft.deal)
            .draft(&draft.id),
        )
        .await
        .map_err(store_error)?;
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
        audit(
            &*c.audit,
            AuditEntry::new(
                now,
                "message.sent",
                approver,
                json!({ "message_id": message_id, "to": to, "subject": subject, "in_reply_to": email.thread.as_ref().and_then(|t| t.message_id.clone()) }),
            )
            .deal(&draft.deal)
            .draft(&draft.id),
        )
        .await
        .map_err(store_error)?;
        let snapshot = receipt.conversation.map(|t| DealSnapshot {
            links: vec![crate::mail::thread_link(&t.mailbox, &t.thread_id)],
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
        let now = self.core.clock.now();
        let reason = form
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ApiError::BadRequest {
                message: "a rejection needs a `reason`".into(),
                detail: json!({ "missing": ["reason"] }),
            })?;
        let expected = draft.status;
        draft.status = DraftStatus::Rejected;
        draft.decision = Some(Decision {
            action: DecisionAction::Reject,
            by: approver.into(),
            at: now,
            reason: Some(reason.into()),
            edited: false,
            diff: None,
        });
        self.transition(&draft, expected).await?;
        audit(
            &*self.core.audit,
            AuditEntry::new(now, "draft.rejected", approver, json!({ "reason": reason }))
                .deal(&draft.deal)
                .draft(&draft.id),
        )
        .await
        .map_err(store_error)?;
        Ok(
            json!({ "draft_id": draft.id, "status": "REJECTED", "message": format!("Rejected: {reason}. Nothing was sent.") }),
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
        audit(
            &*self.core.audit,
            AuditEntry::new(
                now,
                "draft.snoozed",
                approver,
                json!({ "until": until, "hours": hours }),
            )
            .deal(&draft.deal)
            .draft(&draft.id),
        )
        .await
        .map_err(store_error)?;
        Ok(
            json!({ "draft_id": draft.id, "status": "SNOOZED", "snoozed_until": until, "message": format!("Snoozed until {until}; you will be reminded then.") }),
        )
    }
}
