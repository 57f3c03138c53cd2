//! A message to a prospect or to the founder, and what a sender reports back.

use serde::{Deserialize, Serialize};

/// A message to a prospect, handed to the sender after approval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboundEmail {
    pub draft_id: String,
    pub from: String,
    pub to: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub body: String,
    /// The conversation this message continues, if the deal has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<crate::domain::mail::MailThread>,
}

impl OutboundEmail {
    /// The message's own `Message-ID`, derived from its draft so a retried send can find it.
    pub fn message_id(&self) -> String {
        let domain = crate::domain::mail::address(&self.from)
            .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_string()))
            .unwrap_or_else(|| "draftgate.invalid".into());
        format!("<{}.draftgate@{domain}>", self.draft_id)
    }
}

/// What a sender reports of a message it sent.
#[derive(Clone, Debug, PartialEq)]
pub struct SentReceipt {
    /// The provider's message id.
    pub id: String,
    /// The conversation the message is now the newest message of (mailbox senders).
    pub conversation: Option<crate::domain::mail::MailThread>,
}

/// A message to the founder about a draft waiting for review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FounderNotification {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The draft to review; `None` for internal briefs, which need no decision.
    pub draft_id: Option<String>,
    pub deal_name: String,
    pub review_url: Option<String>,
    /// For one person's inbox only (a fresh link): shared channels (Slack) skip it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub personal: bool,
}
