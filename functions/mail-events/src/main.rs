//! mail-events: SES's Send events from EventBridge -> the marker that lets an approval tell
//! whether SES accepted a draft's message (see `shared::app::ses_sends`). It reads no config
//! and holds one DynamoDB client: the pipeline table is all it writes.

mod handler;

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::{load_sdk_config, DynamoPipelineStore};
use shared::assembly::wiring;
use shared::config::settings::Env;
use shared::ports::PipelineStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let table = env.required("PIPELINE_TABLE");
    env.finish_or_exit();

    let sdk = load_sdk_config().await;
    let store: Arc<dyn PipelineStore> = Arc::new(DynamoPipelineStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table,
    ));
    run(service_fn(move |event| {
        let store = store.clone();
        async move { handler::handle(&*store, event).await }
    }))
    .await
}
