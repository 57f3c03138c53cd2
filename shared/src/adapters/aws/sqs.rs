//! FIFO queues on SQS.

use std::borrow::Cow;

use async_trait::async_trait;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;
use sha2::{Digest, Sha256};

use super::{classify, Failure};
use crate::ports::{Delivery, Queue, QueueConsumer, QueueError, QueueMessage};

/// SQS's limit on the length of a message group or deduplication id.
const MAX_ID_LEN: usize = 128;
/// SQS's limit on messages per `ReceiveMessage`.
const MAX_RECEIVE: usize = 10;
/// A short long-poll: a FIFO short poll may sample servers that hold nothing and answer empty.
const RECEIVE_WAIT_SECONDS: i32 = 1;

/// [`Queue`] and [`QueueConsumer`] on one SQS FIFO queue.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Messages waiting, in flight or delayed (SQS's approximate counts): zero means drained.
    pub async fn depth(&self) -> Result<usize, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| queue_error(classify("GetQueueAttributes", e)))?;
        Ok(out
            .attributes()
            .map(|a| {
                a.values()
                    .filter_map(|v| v.parse::<usize>().ok())
                    .sum::<usize>()
            })
            .unwrap_or(0))
    }

    /// Make a received message visible again after `delay` (a failed attempt, retried sooner
    /// than the visibility timeout would).
    pub async fn release(
        &self,
        receipt: &str,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(delay.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| queue_error(classify("ChangeMessageVisibility", e)))?;
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(&message.body)
            .message_group_id(fifo_id(&message.group_id))
            .message_deduplication_id(fifo_id(&message.dedup_id))
            .send()
            .await
            .map_err(|e| queue_error(classify("SendMessage", e)))?;
        Ok(())
    }
}

#[async_trait]
impl QueueConsumer for SqsQueue {
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.min(MAX_RECEIVE) as i32)
            .wait_time_seconds(RECEIVE_WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| queue_error(classify("ReceiveMessage", e)))?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                match (m.message_id, m.receipt_handle) {
                    (Some(id), Some(receipt)) => Ok(Delivery {
                        id,
                        body: m.body.unwrap_or_default(),
                        receipt,
                        receive_count,
                    }),
                    _ => Err(QueueError::Unavailable(
                        "ReceiveMessage: message without id or receipt".into(),
                    )),
                }
            })
            .collect()
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| queue_error(classify("DeleteMessage", e)))?;
        Ok(())
    }
}

fn queue_error(failure: Failure) -> QueueError {
    match failure {
        Failure::Transient(m) | Failure::Permanent(m) => QueueError::Unavailable(m),
    }
}

/// SQS accepts group and deduplication ids of up to 128 ASCII letters, digits and punctuation.
/// Any other id is replaced by its SHA-256 in hex, which keeps equal ids equal.
fn fifo_id(id: &str) -> Cow<'_, str> {
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation());
    if valid {
        Cow::Borrowed(id)
    } else {
        Cow::Owned(hex::encode(Sha256::digest(id.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_fifo_id_is_kept_as_is() {
        assert_eq!(fifo_id("hubspot#185:evt-1"), "hubspot#185:evt-1");
    }

    #[test]
    fn a_long_or_spaced_fifo_id_is_hashed_stably() {
        let long = "x".repeat(200);
        assert_eq!(fifo_id(&long).len(), 64);
        assert_eq!(fifo_id(&long), fifo_id(&long));
        assert_ne!(fifo_id("a b"), "a b");
        assert_ne!(fifo_id("é"), "é");
    }
}
