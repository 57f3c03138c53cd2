//! Founder notifications in Slack: through an incoming webhook (the URL itself is the secret;
//! a link to the page), or as draftgate's bot (`SLACK_BOT_TOKEN`, `SLACK_CHANNEL`): each draft a
//! Block Kit message with Approve / Reject / Snooze / Open, updated after every decision.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::domain::FounderNotification;
use crate::ports::{Notifier, NotifyError};
use crate::secret::Secret;

pub struct SlackNotifier {
    http: reqwest::Client,
    webhook_url: Secret,
}

impl SlackNotifier {
    pub fn new(webhook_url: Secret) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("static client settings");
        SlackNotifier { http, webhook_url }
    }

    pub fn message(note: &FounderNotification) -> serde_json::Value {
        let lines = if note.review_url.is_some() { 6 } else { 40 };
        let body = note.body.lines().take(lines).collect::<Vec<_>>().join("\n");
        let mut blocks = vec![json!({ "type": "section", "text": { "type": "mrkdwn",
            "text": format!("*{}*\n{}", mrkdwn(&note.subject), mrkdwn(&body)) } })];
        if let Some(url) = &note.review_url {
            blocks.push(
                json!({ "type": "actions", "block_id": "review", "elements": [
                    { "type": "button", "action_id": "open_review", "style": "primary",
                      "text": { "type": "plain_text", "text": "Review draft" }, "url": url }
                ]}),
            );
        }
        json!({ "text": fallback_text(&note.subject), "blocks": blocks })
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn notify(&self, note: &FounderNotification) -> Result<(), NotifyError> {
        if note.personal {
            return Ok(());
        }
        let resp = self
            .http
            .post(self.webhook_url.expose())
            .json(&Self::message(note))
            .send()
            .await
            // Never echo the URL: it is the credential.
            .map_err(|e| NotifyError(Box::new(e.without_url())))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(NotifyError(
                format!("Slack answered {}", resp.status()).into(),
            ))
        }
    }
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped: then `<!channel>` and `<url|label>` in deal
/// data stay text.
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A message's top-level `text` (what notifications and screen readers show): one line,
/// escaped like the blocks, since Slack reads the same markup there.
fn fallback_text(text: &str) -> String {
    mrkdwn(&crate::domain::headers::one_line(text))
}

fn marker(draft_id: &str) -> String {
    format!("slack:msg:{draft_id}")
}

/// Slack's Web API, unless `SLACK_API_BASE_URL` says otherwise.
pub const SLACK_API: &str = "https://slack.com/api";

/// draftgate's Slack bot: posts drafts with buttons and shows each decision on its message.
pub struct SlackBot {
    api: String,
    token: Secret,
    channel: String,
    /// Where each draft's message (channel, ts) is kept, to update it after the decision.
    store: std::sync::Arc<dyn crate::ports::PipelineStore>,
}

impl SlackBot {
    pub fn new(
        api_base_url: &str,
        token: Secret,
        channel: String,
        store: std::sync::Arc<dyn crate::ports::PipelineStore>,
    ) -> Self {
        SlackBot {
            api: api_base_url.trim_end_matches('/').to_string(),
            token,
            channel,
            store,
        }
    }

    /// The Block Kit message of a draft waiting for review.
    pub fn draft_message(note: &FounderNotification, draft_id: &str) -> serde_json::Value {
        let url = note.review_url.clone().unwrap_or_default();
        let lines: Vec<&str> = note
            .body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(6)
            .collect();
        let reasons: Vec<serde_json::Value> = crate::domain::REJECT_REASONS
            .iter()
            .filter(|(k, _)| !matches!(*k, "other" | "bad_draft"))
            .map(|(k, l)| json!({ "text": { "type": "plain_text", "text": l.split(':').next().unwrap_or(l) }, "value": format!("{draft_id}|{k}") }))
            .collect();
        json!({
            "text": fallback_text(&note.subject),
            "blocks": [
                { "type": "section", "text": { "type": "mrkdwn", "text": format!("*{}*\n{}", mrkdwn(&note.subject), mrkdwn(&lines.join("\n"))) } },
                { "type": "actions", "block_id": format!("draft:{draft_id}"), "elements": [
                    { "type": "button", "action_id": "approve", "style": "primary", "value": draft_id,
                      "text": { "type": "plain_text", "text": "Approve and send" },
                      "confirm": { "title": { "type": "plain_text", "text": "Send it?" },
                                   "text": { "type": "mrkdwn", "text": "The follow-up goes to the prospect as drafted." },
                                   "confirm": { "type": "plain_text", "text": "Send" }, "deny": { "type": "plain_text", "text": "Cancel" } } },
                    { "type": "static_select", "action_id": "reject", "placeholder": { "type": "plain_text", "text": "Reject…" }, "options": reasons },
                    { "type": "button", "action_id": "snooze", "value": draft_id, "text": { "type": "plain_text", "text": "Snooze" } },
                    { "type": "button", "action_id": "open", "value": draft_id, "url": url, "text": { "type": "plain_text", "text": "Open / edit" } }
                ]}
            ]
        })
    }

