//! `POST /slack/interactivity`: the buttons on draftgate's Slack messages. Verified with the
//! signing secret inside Slack's 5-minute window, accepted only from Slack users who are
//! configured approvers, and decided through the same path as the review page; the message
//! is then updated to show the decision, without buttons. Opening a link never decides.

use serde_json::{json, Value};
use tracing::Instrument;

use crate::app::review::{DecisionForm, Review};
use crate::domain::DecisionAction;
use crate::http::{self, ApiError, Request, Response, StatusCode};
use crate::signing::verify_slack;

impl Review {
    pub async fn slack(&self, req: Request) -> Response {
        let span = tracing::info_span!(
            "slack",
            user = tracing::field::Empty,
            draft_id = tracing::field::Empty
        );
        match self.slack_action(&req).instrument(span).await {
            Ok(r) => r,
            Err(e) => {
                if !e.status().is_server_error() {
                    tracing::info!(status = e.status().as_u16(), error = %e.log_summary(), "slack action refused");
                }
                e.into_response()
            }
        }
    }

    async fn slack_action(&self, req: &Request) -> Result<Response, ApiError> {
        if req.method() != http::Method::POST {
            return Err(ApiError::MethodNotAllowed(
                "/slack/interactivity accepts POST only".into(),
            ));
        }
        http::check_size(req.body())?;
        let c = &self.core;
        let secret = self.slack_signing_secret.as_ref().ok_or_else(|| {
            ApiError::Unauthorized("Slack is not configured (SLACK_SIGNING_SECRET)".into())
        })?;
        verify_slack(
            secret,
            req.body(),
            http::header(req.headers(), "x-slack-signature"),
            http::header(req.headers(), "x-slack-request-timestamp"),
            c.clock.now(),
        )
        .map_err(|e| ApiError::Unauthorized(format!("slack signature rejected: {e}")))?;
        http::require_media_type(req.headers(), "application/x-www-form-urlencoded")?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(req.body())
            .map_err(|e| ApiError::bad_request(format!("malformed form: {e}")))?;
        let payload = fields
            .iter()
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| ApiError::bad_request("no `payload` field"))?;
        http::require_unique_json_keys(payload.as_bytes())?;
        let v: Value = serde_json::from_str(payload)
            .map_err(|e| ApiError::bad_request(format!("`payload` is not JSON: {e}")))?;
        if v["type"] != "block_actions" {
            return Ok(ack(json!({ "ignored": v["type"] })));
        }
        let user = v["user"]["id"].as_str().unwrap_or_default();
        tracing::Span::current().record("user", user);
        let Some(approver) = c.config.approver_by_slack(user) else {
            tracing::info!("a Slack user who is not an approver pressed a button");
            return Ok(ack(json!({
                "response_type": "ephemeral", "replace_original": false,
                "text": "Only the approvers named in draftgate's config can decide drafts."
            })));
        };
        let approver = approver.email.clone();
        let action = &v["actions"][0];
        let (value, kind) = match action["type"].as_str() {
            Some("static_select") => {
                let raw = action["selected_option"]["value"]
                    .as_str()
                    .unwrap_or_default();
                match raw.split_once('|') {
                    Some((id, kind)) => (id.to_string(), Some(kind.to_string())),
                    None => (raw.to_string(), None),
                }
            }
            _ => (
                action["value"].as_str().unwrap_or_default().to_string(),
                None,
            ),
        };
        let decision = match action["action_id"].as_str() {
            Some("approve") => DecisionAction::Approve,
            Some("reject") => DecisionAction::Reject,
            Some("snooze") => DecisionAction::Snooze,
            // "Open" is a link: Slack reports the press, which decides nothing.
            _ => return Ok(ack(json!({ "ok": true }))),
        };
        if value.is_empty() {
            return Err(ApiError::bad_request("the action names no draft"));
        }
        tracing::Span::current().record("draft_id", value.as_str());
        let form = DecisionForm {
            reason_kind: kind,
            ..DecisionForm::default()
        };
        match self.decide_as(&value, &approver, decision, &form).await {
            Ok(result) => Ok(ack(json!({ "ok": true, "result": result }))),
            // Already decided, superseded, incomplete: the message now says so; Slack only
            // needs its acknowledgement.
            Err(e) if !e.status().is_server_error() => {
                tracing::info!(error = %e.log_summary(), "slack decision not taken");
                Ok(ack(json!({
                    "response_type": "ephemeral", "replace_original": false,
                    "text": e.to_string()
                })))
            }
            Err(e) => Err(e),
        }
    }
}

fn ack(body: Value) -> Response {
    http::json_response(StatusCode::OK, &body)
}
