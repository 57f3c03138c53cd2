//! The SES sender: the only code that can reach a prospect, linked by the approval function.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use aws_sdk_sesv2::Client;

use super::{classify, Failure};
use crate::app::ses_sends;
use crate::domain::{OutboundEmail, SentReceipt};
use crate::ports::{PipelineStore, SendError, Sender, SentLookup};

/// [`Sender`] on SESv2 `SendEmail` with simple (text) content. Each message is tagged with its
/// draft id; with [`SesSender::finding_sends_in`] the sender can also tell whether SES accepted
/// a draft's message (see [`ses_sends`]).
#[derive(Clone)]
pub struct SesSender {
    client: Client,
    configuration_set: Option<String>,
    sends: Option<Arc<dyn PipelineStore>>,
}

impl SesSender {
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        SesSender {
            client,
            configuration_set,
            sends: None,
        }
    }

    /// Look up SES's Send events in `store` (recorded by mail-events) before sending again a
    /// message whose first send has no known outcome. Only for a configuration set that
    /// publishes Send events to the rule that records them.
    #[must_use]
    pub fn finding_sends_in(mut self, store: Arc<dyn PipelineStore>) -> Self {
        self.sends = Some(store);
        self
    }
}

#[async_trait]
impl Sender for SesSender {
    async fn send(&self, email: &OutboundEmail) -> Result<SentReceipt, SendError> {
        // SES writes the headers from these fields; each comes from the one encoder.
        let h = email
            .headers()
            .map_err(|e| SendError::Rejected(Box::new(e)))?;
        let message = Message::builder()
            .subject(utf8(&h.subject)?)
            .body(Body::builder().text(utf8(&email.body)?).build())
            .build();
        let tag = MessageTag::builder()
            .name(ses_sends::DRAFT_TAG)
            .value(&h.draft_id)
            .build()
            .map_err(|e| SendError::Rejected(Box::new(e)))?;
        let out = self
            .client
            .send_email()
            .from_email_address(h.from.encoded())
            .destination(Destination::builder().to_addresses(h.to.encoded()).build())
            .set_reply_to_addresses(h.reply_to.as_ref().map(|r| vec![r.encoded()]))
            .content(EmailContent::builder().simple(message).build())
            .email_tags(tag)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| match classify("SendEmail", e) {
                // MessageRejected, an unverified sender, a bad request, a paused account.
                Failure::Permanent(m) => SendError::Rejected(m),
                // Throttling, quota, 5xx, network.
                Failure::Transient(m) => SendError::Unavailable(m),
            })?;
        let id = out.message_id.ok_or_else(|| {
            SendError::Unavailable("SendEmail answered without a message id".into())
        })?;
        Ok(SentReceipt {
            id,
            conversation: None,
        })
    }

    async fn find_sent(&self, email: &OutboundEmail) -> Result<SentLookup, SendError> {
        let Some(store) = &self.sends else {
            return Ok(SentLookup::CannotLook);
        };
        let found = ses_sends::accepted(&**store, &email.draft_id)
            .await
            .map_err(|e| SendError::Unavailable(Box::new(e)))?;
        Ok(match found {
            Some(id) => SentLookup::Found(SentReceipt {
                id,
                conversation: None,
            }),
            None => SentLookup::NotFound,
        })
    }

    fn finds_sent(&self) -> bool {
        self.sends.is_some()
    }
}

impl std::fmt::Debug for SesSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SesSender")
            .field("configuration_set", &self.configuration_set)
            .field("finds_sends", &self.sends.is_some())
            .finish_non_exhaustive()
    }
}

fn utf8(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::Rejected(Box::new(e)))
}