    async fn call(
        &self,
        method: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, NotifyError> {
        let resp = crate::providers::api::shared_http()
            .post(format!("{}/{method}", self.api))
            .timeout(Duration::from_secs(5))
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| NotifyError(Box::new(e.without_url())))?;
        let status = resp.status();
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| NotifyError(Box::new(e.without_url())))?;
        // Slack answers 200 with `"ok": false` and an error code.
        if !status.is_success() || v["ok"] != json!(true) {
            return Err(NotifyError(
                format!(
                    "Slack {method}: {} ({status})",
                    v["error"].as_str().unwrap_or("failed")
                )
                .into(),
            ));
        }
        Ok(v)
    }
}

#[async_trait]
impl Notifier for SlackBot {
    async fn notify(&self, note: &FounderNotification) -> Result<(), NotifyError> {
        if note.personal {
            return Ok(());
        }
        let mut body = match &note.draft_id {
            Some(id) if note.review_url.is_some() => Self::draft_message(note, id),
            _ => SlackNotifier::message(note),
        };
        body["channel"] = json!(self.channel);
        let v = self.call("chat.postMessage", &body).await?;
        if let (Some(id), Some(ts), Some(ch)) =
            (&note.draft_id, v["ts"].as_str(), v["channel"].as_str())
        {
            self.store
                .set_marker(&marker(id), &format!("{ch} {ts}"))
                .await
                .map_err(|e| NotifyError(Box::new(e)))?;
        }
        Ok(())
    }

    async fn decided(
        &self,
        draft: &crate::domain::Draft,
        summary: &str,
    ) -> Result<(), NotifyError> {
        let Some(posted) = self
            .store
            .marker(&marker(&draft.id))
            .await
            .map_err(|e| NotifyError(Box::new(e)))?
        else {
            return Ok(());
        };
        let Some((channel, ts)) = posted.split_once(' ') else {
            return Ok(());
        };
        let text = fallback_text(&format!("{}: {}", draft.deal_name, summary));
        self.call(
            "chat.update",
            &json!({
                "channel": channel, "ts": ts, "text": text,
                "blocks": [
                    { "type": "section", "text": { "type": "mrkdwn", "text": format!("*{}* · {}\n{}", mrkdwn(&draft.deal_name), mrkdwn(&draft.context.trigger_label), mrkdwn(&draft.subject)) } },
                    { "type": "context", "elements": [ { "type": "mrkdwn", "text": mrkdwn(summary) } ] }
                ]
            }),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note() -> FounderNotification {
        FounderNotification {
            to: "alex@northwind.example".into(),
            subject: "Draft for <!channel> <https://evil.example|Approve here> & co\r\nline two"
                .into(),
            body: "Deal: <!here> <https://evil.example|Open>".into(),
            draft_id: Some("d1".into()),
            deal_name: "<!channel>".into(),
            review_url: Some("https://review.example/review/d1?token=t".into()),
            personal: false,
        }
    }

    /// Every string in a message that Slack reads as mrkdwn, with where it is.
    fn markup(v: &serde_json::Value) -> Vec<String> {
        let mut out = vec![v["text"].as_str().unwrap_or_default().to_string()];
        for b in v["blocks"].as_array().into_iter().flatten() {
            if b["text"]["type"] == "mrkdwn" {
                out.push(b["text"]["text"].as_str().unwrap_or_default().to_string());
            }
        }
        out
    }

    #[test]
    fn deal_data_never_becomes_a_mention_or_a_link_in_text_or_blocks() {
        for message in [
            SlackNotifier::message(&note()),
            SlackBot::draft_message(&note(), "d1"),
        ] {
            let texts = markup(&message);
            assert!(texts.len() >= 2, "{message}");
            for t in texts {
                assert!(!t.contains("<!"), "{t}");
                assert!(!t.contains("<https://evil"), "{t}");
                assert!(t.contains("&lt;!channel&gt;"), "{t}");
            }
            assert!(!message["text"].as_str().unwrap().contains('\n'));
            assert!(message["text"]
                .as_str()
                .unwrap()
                .contains("&amp; co line two"));
        }
    }
}
