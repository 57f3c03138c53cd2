//! Shared by the service tests: one scheduled sweep and everything it causes on the embedded
//! queues, as SQS and the queue functions would do it.

use std::sync::Arc;

use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::batch::{process, Message};
use shared::app::sweep::SweepSummary;
use shared::app::Core;
use shared::assembly::{Adapters, Services, Settings};
use shared::ports::{Delivery, QueueConsumer};
use shared::tokens::TokenSigner;

pub async fn sweep_and_drain(
    core: &Core,
    store: &Arc<EmbeddedStore>,
    clock: &Arc<ManualClock>,
    tokens: &TokenSigner,
) -> SweepSummary {
    let evaluate_q = store.queue("evaluate");
    let draft_q = store.queue("drafts");
    // The queue functions' services: `core`'s tables, clock and config, the embedded queues,
    // and the outbox (on `clock`) as the founder's notifier.
    let services = Services::build(
        Adapters {
            store: core.store.clone(),
            audit: core.audit.clone(),
            clock: core.clock.clone(),
            ..Adapters::embedded(store, clock.clone())
        },
        Settings {
            public_base_url: "http://localhost".into(),
            tokens: Some(tokens.clone()),
            ..Settings::new(core.config.clone())
        },
    );
    let summary = services.sweeper().run().await.unwrap();
    let evaluator = services.evaluator();
    let drafter = services.drafter();
    // As Lambda's SQS trigger delivers them: a batch, each message in its own span.
    let deliveries = evaluate_q.receive(100).await.unwrap();
    let failed = process(&messages(&deliveries), |body| evaluator.handle(body)).await;
    assert!(failed.is_empty(), "evaluations failed: {failed:?}");
    for d in &deliveries {
        evaluate_q.ack(&d.receipt).await.unwrap();
    }
    let deliveries = draft_q.receive(100).await.unwrap();
    let failed = process(&messages(&deliveries), |body| drafter.handle(body)).await;
    assert!(failed.is_empty(), "drafts failed: {failed:?}");
    for d in &deliveries {
        draft_q.ack(&d.receipt).await.unwrap();
    }
    summary
}

fn messages(deliveries: &[Delivery]) -> Vec<Message<'_>> {
    deliveries
        .iter()
        .map(|d| Message {
            id: &d.id,
            group: None,
            body: &d.body,
        })
        .collect()
}
