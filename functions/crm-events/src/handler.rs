//! An EventBridge event in, its canonical events recorded. A transient failure is an error, so
//! EventBridge retries the delivery (and finally parks it in the rule's dead-letter queue);
//! an event that cannot be read is logged and dropped, since retrying cannot help.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{json, Value};
use shared::error::Chain;
use shared::providers::intake::Intake;
use shared::providers::salesforce;

pub async fn handle(intake: &Intake, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let detail_type = event.payload["detail-type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let parsed = match salesforce::parse_change_event(&event.payload) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(detail_type, error = %e, "change event not understood; dropped");
            return Ok(json!({ "accepted": 0, "refused": e.0 }));
        }
    };
    match intake.record_parsed(parsed).await {
        Ok(summary) => {
            tracing::info!(
                detail_type,
                accepted = summary.accepted,
                duplicates = summary.duplicates,
                ignored = summary.ignored,
                "change event recorded"
            );
            Ok(serde_json::to_value(summary)?)
        }
        Err(e) => {
            tracing::warn!(error = %Chain(&e), "change event not recorded; EventBridge will retry");
            Err(Box::new(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::adapters::clock::ManualClock;
    use shared::adapters::embedded::EmbeddedStore;
    use shared::assembly::{Adapters, Services, Settings};
    use shared::domain::{DealRef, Stage};
    use shared::ports::DealStore;

    use super::*;

    fn sample(name: &str) -> LambdaEvent<Value> {
        let raw = std::fs::read_to_string(format!(
            "{}/../../events/crm-events/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        LambdaEvent::new(
            serde_json::from_str(&raw).unwrap(),
            lambda_runtime::Context::default(),
        )
    }

    fn intake(store: &Arc<EmbeddedStore>) -> Intake {
        let clock = Arc::new(ManualClock::new("2024-11-21T10:06:00Z".parse().unwrap()));
        Services::build(
            Adapters::embedded(store, clock),
            Settings::new(Arc::new(shared::config::Config::bundled().unwrap())),
        )
        .intake()
    }

    #[tokio::test]
    async fn both_bus_shapes_close_the_opportunity_won_once() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = intake(&store);
        let first = handle(
            &intake,
            sample("salesforce-opportunity-closed-won-appflow.json"),
        )
        .await
        .unwrap();
        assert_eq!(first["accepted"], 1, "{first}");
        let again = handle(
            &intake,
            sample("salesforce-opportunity-closed-won-appflow.json"),
        )
        .await
        .unwrap();
        assert_eq!(
            again["duplicates"], 1,
            "a redelivery is a duplicate: {again}"
        );
        let deal = store
            .get_deal(&DealRef::new("salesforce", "0065g00000XyZabAAF"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deal.stage, Some(Stage::ClosedWon));
        // The same change through Event Relay is the same event (transaction key, sequence).
        let relay = handle(
            &intake,
            sample("salesforce-opportunity-closed-won-event-relay.json"),
        )
        .await
        .unwrap();
        assert_eq!(relay["duplicates"], 1, "{relay}");
        let fresh = EmbeddedStore::open_in_memory().unwrap();
        let relay = handle(
            &self::intake(&fresh),
            sample("salesforce-opportunity-closed-won-event-relay.json"),
        )
        .await
        .unwrap();
        assert_eq!(relay["accepted"], 1, "{relay}");
    }

    #[tokio::test]
    async fn an_event_that_is_not_a_change_event_is_dropped_not_retried() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let odd = LambdaEvent::new(
            json!({"detail-type": "Scheduled Event", "detail": {}}),
            lambda_runtime::Context::default(),
        );
        let answer = handle(&intake(&store), odd).await.unwrap();
        assert_eq!(answer["accepted"], 0);
        assert!(answer["refused"]
            .as_str()
            .unwrap()
            .contains("ChangeEventHeader"));
    }
}
