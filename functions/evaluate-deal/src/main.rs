//! evaluate-deal: SQS (FIFO, grouped by deal) -> claim due trigger occurrences -> draft queue.

mod handler;

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::{wiring, SqsQueue};
use shared::app::evaluate::Evaluator;
use shared::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let (core, sdk) = wiring::core(&mut env).await;
    let draft_queue = env.required("DRAFT_QUEUE_URL");
    env.finish_or_exit();

    let evaluator = Arc::new(Evaluator {
        core,
        draft_queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), draft_queue)),
    });
    run(service_fn(move |event| {
        let evaluator = evaluator.clone();
        async move { handler::handle(&evaluator, event).await }
    }))
    .await
}
