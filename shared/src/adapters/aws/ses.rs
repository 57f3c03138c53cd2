//! The SES sender: the only code that can reach a prospect, linked by the approval function.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sesv2::Client;

use super::{classify, Failure};
use crate::domain::{OutboundEmail, SentReceipt};
use crate::ports::{SendError, Sender};

/// [`Sender`] on SESv2 `SendEmail` with simple (text) content.
#[derive(Clone, Debug)]
pub struct SesSender {
    client: Client,
    configuration_set: Option<String>,
}

impl SesSender {
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        SesSender {
            client,
            configuration_set,
        }
    }
}

#[async_trait]
impl Sender for SesSender {
    async fn send(&self, email: &OutboundEmail) -> Result<SentReceipt, SendError> {
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(Body::builder().text(utf8(&email.body)?).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .set_reply_to_addresses(email.reply_to.clone().map(|r| vec![r]))
            .content(EmailContent::builder().simple(message).build())
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
}

fn utf8(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::Rejected(Box::new(e)))
}
