//! The in-process queue consumers: what SQS and Lambda do in AWS, for the runner and replays.

use std::sync::Arc;
use std::time::Duration;

use shared::adapters::embedded::EmbeddedQueue;
use shared::app::drafts::Drafter;
use shared::app::evaluate::Evaluator;
use shared::app::WorkError;
use shared::ports::QueueConsumer;

pub struct Workers {
    pub evaluate_q: Arc<EmbeddedQueue>,
    pub draft_q: Arc<EmbeddedQueue>,
    pub evaluator: Evaluator,
    pub drafter: Drafter,
}

impl Workers {
    /// Handle whatever is visible on both queues; returns how many messages were handled.
    pub async fn process_once(&self) -> usize {
        let mut handled = 0;
        for (queue, is_evaluate) in [(&self.evaluate_q, true), (&self.draft_q, false)] {
            let deliveries = match queue.receive(10).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(queue = queue.name(), error = %e, "receive failed");
                    continue;
                }
            };
            for d in deliveries {
                handled += 1;
                let result: Result<(), WorkError> = if is_evaluate {
                    self.evaluator.handle(&d.body).await.map(|_| ())
                } else {
                    self.drafter.handle(&d.body).await.map(|_| ())
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
            let depth = self.evaluate_q.depth().unwrap_or(0) + self.draft_q.depth().unwrap_or(0);
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
