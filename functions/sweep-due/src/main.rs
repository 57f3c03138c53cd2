//! sweep-due: run by the EventBridge schedule; enqueues due deals for evaluation.

mod handler;

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::{load_sdk_config, DynamoAuditLog, DynamoPipelineStore, SqsQueue};
use shared::adapters::clock::SystemClock;
use shared::app::sweep::Sweeper;
use shared::app::Core;
use shared::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
    let config = Arc::new(shared::config::load_or_exit());
    let mut env = Env::new();
    let pipeline_table = env.required("PIPELINE_TABLE");
    let audit_table = env.required("AUDIT_TABLE");
    let evaluate_queue = env.required("EVALUATE_QUEUE_URL");
    let draft_queue = env.required("DRAFT_QUEUE_URL");
    env.finish_or_exit();

    let sdk = load_sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sweeper = Arc::new(Sweeper {
        core: Core {
            config,
            store: Arc::new(DynamoPipelineStore::new(dynamo.clone(), pipeline_table)),
            audit: Arc::new(DynamoAuditLog::new(dynamo, audit_table)),
            clock: Arc::new(SystemClock),
        },
        evaluate_queue: Arc::new(SqsQueue::new(sqs.clone(), evaluate_queue)),
        draft_queue: Arc::new(SqsQueue::new(sqs, draft_queue)),
    });
    run(service_fn(move |event| {
        let sweeper = sweeper.clone();
        async move { handler::handle(&sweeper, event).await }
    }))
    .await
}
