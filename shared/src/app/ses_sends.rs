//! What SES accepted, for the sender that keeps no Sent folder.
//!
//! Every message the SES sender sends carries its draft id as the message tag [`DRAFT_TAG`] and
//! goes through the stack's configuration set, which publishes SES's Send events ("Email
//! Sent": SES accepted the message and will deliver it) to EventBridge. The mail-events
//! function records each one as the marker [`marker_name`]`(draft)` = SES message id. When an
//! approval's send ended without an answer (a timeout, a 5xx) or a crash came between sending
//! and recording, approving again looks for that marker before sending: found, the draft is
//! recorded as sent without a second message.

use serde_json::Value;

use crate::ports::{PipelineStore, StoreError};

/// The SES message tag that carries the draft id.
pub const DRAFT_TAG: &str = "draftgate_draft";

/// The pipeline marker that says SES accepted the message of `draft_id`.
pub fn marker_name(draft_id: &str) -> String {
    format!("ses-sent:{draft_id}")
}

/// A Send event of one of draftgate's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub draft_id: String,
    /// SES's message id, the one `SendEmail` answers with.
    pub message_id: String,
}

/// Why an event was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not a Send event of a draftgate message (another event type, another sender's mail):
    /// nothing to record.
    #[error("not a send of a draftgate message: {0}")]
    NotOurs(String),
    /// A Send event of ours that cannot be read; retrying cannot help.
    #[error("send event not understood: {0}")]
    Unreadable(String),
}

/// Read an SES event as EventBridge delivers it (`source` `aws.ses`, `detail-type` `Email
/// Sent`, the SES event record in `detail`).
pub fn parse(event: &Value) -> Result<Accepted, Refused> {
    let detail_type = event["detail-type"].as_str().unwrap_or_default();
    if event["source"].as_str() != Some("aws.ses") || detail_type != "Email Sent" {
        return Err(Refused::NotOurs(format!(
            "`{}` `{detail_type}`",
            event["source"].as_str().unwrap_or_default()
        )));
    }
    let detail = &event["detail"];
    if detail["eventType"].as_str() != Some("Send") {
        return Err(Refused::NotOurs(format!(
            "event type `{}`",
            detail["eventType"].as_str().unwrap_or_default()
        )));
    }
    let mail = &detail["mail"];
    // SES publishes each tag as a list of values.
    let Some(tag) = mail["tags"][DRAFT_TAG].as_array() else {
        return Err(Refused::NotOurs(format!("no `{DRAFT_TAG}` tag")));
    };
    let draft_id = match tag.as_slice() {
        [Value::String(id)] if is_draft_id(id) => id.clone(),
        _ => {
            return Err(Refused::Unreadable(format!(
                "the `{DRAFT_TAG}` tag is not one draft id"
            )))
        }
    };
    let message_id = mail["messageId"]
        .as_str()
        .filter(|m| !m.is_empty() && m.len() <= 256)
        .ok_or_else(|| Refused::Unreadable("no mail.messageId".into()))?
        .to_string();
    Ok(Accepted {
        draft_id,
        message_id,
    })
}

/// Draft ids are short ASCII words (see [`crate::app::draft_id_for`]); SES tag values allow
/// letters, digits, `_` and `-`.
fn is_draft_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Record a Send event: the marker the SES sender's lookup reads. Recording the same event
/// again writes the same marker.
pub async fn record(store: &dyn PipelineStore, accepted: &Accepted) -> Result<(), StoreError> {
    store
        .set_marker(&marker_name(&accepted.draft_id), &accepted.message_id)
        .await
}

/// The SES message id recorded for `draft_id`, if SES's Send event for it has arrived.
pub async fn accepted(
    store: &dyn PipelineStore,
    draft_id: &str,
) -> Result<Option<String>, StoreError> {
    store.marker(&marker_name(draft_id)).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        serde_json::from_str(include_str!(
            "../../../events/mail-events/ses-email-sent.json"
        ))
        .unwrap()
    }

    #[test]
    fn a_send_event_of_a_draft_names_the_draft_and_the_ses_message() {
        assert_eq!(
            parse(&sample()).unwrap(),
            Accepted {
                draft_id: "d3f1c2a9b8e7d6c5b4a39281".into(),
                message_id: "010001923c5e4f5a-8c2b7d1e-5f6a-4b3c-9d8e-7f6a5b4c3d2e-000000".into(),
            }
        );
    }

    #[test]
    fn other_events_and_other_mail_are_not_ours() {
        let mut delivered = sample();
        delivered["detail-type"] = json!("Email Delivered");
        delivered["detail"]["eventType"] = json!("Delivery");
        assert!(matches!(parse(&delivered), Err(Refused::NotOurs(_))));

        let mut untagged = sample();
        untagged["detail"]["mail"]["tags"]
            .as_object_mut()
            .unwrap()
            .remove(DRAFT_TAG);
        assert!(matches!(parse(&untagged), Err(Refused::NotOurs(_))));

        let mut elsewhere = sample();
        elsewhere["source"] = json!("draftgate");
        assert!(matches!(parse(&elsewhere), Err(Refused::NotOurs(_))));
    }

    #[test]
    fn a_send_event_of_ours_that_cannot_be_read_is_refused_with_the_reason() {
        let mut two = sample();
        two["detail"]["mail"]["tags"][DRAFT_TAG] = json!(["d1", "d2"]);
        let err = parse(&two).unwrap_err().to_string();
        assert!(err.contains("not one draft id"), "{err}");

        let mut odd = sample();
        odd["detail"]["mail"]["tags"][DRAFT_TAG] = json!(["ses-sent:../x"]);
        assert!(matches!(parse(&odd), Err(Refused::Unreadable(_))));

        let mut no_id = sample();
        no_id["detail"]["mail"]
            .as_object_mut()
            .unwrap()
            .remove("messageId");
        let err = parse(&no_id).unwrap_err().to_string();
        assert!(err.contains("messageId"), "{err}");
    }
}
