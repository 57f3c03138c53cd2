//! Founder notifications through a Slack incoming webhook (the URL itself is the secret).

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
        let mut blocks = vec![json!({ "type": "section", "text": { "type": "mrkdwn",
            "text": format!("*{}*\n{}", note.subject, note.body.lines().take(lines).collect::<Vec<_>>().join("\n")) } })];
        if let Some(url) = &note.review_url {
            blocks.push(
                json!({ "type": "actions", "block_id": "review", "elements": [
                    { "type": "button", "action_id": "open_review", "style": "primary",
                      "text": { "type": "plain_text", "text": "Review draft" }, "url": url }
                ]}),
            );
        }
        json!({ "text": note.subject, "blocks": blocks })
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn notify(&self, note: &FounderNotification) -> Result<(), NotifyError> {
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
