//! crm-webhook: `POST /webhooks/{provider}` for the CRMs. Wires config, secrets and clients.

mod handler;

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::{load_sdk_config, DynamoAuditLog, DynamoPipelineStore};
use shared::adapters::clock::SystemClock;
use shared::app::intake::{Intake, WebhookSecrets};
use shared::app::Core;
use shared::ports::CrmClient;
use shared::providers::hubspot::HubSpotClient;
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
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let hubspot_secret = env.secret("HUBSPOT_CLIENT_SECRET");
    let hubspot_token = env.secret("HUBSPOT_ACCESS_TOKEN");
    let hubspot_base = env
        .optional("HUBSPOT_API_BASE_URL")
        .unwrap_or_else(|| "https://api.hubapi.com".into());
    env.finish_or_exit();

    let sdk = load_sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let mut crm: HashMap<String, Arc<dyn CrmClient>> = HashMap::new();
    crm.insert(
        "hubspot".into(),
        Arc::new(HubSpotClient::new(&hubspot_base, hubspot_token)),
    );
    let intake = Arc::new(Intake {
        core: Core {
            config,
            store: Arc::new(DynamoPipelineStore::new(dynamo.clone(), pipeline_table)),
            audit: Arc::new(DynamoAuditLog::new(dynamo, audit_table)),
            clock: Arc::new(SystemClock),
        },
        secrets: WebhookSecrets {
            hubspot_client_secret: Some(hubspot_secret),
            pandadoc_key: None,
        },
        crm,
        public_base_url,
    });
    run(service_fn(move |req| {
        let intake = intake.clone();
        async move { handler::handle(&intake, req).await }
    }))
    .await
}
