//! Founder notifications by e-mail through an SNS topic the founder's address subscribes to.

use async_trait::async_trait;
use aws_sdk_sns::Client;

use super::{classify, Failure};
use crate::domain::FounderNotification;
use crate::ports::{Notifier, NotifyError};

/// SNS's limit on an e-mail subject, in characters.
const MAX_SUBJECT_CHARS: usize = 100;

/// [`Notifier`] publishing to one topic. The recipient is whoever subscribes to the topic, so
/// `FounderNotification::to` is not used here.
#[derive(Clone, Debug)]
pub struct SnsEmailNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsEmailNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsEmailNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl Notifier for SnsEmailNotifier {
    async fn notify(&self, note: &FounderNotification) -> Result<(), NotifyError> {
        let subject = sns_subject(&note.subject);
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .set_subject((!subject.is_empty()).then_some(subject))
            .message(&note.body)
            .send()
            .await
            .map_err(|e| match classify("Publish", e) {
                Failure::Transient(m) | Failure::Permanent(m) => NotifyError(m),
            })?;
        Ok(())
    }
}

/// SNS refuses subjects with line breaks or control characters, or longer than 100 characters:
/// the one encoder's line, cut.
fn sns_subject(subject: &str) -> String {
    crate::domain::headers::one_line(subject)
        .chars()
        .take(MAX_SUBJECT_CHARS)
        .collect::<String>()
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_cut_to_snss_limit_on_a_character_boundary() {
        let long = "é".repeat(150);
        assert_eq!(sns_subject(&long).chars().count(), 100);
    }

    #[test]
    fn a_subject_loses_its_line_breaks() {
        assert_eq!(
            sns_subject("Draft ready\r\nfor Acme\t"),
            "Draft ready for Acme"
        );
    }
}
