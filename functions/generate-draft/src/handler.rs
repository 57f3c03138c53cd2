//! SQS batch in, batch item failures out.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shared::adapters::lambda_sqs::handle_batch;
use shared::app::drafts::Drafter;

pub async fn handle(
    drafter: &Drafter,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    Ok(handle_batch(&event.payload, |body| drafter.handle(body)).await)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use shared::adapters::clock::ManualClock;
    use shared::adapters::embedded::EmbeddedStore;
    use shared::assembly::{Adapters, Services, Settings};
    use shared::domain::{Deal, DealRef, DraftStatus, Fact, FounderNotification, Stage};
    use shared::ports::{Notifier, NotifyError};
    use shared::secret::Secret;
    use shared::tokens::TokenSigner;

    use super::*;
    use shared::ports::DealStore;

    struct Down;

    #[async_trait]
    impl Notifier for Down {
        async fn notify(&self, _: &FounderNotification) -> Result<(), NotifyError> {
            Err(NotifyError("slack down".into()))
        }
    }

    async fn setup(notifier: Arc<dyn Notifier>) -> (Arc<EmbeddedStore>, Drafter) {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let sent: jiff::Timestamp = "2024-11-21T10:05:12.345Z".parse().unwrap();
        let mut deal = Deal::new(DealRef::new("hubspot", "18544521873"), sent);
        deal.version = 1;
        deal.name = "Acme Q4".into();
        deal.stage = Some(Stage::Proposal);
        deal.raw_stage = Some("contractsent".into());
        deal.proposal_sent_at = Some(sent);
        deal.contact_email = Some("jane@acme.example".into());
        deal.facts.insert(
            "deal.name".into(),
            Fact::new("Acme Q4", "HubSpot deal property dealname"),
        );
        store.put_deal(&deal).await.unwrap();
        let clock = Arc::new(ManualClock::new("2024-11-24T10:20:00Z".parse().unwrap()));
        let drafter = Services::build(
            Adapters {
                notifier: Some(notifier),
                ..Adapters::embedded(&store, clock)
            },
            Settings {
                public_base_url: "https://example.invalid".into(),
                tokens: Some(TokenSigner::new(Secret::new("k"))),
                ..Settings::new(Arc::new(shared::config::Config::bundled().unwrap()))
            },
        )
        .drafter();
        (store, drafter)
    }

    fn event() -> LambdaEvent<SqsEvent> {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/generate-draft/proposal-no-reply.json"
        ))
        .unwrap();
        LambdaEvent::new(
            serde_json::from_str(&raw).unwrap(),
            lambda_runtime::Context::default(),
        )
    }

    #[tokio::test]
    async fn a_missing_first_name_makes_an_incomplete_pending_draft_and_notifies_once() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let outbox = store.outbox(Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH)));
        let (store, drafter) = setup(outbox).await;
        let _ = store;
        let out = handle(&drafter, event()).await.unwrap();
        assert!(out.batch_item_failures.is_empty());
        let out = handle(&drafter, event()).await.unwrap();
        assert!(out.batch_item_failures.is_empty());
        let drafts = drafter
            .core
            .store
            .drafts_by_status(DraftStatus::Pending, None, 10)
            .await
            .unwrap();
        assert_eq!(
            drafts.len(),
            1,
            "a redelivered request does not make a second draft"
        );
        let d = &drafts[0];
        assert!(
            d.missing.contains(&"contact.first_name".to_string()),
            "{:?}",
            d.missing
        );
        assert!(d.body.contains("[[missing: contact.first_name]]"));
        assert!(d.notified_at.is_some());
        assert_eq!(
            d.context
                .facts
                .iter()
                .find(|f| f.variable == "deal.name")
                .unwrap()
                .source,
            "HubSpot deal property dealname"
        );
    }

    #[tokio::test]
    async fn a_failed_notification_is_a_batch_item_failure_and_the_draft_is_kept() {
        let (_store, drafter) = setup(Arc::new(Down)).await;
        let out = handle(&drafter, event()).await.unwrap();
        assert_eq!(out.batch_item_failures.len(), 1);
        let drafts = drafter
            .core
            .store
            .drafts_by_status(DraftStatus::Pending, None, 10)
            .await
            .unwrap();
        assert_eq!(drafts.len(), 1);
        assert!(drafts[0].notified_at.is_none(), "a retry will notify");
    }
}
