//! The schedule's payload carries nothing we need; the sweep reads the clock.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::app::sweep::Sweeper;

pub async fn handle(sweeper: &Sweeper, _event: LambdaEvent<Value>) -> Result<Value, Error> {
    let summary = sweeper.run().await?;
    tracing::info!(
        due = summary.due_deals,
        resurfaced = summary.resurfaced_drafts,
        skipped = summary.skipped,
        "sweep done"
    );
    Ok(serde_json::to_value(summary)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::adapters::clock::ManualClock;
    use shared::adapters::embedded::EmbeddedStore;
    use shared::assembly::{Adapters, Services, Settings};
    use shared::domain::{Deal, DealRef};
    use shared::ports::QueueConsumer;

    use super::*;
    use shared::ports::DealStore;

    #[tokio::test]
    async fn the_scheduled_event_enqueues_only_due_deals() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let now: jiff::Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
        for (id, due) in [
            ("due", "2026-01-09T00:00:00Z"),
            ("later", "2026-01-11T00:00:00Z"),
        ] {
            let mut d = Deal::new(DealRef::new("hubspot", id), now);
            d.version = 1;
            d.next_due_at = Some(due.parse().unwrap());
            store.put_deal(&d).await.unwrap();
        }
        let evaluate = store.queue("evaluate");
        let sweeper = Services::build(
            Adapters::embedded(&store, Arc::new(ManualClock::new(now))),
            Settings::new(Arc::new(shared::config::Config::bundled().unwrap())),
        )
        .sweeper();
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/sweep-due/scheduled.json"
        ))
        .unwrap();
        let event = LambdaEvent::new(
            serde_json::from_str(&raw).unwrap(),
            lambda_runtime::Context::default(),
        );
        let out = handle(&sweeper, event).await.unwrap();
        assert_eq!(out["due_deals"], 1);
        let msgs = evaluate.receive(10).await.unwrap();
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].body.contains("\"id\":\"due\""));
    }
}
