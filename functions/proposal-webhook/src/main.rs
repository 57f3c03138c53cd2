//! proposal-webhook: `POST /webhooks/pandadoc`. Wires config, secrets and clients.

mod handler;

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::wiring;
use shared::app::intake::{Intake, WebhookSecrets};
use shared::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let (core, _sdk) = wiring::core(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let pandadoc_key = env.secret("PANDADOC_WEBHOOK_KEY");
    env.finish_or_exit();

    let intake = Arc::new(Intake {
        core,
        secrets: WebhookSecrets {
            hubspot_client_secret: None,
            pandadoc_key: Some(pandadoc_key),
            ..WebhookSecrets::default()
        },
        crm: HashMap::new(),
        public_base_url,
    });
    run(service_fn(move |req| {
        let intake = intake.clone();
        async move { handler::handle(&intake, req).await }
    }))
    .await
}
