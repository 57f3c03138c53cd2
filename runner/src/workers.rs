//! The in-process queue consumers: what SQS and Lambda do in AWS, for the runner and replays.

use std::sync::Arc;
use std::time::Duration;

use shared::adapters::aws::SqsQueue;
use shared::adapters::embedded::EmbeddedQueue;
use shared::app::drafts::Drafter;
use shared::app::evaluate::Evaluator;
use shared::app::writeback::CrmWriteback;
use shared::app::WorkError;
use shared::domain::DomainEvent;
use shared::ports::{EventPublisher, PublishError, Queue, QueueConsumer, QueueError, QueueMessage};

/// A work queue the runner drains: the embedded store's, or SQS (`serve --aws`).
#[async_trait::async_trait]
pub trait WorkQueue: Queue + QueueConsumer {
    fn name(&self) -> &str;
    /// Messages waiting or in flight.
    async fn depth(&self) -> Result<usize, QueueError>;
    /// A failed attempt: visible again after `delay`.
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), QueueError>;
}

#[async_trait::async_trait]
impl WorkQueue for EmbeddedQueue {
    fn name(&self) -> &str {
        EmbeddedQueue::name(self)
    }
    async fn depth(&self) -> Result<usize, QueueError> {
        EmbeddedQueue::depth(self)
    }
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        EmbeddedQueue::release(self, receipt, delay)
    }
}

#[async_trait::async_trait]
impl WorkQueue for SqsQueue {
    fn name(&self) -> &str {
        self.url().rsplit('/').next().unwrap_or_default()
    }
    async fn depth(&self) -> Result<usize, QueueError> {
        SqsQueue::depth(self).await
    }
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        SqsQueue::release(self, receipt, delay).await
    }
}

pub struct Workers {
    pub evaluate_q: Arc<dyn WorkQueue>,
    pub draft_q: Arc<dyn WorkQueue>,
    pub evaluator: Evaluator,
    pub drafter: Drafter,
    /// The CRM write-back queue and its worker (`None`: jobs stay queued, as in a replay).
    pub writeback: Option<(Arc<dyn WorkQueue>, CrmWriteback)>,
}

#[derive(Clone, Copy)]
enum Work {
    Evaluate,
    Draft,
    Write,
}

impl Workers {
    fn queues(&self) -> Vec<(&Arc<dyn WorkQueue>, Work)> {
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
                        queue
                            .release(
                                &d.receipt,
                                Duration::from_millis(100 * d.receive_count as u64),
                            )
                            .await
                    }
                };
                if let Err(e) = outcome {
                    tracing::warn!(queue = queue.name(), error = %e, "could not settle message");
                }
            }
        }
        handled
    }

    /// Wait until the queues are empty (failing messages end in the dead-letter queue).
    pub async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut depth = 0;
            for (q, _) in self.queues() {
                depth += q.depth().await.unwrap_or(0);
            }
            if depth == 0 {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                tracing::warn!(depth, "queues did not drain within 30 s");
                return;
            }
            if self.process_once().await == 0 {
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
