//! Shared by the service tests: one scheduled sweep and everything it causes on the embedded
//! queues, as SQS and the queue functions would do it.

use std::sync::Arc;

use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::batch::{process, Message};
use shared::app::drafts::Drafter;
use shared::app::evaluate::Evaluator;
use shared::app::sweep::{SweepSummary, Sweeper};
use shared::app::Core;
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
    let summary = Sweeper {
        core: core.clone(),
        evaluate_queue: evaluate_q.clone(),
        draft_queue: draft_q.clone(),
    }
    .run()
    .await
    .unwrap();
    let evaluator = Evaluator {
        core: core.clone(),
        draft_queue: draft_q.clone(),
    };
    let drafter = Drafter {
        core: core.clone(),
        notifier: store.outbox(clock.clone()),
        crm_writes: store.queue("crm-writes"),
        tokens: tokens.clone(),
        public_base_url: "http://localhost".into(),
    };
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
