//! review-api: the approval endpoint, and the only function linked with the sender (SES).

mod handler;

use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::{
    load_sdk_config, DynamoAuditLog, DynamoPipelineStore, EventBridgePublisher, SesSender,
};
use shared::adapters::clock::SystemClock;
use shared::app::review::Review;
use shared::app::Core;
use shared::settings::Env;
use shared::tokens::TokenSigner;

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
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let bus = env.required("EVENT_BUS_NAME");
    let signing_key = env.secret("DRAFTGATE_SIGNING_KEY");
    let configuration_set = env.optional("SES_CONFIGURATION_SET");
    env.finish_or_exit();

    let sdk = load_sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let review = Arc::new(Review {
        core: Core {
            config,
            store: Arc::new(DynamoPipelineStore::new(dynamo.clone(), pipeline_table)),
            audit: Arc::new(DynamoAuditLog::new(dynamo, audit_table)),
            clock: Arc::new(SystemClock),
        },
        sender: Arc::new(SesSender::new(
            aws_sdk_sesv2::Client::new(&sdk),
            configuration_set,
        )),
        events: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            bus,
            "draftgate",
        )),
        tokens: TokenSigner::new(signing_key),
        public_base_url,
    });
    run(service_fn(move |req| {
        let review = review.clone();
        async move { handler::handle(&review, req).await }
    }))
    .await
}
