//! crm-webhook: `POST /webhooks/{provider}` for the CRMs. Wires config, secrets and clients.

mod handler;

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::wiring;
use shared::app::intake::{Intake, WebhookSecrets};
use shared::ports::CrmClient;
use shared::providers::hubspot::HubSpotClient;
use shared::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let secrets = WebhookSecrets {
        hubspot_client_secret: Some(env.secret("HUBSPOT_CLIENT_SECRET")),
        pandadoc_key: None,
        inbox_secret: Some(env.secret("INBOX_WEBHOOK_SECRET")),
        generic_secret: Some(env.secret("GENERIC_WEBHOOK_SECRET")),
    };
    let hubspot_token = env.secret("HUBSPOT_ACCESS_TOKEN");
    let hubspot_base = env
        .optional("HUBSPOT_API_BASE_URL")
        .unwrap_or_else(|| "https://api.hubapi.com".into());
    env.finish_or_exit();

    let mut crm: HashMap<String, Arc<dyn CrmClient>> = HashMap::new();
    crm.insert(
        "hubspot".into(),
        Arc::new(HubSpotClient::new(&hubspot_base, hubspot_token)),
    );
    let intake = start.live(move |core| Intake {
        core,
        secrets: secrets.clone(),
        crm: crm.clone(),
        public_base_url: public_base_url.clone(),
    });
    run(service_fn(move |req| {
        let intake = intake.clone();
        async move { handler::handle(&*intake.get().await, req).await }
    }))
    .await
}
