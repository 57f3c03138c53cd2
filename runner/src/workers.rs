//! The in-process queue consumers: what SQS and Lambda do in AWS, for the runner and replays.

use std::sync::Arc;
use std::time::Duration;

use shared::adapters::embedded::EmbeddedQueue;
use shared::app::drafts::Drafter;
use shared::app::evaluate::Evaluator;
use shared::app::writeback::CrmWriteback;
use shared::app::WorkError;
use shared::domain::DomainEvent;
use shared::ports::{EventPublisher, PublishError, Queue, QueueConsumer, QueueMessage};

pub struct Workers {
    pub evaluate_q: Arc<EmbeddedQueue>,
    pub draft_q: Arc<EmbeddedQueue>,
    pub evaluator: Evaluator,
    pub drafter: Drafter,
    /// The CRM write-back queue and its worker (`None`: jobs stay queued, as in a replay).
    pub writeback: Option<(Arc<EmbeddedQueue>, CrmWriteback)>,
}

#[derive(Clone, Copy)]
enum Work {
    Evaluate,
    Draft,
    Write,
}

impl Workers {
    fn queues(&self) -> Vec<(&Arc<EmbeddedQueue>, Work)> {
        let mut q = vec![
            (&self.evaluate_q, Work::Evaluate),
            (&self.draft_q, Work::Draft),
        ];
        if let Some((writes, _)) = &self.writeback {
            q.push((writes, Work::Write));
        }
        q
    }

    /// Handle whatever is visible on the queues; returns how many messages were handled.
    pub async fn process_once(&self) -> usize {
        let mut handled = 0;
        for (queue, work) in self.queues() {
            let deliveries = match queue.receive(10).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(queue = queue.name(), error = %e, "receive failed");
                    continue;
                }
            };
            for d in deliveries {
                handled += 1;
                let result: Result<(), WorkError> = match (work, &self.writeback) {
                    (Work::Evaluate, _) => self.evaluator.handle(&d.body).await.map(|_| ()),
                    (Work::Draft, _) => self.drafter.handle(&d.body).await.map(|_| ()),
                    (Work::Write, Some((_, writer))) => writer.handle(&d.body).await.map(|_| ()),
                    (Work::Write, None) => Ok(()),
                };
                let outcome = match result {
                    Ok(()) => queue.ack(&d.receipt).await,
                    Err(e) => {
                        tracing::warn!(queue = queue.name(), attempt = d.receive_count, error = %e, "message failed; will retry");
                        queue.release(
                            &d.receipt,
                            Duration::from_millis(100 * d.receive_count as u64),
                        )
                    }
                };
                if let Err(e) = outcome {
                    tracing::warn!(queue = queue.name(), error = %e, "could not settle message");
                }
            }
        }
        handled
    }

    /// Wait until both queues are empty (failing messages end in the dead-letter table).
    pub async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let handled = self.process_once().await;
            let depth: usize = self
                .queues()
                .iter()
                .map(|(q, _)| q.depth().unwrap_or(0))
                .sum();
            if depth == 0 {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                tracing::warn!(depth, "queues did not drain within 30 s");
                return;
            }
            if handled == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The event bus as the runner has it: every event is kept (`GET /dev/events`), and
/// `deal.won` / `deal.lost` also go to the CRM write-back queue, as the template's EventBridge
/// rule routes them in AWS (the outcome is logged on the deal's record).
pub struct Bus {
    pub events: Arc<dyn EventPublisher>,
    pub crm_writes: Arc<dyn Queue>,
}

#[async_trait::async_trait]
impl EventPublisher for Bus {
    async fn publish(&self, event: &DomainEvent) -> Result<(), PublishError> {
        self.events.publish(event).await?;
        if matches!(event.detail_type.as_str(), "deal.won" | "deal.lost") {
            let body = serde_json::json!({ "detail-type": event.detail_type, "source": "draftgate", "detail": event.detail });
            let deal = &event.detail["deal"];
            let message = QueueMessage {
                body: body.to_string(),
                group_id: format!(
                    "{}:{}",
                    deal["crm"].as_str().unwrap_or(""),
                    deal["id"].as_str().unwrap_or("")
                ),
                dedup_id: shared::app::short_hash(&[
                    event.detail["event_id"].as_str().unwrap_or(""),
                    &event.detail_type,
                ]),
            };
            self.crm_writes
                .send(&message)
                .await
                .map_err(|e| PublishError(Box::new(e)))?;
        }
        Ok(())
    }
}
