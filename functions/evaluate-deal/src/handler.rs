//! SQS batch in, batch item failures out.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shared::adapters::lambda_sqs::handle_batch;
use shared::app::evaluate::Evaluator;

pub async fn handle(
    evaluator: &Evaluator,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    Ok(handle_batch(&event.payload, |body| evaluator.handle(body)).await)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::adapters::clock::ManualClock;
    use shared::adapters::embedded::EmbeddedStore;
    use shared::assembly::{Adapters, Services, Settings};
    use shared::domain::{Deal, DealRef, Stage};
    use shared::ports::QueueConsumer;

    use super::*;
    use shared::ports::DealStore;

    /// The evaluator on the embedded store (its `drafts` queue), its clock standing at `now`.
    fn evaluator(store: &Arc<EmbeddedStore>, now: jiff::Timestamp) -> Evaluator {
        Services::build(
            Adapters::embedded(store, Arc::new(ManualClock::new(now))),
            Settings::new(Arc::new(shared::config::Config::bundled().unwrap())),
        )
        .evaluator()
    }

    fn event() -> LambdaEvent<SqsEvent> {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/evaluate-deal/one-deal.json"
        ))
        .unwrap();
        LambdaEvent::new(
            serde_json::from_str(&raw).unwrap(),
            lambda_runtime::Context::default(),
        )
    }

    #[tokio::test]
    async fn a_due_proposal_fires_once_even_when_the_message_is_delivered_twice() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let sent: jiff::Timestamp = "2024-11-21T10:05:12.345Z".parse().unwrap();
        let mut deal = Deal::new(DealRef::new("hubspot", "18544521873"), sent);
        deal.version = 1;
        deal.stage = Some(Stage::Proposal);
        deal.raw_stage = Some("contractsent".into());
        deal.proposal_sent_at = Some(sent);
        store.put_deal(&deal).await.unwrap();
        let drafts = store.queue("drafts");
        let evaluator = evaluator(&store, "2024-11-24T10:15:00Z".parse().unwrap());
        let first = handle(&evaluator, event()).await.unwrap();
        assert!(first.batch_item_failures.is_empty());
        let second = handle(&evaluator, event()).await.unwrap();
        assert!(second.batch_item_failures.is_empty());
        let msgs = drafts.receive(10).await.unwrap();
        assert_eq!(msgs.len(), 1, "one draft request per occurrence");
        assert!(msgs[0]
            .body
            .contains("proposal_no_reply#2024-11-21T10:05:12.345Z"));
    }

    #[tokio::test]
    async fn an_unreadable_message_is_reported_as_a_batch_item_failure() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let evaluator = evaluator(&store, jiff::Timestamp::UNIX_EPOCH);
        let mut e = event();
        e.payload.records[0].body = Some("not json".into());
        let out = handle(&evaluator, e).await.unwrap();
        assert_eq!(out.batch_item_failures.len(), 1);
        assert_eq!(
            Some(out.batch_item_failures[0].item_identifier.as_str()),
            event().payload.records[0].message_id.as_deref()
        );
    }
}
