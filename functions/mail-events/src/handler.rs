//! One SES event from EventBridge. A Send event of a draftgate message is recorded; a failure
//! to record it is an error, so EventBridge retries the delivery (and finally parks it in the
//! rule's dead-letter queue, which raises an alarm). Anything else is logged and dropped:
//! retrying cannot help.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{json, Value};
use shared::app::ses_sends::{self, Refused};
use shared::error::Chain;
use shared::ports::PipelineStore;

pub async fn handle(store: &dyn PipelineStore, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let accepted = match ses_sends::parse(&event.payload) {
        Ok(a) => a,
        Err(Refused::NotOurs(why)) => {
            tracing::info!(why, "SES event ignored");
            return Ok(json!({ "recorded": 0, "ignored": why }));
        }
        Err(e @ Refused::Unreadable(_)) => {
            tracing::error!(error = %e, "SES send event not understood; dropped");
            return Ok(json!({ "recorded": 0, "refused": e.to_string() }));
        }
    };
    match ses_sends::record(store, &accepted).await {
        Ok(()) => {
            tracing::info!(
                draft = accepted.draft_id,
                ses_message = accepted.message_id,
                "SES accepted the message"
            );
            Ok(json!({ "recorded": 1, "draft_id": accepted.draft_id }))
        }
        Err(e) => {
            tracing::warn!(error = %Chain(&e), "send event not recorded; EventBridge will retry");
            Err(Box::new(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::adapters::embedded::EmbeddedStore;

    use super::*;

    fn sample() -> Value {
        let raw = std::fs::read_to_string(format!(
            "{}/../../events/mail-events/ses-email-sent.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        serde_json::from_str(&raw).unwrap()
    }

    fn event(payload: Value) -> LambdaEvent<Value> {
        LambdaEvent::new(payload, lambda_runtime::Context::default())
    }

    #[tokio::test]
    async fn a_send_event_records_the_ses_message_of_its_draft_once() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let draft = "d3f1c2a9b8e7d6c5b4a39281";
        assert_eq!(ses_sends::accepted(&*store, draft).await.unwrap(), None);
        for _ in 0..2 {
            // A redelivery writes the same marker.
            let answer = handle(&*store, event(sample())).await.unwrap();
            assert_eq!(answer["recorded"], 1, "{answer}");
        }
        assert_eq!(
            ses_sends::accepted(&*store, draft)
                .await
                .unwrap()
                .as_deref(),
            Some("010001923c5e4f5a-8c2b7d1e-5f6a-4b3c-9d8e-7f6a5b4c3d2e-000000")
        );
        assert_eq!(ses_sends::accepted(&*store, "dother").await.unwrap(), None);
    }

    #[tokio::test]
    async fn other_events_change_nothing() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let mut bounce = sample();
        bounce["detail-type"] = json!("Email Bounced");
        bounce["detail"]["eventType"] = json!("Bounce");
        let mut garbled = sample();
        garbled["detail"]["mail"]["tags"][ses_sends::DRAFT_TAG] = json!([7]);
        for payload in [bounce, garbled, json!({"detail-type": "Scheduled Event"})] {
            let answer = handle(&*store, event(payload)).await.unwrap();
            assert_eq!(answer["recorded"], 0, "{answer}");
        }
        assert_eq!(
            ses_sends::accepted(&*store, "d3f1c2a9b8e7d6c5b4a39281")
                .await
                .unwrap(),
            None
        );
    }

    /// DynamoDB cannot be reached: the delivery fails, so EventBridge retries it.
    #[tokio::test]
    async fn a_store_failure_is_an_error_so_eventbridge_retries() {
        use aws_sdk_dynamodb::config::{retry::RetryConfig, BehaviorVersion, Credentials, Region};
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url("http://127.0.0.1:1")
            .retry_config(RetryConfig::disabled())
            .build();
        let store = Arc::new(shared::adapters::aws::DynamoPipelineStore::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            "pipeline",
        ));
        assert!(handle(&*store, event(sample())).await.is_err());
    }
}
