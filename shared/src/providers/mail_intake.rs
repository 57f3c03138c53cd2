//! The mailbox webhooks (`POST /webhooks/gmail`, `POST /webhooks/outlook`) and their upkeep.
//! A notification is authenticated, the mailbox is read from its stored position, each new
//! message is matched to its deals and recorded through the same path as every other event,
//! and only then does the position move: a failure answers 503, the provider retries, and the
//! messages already recorded count as duplicates.

use std::sync::Arc;

use serde_json::{json, Value};
use tracing::Instrument;

use super::intake::Intake;
use crate::domain::mail;
use crate::http::{self, ApiError, Request, Response, StatusCode};
use crate::providers::mailbox::{self, MailError, MailboxSource, Notice};
use crate::providers::{Incoming, Parsed};

#[derive(Clone, Default)]
pub struct MailIntake {
    pub mailboxes: Vec<Arc<dyn MailboxSource>>,
}

/// Why an event from the mailbox cannot be recorded, if it cannot.
fn problem(e: &crate::domain::DealEvent, now: jiff::Timestamp) -> Option<String> {
    crate::domain::checks::event_problem(e, now, super::numeric_ids(&e.deal.crm))
}

fn mail_error(e: MailError) -> ApiError {
    ApiError::Transient(Box::new(e))
}

impl MailIntake {
    /// The mailbox a webhook path belongs to, if it is one of these.
    pub fn mailbox(&self, path: &str) -> Option<Arc<dyn MailboxSource>> {
        let name = path.strip_prefix("/webhooks/")?.trim_end_matches('/');
        self.mailboxes.iter().find(|m| m.name() == name).cloned()
    }

    /// Whether `path` names a mailbox route at all (configured or not).
    pub fn is_mailbox_route(path: &str) -> bool {
        matches!(
            path.trim_end_matches('/'),
            "/webhooks/gmail" | "/webhooks/outlook"
        )
    }

    pub async fn handle(&self, intake: &Intake, req: Request) -> Response {
        let path = req.uri().path().to_string();
        let name = path
            .strip_prefix("/webhooks/")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        let span = tracing::info_span!("webhook", provider = %name);
        async {
            let result = match self.mailbox(&path) {
                None => Err(ApiError::Unauthorized(format!(
                    "{name} is not connected on this deployment"
                ))),
                Some(mailbox) => self.accept(intake, &*mailbox, &req).await,
            };
            match result {
                Ok(r) => r,
                Err(e) => {
                    if !e.status().is_server_error() {
                        tracing::info!(status = e.status().as_u16(), error = %e.log_summary(), "webhook refused");
                    } else {
                        tracing::warn!(status = e.status().as_u16(), error = %e.log_summary(), "mailbox not read; the provider will retry");
                    }
                    e.into_response()
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn accept(
        &self,
        intake: &Intake,
        mailbox: &dyn MailboxSource,
        req: &Request,
    ) -> Result<Response, ApiError> {
        if req.method() != http::Method::POST {
            return Err(ApiError::MethodNotAllowed(format!(
                "{} {}: webhooks accept POST only",
                req.method(),
                req.uri().path()
            )));
        }
        http::check_size(req.body())?;
        let core = &intake.core;
        let now = core.clock.now();
        let incoming = Incoming {
            request: req,
            url: http::request_url(&intake.public_base_url, req),
            now,
            config: &core.config,
        };
        let notice = match mailbox.open(&incoming).await? {
            Notice::Answer(r) => return Ok(r),
            Notice::Read(v) => v,
        };
        let batch = match mailbox.read(&*core.store, notice, now).await {
            Ok(b) => b,
            Err(MailError::Revoked(why)) => {
                // Retrying cannot help: tell the founder once, and answer so the push stops.
                self.revoked(intake, mailbox.name(), &why).await?;
                return Ok(http::json_response(
                    StatusCode::OK,
                    &json!({ "accepted": 0, "revoked": true }),
                ));
            }
            Err(e) => return Err(mail_error(e)),
        };
        let founder = founder_addresses(&core.config);
        let matched = mailbox::match_messages(&*core.store, &batch.messages, &founder)
            .await
            .map_err(|e| ApiError::Transient(e.into()))?;
        for why in matched.ignored.iter().chain(&batch.skipped) {
            tracing::info!(%why, "mail not recorded");
        }
        let (events, broken): (Vec<_>, Vec<_>) = matched
            .events
            .into_iter()
            .partition(|e| problem(e, now).is_none());
        let mut ignored = matched.ignored;
        for e in broken {
            let why = problem(&e, now).unwrap_or_default();
            tracing::warn!(event = %e.id, %why, "mail not recorded");
            ignored.push(format!("{}: {why}", e.id));
        }
        let summary = intake
            .record_parsed(Parsed {
                events,
                referenced: Vec::new(),
                ignored,
            })
            .await?;
        for (name, value) in &batch.positions {
            core.store
                .set_marker(name, value)
                .await
                .map_err(|e| ApiError::Transient(e.into()))?;
        }
        // Access works again: a notice about a revoked grant is stale.
        core.store
            .remove_notice(&revoked_key(mailbox.name()))
            .await
            .map_err(|e| ApiError::Transient(e.into()))?;
        tracing::info!(
            messages = batch.messages.len(),
            accepted = summary.accepted,
            duplicates = summary.duplicates,
            ignored = summary.ignored,
            "mailbox read"
        );
        Ok(http::json_response(
            StatusCode::OK,
            &json!({
                "messages": batch.messages.len(),
                "accepted": summary.accepted,
                "duplicates": summary.duplicates,
                "ignored": summary.ignored,
                "notes": batch.skipped,
            }),
        ))
    }

    async fn revoked(&self, intake: &Intake, mailbox: &str, why: &str) -> Result<(), ApiError> {
        tracing::warn!(mailbox, reason = %why, "mailbox access revoked");
        intake
            .core
            .store
            .add_notice(
                &revoked_key(mailbox),
                &format!(
                    "draftgate can no longer read your {mailbox} mailbox ({why}), so replies there are not seen. Run `draftgate connect {mailbox}` to grant access again."
                ),
            )
            .await
            .map_err(|e| ApiError::Transient(e.into()))
    }

    /// Renew each mailbox's watch or subscription when it is due (the scheduled sync).
    pub async fn upkeep(&self, intake: &Intake) -> Vec<Value> {
        let core = &intake.core;
        let mut out = Vec::new();
        for m in &self.mailboxes {
            let span = tracing::info_span!("mailbox_upkeep", mailbox = m.name());
            let r = m
                .upkeep(&*core.store, core.clock.now())
                .instrument(span)
                .await;
            out.push(match r {
                Ok(v) => v,
                Err(MailError::Revoked(why)) => {
                    let _ = self.revoked(intake, m.name(), &why).await;
                    json!({ "mailbox": m.name(), "error": "access revoked" })
                }
                Err(e) => {
                    tracing::warn!(mailbox = m.name(), error = %crate::error::Chain(&e), "mailbox upkeep failed");
                    json!({ "mailbox": m.name(), "error": e.to_string() })
                }
            });
        }
        out
    }
}

fn revoked_key(mailbox: &str) -> String {
    format!("mailbox-revoked:{mailbox}")
}

/// The founder's own addresses: mail from them is outbound.
pub fn founder_addresses(config: &crate::config::Config) -> Vec<String> {
    let mut out: Vec<String> = [&config.founder.email, &config.founder.from]
        .into_iter()
        .filter_map(|a| mail::address(a))
        .collect();
    out.dedup();
    out
}
