//! sweep-due: run by the EventBridge schedule; enqueues due deals for evaluation.

mod handler;

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::{wiring, SqsQueue};
use shared::app::sweep::Sweeper;
use shared::config::settings::Env;
use shared::ports::Queue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let evaluate_queue = env.required("EVALUATE_QUEUE_URL");
    let draft_queue = env.required("DRAFT_QUEUE_URL");
    env.finish_or_exit();

    let sqs = aws_sdk_sqs::Client::new(&start.sdk);
    let evaluate_queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(sqs.clone(), evaluate_queue));
    let draft_queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(sqs, draft_queue));
    let sweeper = start.live(move |core| Sweeper {
        core,
        evaluate_queue: evaluate_queue.clone(),
        draft_queue: draft_queue.clone(),
    });
    run(service_fn(move |event| {
        let sweeper = sweeper.clone();
        async move { handler::handle(&*sweeper.get().await, event).await }
    }))
    .await
}
