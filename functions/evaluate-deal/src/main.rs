//! evaluate-deal: SQS (FIFO, grouped by deal) -> claim due trigger occurrences -> draft queue.

mod handler;

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::{wiring, SqsQueue};
use shared::app::evaluate::Evaluator;
use shared::config::settings::Env;
use shared::ports::Queue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let draft_queue = env.required("DRAFT_QUEUE_URL");
    env.finish_or_exit();

    let draft_queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(
        aws_sdk_sqs::Client::new(&start.sdk),
        draft_queue,
    ));
    let evaluator = start.live(move |core| Evaluator {
        core,
        draft_queue: draft_queue.clone(),
    });
    run(service_fn(move |event| {
        let evaluator = evaluator.clone();
        async move { handler::handle(&*evaluator.get().await, event).await }
    }))
    .await
}
