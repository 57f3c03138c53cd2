//! The review pages and API (`/review`, `/review/{id}`, `/summary`): routing, HEAD, the choice
//! of HTML or JSON, the forms' media type and origin, and the pages themselves. What a decision
//! does is `app::review`.

use jiff::SignedDuration;
use serde_json::{json, Value};
use tracing::Instrument;

use super::pages;
use crate::app::review::{
    decision_words, store_error, token_error, unfinished_send, DecisionForm, Review,
};
use crate::domain::{
    AuditEntry, AuditKind, CrmField, DecisionAction, DraftStatus, FounderNotification,
    REJECT_REASONS,
};
use crate::error::Chain;
use crate::http::{self, ApiError, Request, Response};
use crate::tokens::{Scope, TokenError};

impl Review {
    pub async fn handle(&self, req: Request) -> Response {
        // HEAD answers as GET would, without the body (link scanners use it; it never decides).
        if req.method() == http::Method::HEAD {
            let (mut parts, body) = req.into_parts();
            parts.method = http::Method::GET;
            let resp = Box::pin(self.handle(Request::from_parts(parts, body))).await;
            let (parts, _) = resp.into_parts();
            return Response::from_parts(parts, bytes::Bytes::new());
        }
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
                    // A person on a phone, not a client that retries: say where things stand.
                    tracing::warn!(error = %Chain(&e), "transient failure; the founder is asked to come back");
                    return http::html_response(
                        status,
                        pages::message(
                            "Not done yet",
                            "The service did not answer in time. Nothing is lost: open this draft \
                             again in a minute. It shows whether the message went out, and offers \
                             to finish sending it if it did not.",
                        ),
                    );
                }
                if let ApiError::Conflict { detail, message } = &e {
                    if let (Some(true), Some(link)) =
                        (detail["withdrawn"].as_bool(), detail["deal_url"].as_str())
                    {
                        return http::html_response(
                            status,
                            pages::message_with_link("Not sent", message, link, "See the deal"),
                        );
                    }
                }
                http::html_response(status, pages::message("Cannot do that", &e.to_string()))
            }
        }
    }

    async fn route(&self, req: Request) -> Result<Response, ApiError> {
        http::check_size(req.body())?;
        let path = req.uri().path().trim_end_matches('/').to_string();
        let wants_json = http::wants_json(req.headers());
        if path == "/summary" {
            return match *req.method() {
                http::Method::GET => self.summary(&req, wants_json).await,
                ref m => Err(ApiError::MethodNotAllowed(format!(
                    "{m} /summary is not supported"
                ))),
            };
        }
        match (req.method().clone(), path.strip_prefix("/review")) {
            (http::Method::GET, Some("")) => self.queue(&req, wants_json).await,
            (http::Method::GET, Some(rest)) if rest.ends_with("/document") && rest.len() > 10 => {
                self.document(&rest[1..rest.len() - "/document".len()], &req)
                    .await
            }
            (http::Method::GET, Some(rest)) if rest.starts_with('/') => {
                self.show(&rest[1..], &req, wants_json).await
            }
            // Every POST decides or sends mail: only from draftgate's own pages.
            (http::Method::POST, _) if path.starts_with("/review/") => {
                http::require_own_origin(req.headers(), &self.public_base_url)?;
                self.post(&path["/review".len()..], &req, wants_json).await
            }
            (m, Some(_)) => Err(ApiError::MethodNotAllowed(format!(
                "{m} {path} is not supported"
            ))),
            _ => Err(ApiError::NotFound(format!("no route for {path}"))),
        }
    }

    async fn post(
        &self,
        rest: &str,
        req: &Request,
        wants_json: bool,
    ) -> Result<Response, ApiError> {
        match rest {
            "/relink" => self.relink(None, req).await,
            rest if rest.ends_with("/relink") && rest.len() > 8 => {
                self.relink(Some(&rest[1..rest.len() - "/relink".len()]), req)
                    .await
            }
            rest => self.decide(&rest[1..], req, wants_json).await,
        }
    }

    async fn queue(&self, req: &Request, wants_json: bool) -> Result<Response, ApiError> {
        let c = &self.core;
        let now = c.clock.now();
        let token = http::query_param(req.uri().query(), "token");
        let approver = match self.tokens.verify(Scope::Queue, token.as_deref(), now) {
            Ok(a) => a,
            Err(e) if !wants_json => return Ok(self.link_problem(None, token.as_deref(), &e)),
            Err(e) => return Err(token_error(e)),
        };
        let history = http::query_param(req.uri().query(), "view").as_deref() == Some("history");
        let tz = c.config.timezone();
        let statuses: &[DraftStatus] = if history {
            &[
                DraftStatus::Sent,
                DraftStatus::Approved,
                DraftStatus::Rejected,
                DraftStatus::Superseded,
            ]
        } else {
            &[DraftStatus::Pending, DraftStatus::Snoozed]
        };
        let mut drafts = Vec::new();
        for st in statuses {
            drafts.extend(
                c.store
                    .drafts_by_status(*st, None, 200)
                    .await
                    .map_err(store_error)?,
            );
        }
        let mut items: Vec<(f64, Value)> = Vec::new();
        for d in &drafts {
            let deal = c.store.get_deal(&d.deal).await.map_err(store_error)?;
            let url = format!(
                "/review/{}?token={}",
                d.id,
                self.draft_token(&d.id, &approver, now)
            );
            let decided_at = d
                .decision
                .as_ref()
                .map(|x| x.at)
                .or(d.sent.as_ref().map(|x| x.at));
            let rank = if history {
                decided_at.unwrap_or(d.created_at).as_second() as f64
            } else {
                crate::app::present::priority(d, deal.as_ref(), &c.config, now)
            };
            items.push((
                rank,
                json!({
                    "draft_id": d.id, "deal": d.deal_name, "trigger": d.context.trigger_label, "status": d.status,
                    "subject": d.subject, "created_at": d.created_at, "incomplete": d.is_incomplete(),
                    "review_url": url,
                    "why": crate::app::present::why(d, deal.as_ref(), now, &tz),
                    "priority": rank,
                    "drafted": crate::app::present::ago(d.created_at, now),
                    "amount": deal.as_ref().and_then(|x| x.amount.map(|a| format!("{} {a:.0}", x.currency.clone().unwrap_or_default()).trim().to_string())),
                    "last_interaction": d.context.last_interaction.as_ref().map(|i| format!("{} ({})", i.summary, crate::app::present::ago(i.at, now))),
                    "decision": decision_words(d, now, &tz),
                }),
            ));
        }
        items.sort_by(|a, b| b.0.total_cmp(&a.0));
        let items: Vec<Value> = items.into_iter().map(|(_, v)| v).collect();
        let key = if history { "decided" } else { "pending" };
        if wants_json {
            return Ok(http::json_response(
                http::StatusCode::OK,
                &json!({ key: items }),
            ));
        }
        let view = json!({
            "items": items, "history": history, "count": if history { 0 } else { items.len() },
            "pending_url": self.queue_link(&approver, now, false),
            "history_url": self.queue_link(&approver, now, true),
        });
        Ok(http::html_response(
            http::StatusCode::OK,
            pages::queue(&view),
        ))
    }

    /// `GET /summary?token=…`: the latest weekly pipeline summary (or, before the first one,
    /// the pipeline as it is now).
    async fn summary(&self, req: &Request, wants_json: bool) -> Result<Response, ApiError> {
        let c = &self.core;
        let now = c.clock.now();
        let token = http::query_param(req.uri().query(), "token");
        let approver = match self.tokens.verify(Scope::Queue, token.as_deref(), now) {
            Ok(a) => a,
            Err(e) if !wants_json => return Ok(self.link_problem(None, token.as_deref(), &e)),
            Err(e) => return Err(token_error(e)),
        };
        let stored = c
            .store
            .marker(crate::app::summary::LATEST)
            .await
            .map_err(store_error)?
            .and_then(|s| serde_json::from_str::<crate::app::summary::WeeklySummary>(&s).ok());
        let summary = match stored {
            Some(s) => s,
            None => crate::app::summary::build(c).await.map_err(store_error)?,
        };
        if wants_json {
            return Ok(http::json_response(
                http::StatusCode::OK,
                &serde_json::to_value(&summary).expect("serialisable"),
            ));
        }
        let view = json!({
            "s": summary,
            "queue_url": self.queue_link(&approver, now, false),
            "median": summary.median_hours_to_decision,
            "money": summary.stages.iter().map(|s| s.value.iter().map(|(c, v)| format!("{c} {v:.0}").trim().to_string()).collect::<Vec<_>>().join(" + ")).collect::<Vec<_>>(),
        });
        Ok(http::html_response(
            http::StatusCode::OK,
            pages::summary(&view),
        ))
    }

    /// The friendly page for a link that no longer works: an expired one offers to email its
    /// own approver a fresh link; an unknown one offers a fresh queue link to the founder. The
    /// fresh link never goes to whoever clicked.
    fn link_problem(
        &self,
        draft_id: Option<&str>,
        token: Option<&str>,
        e: &TokenError,
    ) -> Response {
        let action = match draft_id {
            Some(id) => format!("/review/{id}/relink"),
            None => "/review/relink".to_string(),
        };
        let (title, text, token, button) = match e {
            TokenError::Expired(_) => (
                "This link has expired",
                "Review links expire so an old email cannot decide anything. Get a fresh one in your inbox:".to_string(),
                token,
                "Email me a fresh link",
            ),
            _ => (
                "This link does not work",
                format!(
                    "It may have been cut off or changed. The founder ({}) can get a fresh link to the review queue by email:",
                    self.core.config.founder.email
                ),
                None,
                "Email the founder a fresh link",
            ),
        };
        http::html_response(
            http::StatusCode::UNAUTHORIZED,
            pages::message_with_action(title, &text, &action, token, button),
        )
    }

    /// `POST /review/{id}/relink` (with the expired link's token) or `POST /review/relink`:
    /// email a fresh link to the link's own approver, or to the founder; at most once every
    /// ten minutes per person.
    async fn relink(&self, draft_id: Option<&str>, req: &Request) -> Result<Response, ApiError> {
        let c = &self.core;
        let now = c.clock.now();
        let form: DecisionForm = serde_urlencoded::from_bytes(req.body()).unwrap_or_default();
        // The approver an expired (but genuine) draft link was issued to, else the founder.
        let approver = draft_id
            .and_then(|id| {
                self.tokens
                    .verify_ignoring_expiry(Scope::Draft(id), form.token.as_deref())
                    .ok()
            })
            .filter(|a| c.config.approver(a).is_some())
            .unwrap_or_else(|| c.config.founder.email.clone());
        let marker = format!("relink:{}", approver.to_ascii_lowercase());
        let recent = c
            .store
            .marker(&marker)
            .await
            .map_err(store_error)?
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .is_some_and(|at| now.duration_since(at) < SignedDuration::from_mins(10));
        if !recent {
            let draft = match draft_id {
                Some(id) => c.store.get_draft(id).await.map_err(store_error)?,
                None => None,
            };
            let base = self.public_base_url.trim_end_matches('/');
            let (url, what) = match &draft {
                Some(d) => (
                    format!(
                        "{base}/review/{}?token={}",
                        d.id,
                        self.draft_token(&d.id, &approver, now)
                    ),
                    format!("the draft for {}", d.deal_name),
                ),
                None => (
                    format!("{base}{}", self.queue_link(&approver, now, false)),
                    "your review queue".to_string(),
                ),
            };
            let note = FounderNotification {
                to: approver.clone(),
                subject: format!("Your fresh draftgate link: {what}"),
                body: format!("Here is a fresh link to {what}:\n\n{url}\n\nIt works for {} hours. If you did not ask for it, ignore this email.\n", c.config.review.token_ttl_hours),
                draft_id: draft.as_ref().map(|d| d.id.clone()),
                deal_name: draft.as_ref().map(|d| d.deal_name.clone()).unwrap_or_default(),
                review_url: Some(url),
                personal: true,
            };
            self.notifier
                .notify(&note)
                .await
                .map_err(|e| ApiError::Transient(Box::new(e)))?;
            c.store
                .set_marker(&marker, &now.to_string())
                .await
                .map_err(store_error)?;
            crate::app::audit(
                &*c.audit,
                AuditEntry::new(
                    now,
                    AuditKind::LinkReissued,
                    "draftgate",
                    json!({ "to": approver, "draft_id": draft_id }),
                ),
            )
            .await
            .map_err(store_error)?;
        }
        Ok(http::html_response(
            http::StatusCode::OK,
            pages::message(
                "Check your inbox",
                "A fresh link is on its way to the approver's own inbox.",
            ),
        ))
    }

    /// A proposal's printable document (the same link token as its draft).
    async fn document(&self, id: &str, req: &Request) -> Result<Response, ApiError> {
        let now = self.core.clock.now();
        let token = http::query_param(req.uri().query(), "token");
        if let Err(e) = self.tokens.verify(Scope::Draft(id), token.as_deref(), now) {
            return Ok(self.link_problem(Some(id), token.as_deref(), &e));
        }
        let draft = self.load(id).await?;
        let html = draft
            .document
            .ok_or_else(|| ApiError::NotFound(format!("draft {id} has no printable document")))?;
        Ok(http::html_response(http::StatusCode::OK, html))
    }

    async fn show(&self, id: &str, req: &Request, wants_json: bool) -> Result<Response, ApiError> {
        let c = &self.core;
        let now = c.clock.now();
        let token = http::query_param(req.uri().query(), "token");
        let approver = match self.tokens.verify(Scope::Draft(id), token.as_deref(), now) {
            Ok(a) => a,
            Err(e) if !wants_json => return Ok(self.link_problem(Some(id), token.as_deref(), &e)),
            Err(e) => return Err(token_error(e)),
        };
        let draft = self.load(id).await?;
        if wants_json {
            return Ok(http::json_response(
                http::StatusCode::OK,
                &serde_json::to_value(&draft).expect("serialisable"),
            ));
        }
        let tz = c.config.timezone();
        let deal = c.store.get_deal(&draft.deal).await.map_err(store_error)?;
        let changed = deal
            .as_ref()
            .filter(|d| draft.status.is_open() && d.updated_at > draft.created_at)
            .map(|d| {
                let mut what = Vec::new();
                if d.stage != draft.context.stage {
                    what.push(format!(
                        "now in {}",
                        d.stage.map_or("an unmapped stage", |s| s.as_str())
                    ));
                }
                if d.last_interaction != draft.context.last_interaction {
                    if let Some(i) = &d.last_interaction {
                        what.push(format!(
                            "{} {}",
                            i.summary,
                            crate::app::present::ago(i.at, now)
                        ));
                    }
                }
                if what.is_empty() {
                    what.push(format!(
                        "updated {}",
                        crate::app::present::ago(d.updated_at, now)
                    ));
                }
                what.join("; ")
            });
        let view = json!({
            "d": draft,
            "token": token.unwrap_or_default(),
            "open": draft.status.is_open(),
            "snooze_hours": c.config.review.snooze_hours,
            "why": crate::app::present::why(&draft, deal.as_ref(), now, &tz),
            "drafted": format!("{} ({})", crate::app::present::when(draft.created_at, now, &tz), crate::app::present::ago(draft.created_at, now)),
            "last_when": draft.context.last_interaction.as_ref().map(|i| crate::app::present::when(i.at, now, &tz)),
            "changed": changed,
            "decided": decision_words(&draft, now, &tz),
            // Approved, but the send's outcome is not known yet: after a minute the page offers
            // to finish it (which looks for the message before sending).
            "unfinished": unfinished_send(&draft, now),
            "reasons": REJECT_REASONS,
            "crm_url": crate::app::present::crm_link(&c.config, &draft),
            "crm_only": draft.trigger.is_crm_update(),
            "document_url": draft.document.as_ref().map(|_| format!(
                "{}/review/{}/document?token={}",
                self.public_base_url.trim_end_matches('/'),
                draft.id,
                http::query_param(req.uri().query(), "token").unwrap_or_default()
            )),
            "labels": CrmField::ALL.iter().map(|f| (f.as_str(), f.label())).collect::<std::collections::BTreeMap<_, _>>(),
            "queue_url": self.queue_link(&approver, now, false),
        });
        Ok(http::html_response(
            http::StatusCode::OK,
            pages::draft(&draft.deal_name, &view),
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
        // A link stays bound to its person; one no longer among the approvers decides nothing.
        if self.core.config.approver(&approver).is_none() {
            return Err(ApiError::Unauthorized(format!(
                "{approver} is not an approver in the config"
            )));
        }
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
        let result = self.decide_as(id, &approver, action, &form).await?;
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
}
