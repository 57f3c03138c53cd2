//! crm-webhook: `POST /webhooks/{provider}` for the CRMs. Wires config, secrets and clients.

mod handler;

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::wiring;
use shared::app::intake::Intake;
use shared::ports::CrmClient;
use shared::providers::hubspot::HubSpotClient;
use shared::providers::Providers;
use shared::secret::Secret;
use shared::settings::Env;

/// The webhook routes this function serves (PandaDoc has its own function).
const PROVIDERS: &[&str] = &[
    "hubspot",
    "pipedrive",
    "close",
    "salesforce",
    "inbox",
    "generic",
];

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    // A provider without its secret answers 401 "not configured".
    let providers = Providers::build(PROVIDERS, |spec| env.optional(spec.env).map(Secret::new));
    let hubspot_token = env.optional("HUBSPOT_ACCESS_TOKEN").map(Secret::new);
    let hubspot_base = env
        .optional("HUBSPOT_API_BASE_URL")
        .unwrap_or_else(|| "https://api.hubapi.com".into());
    env.finish_or_exit();

    let mut crm: HashMap<String, Arc<dyn CrmClient>> = HashMap::new();
    if let Some(token) = hubspot_token {
        crm.insert(
            "hubspot".into(),
            Arc::new(HubSpotClient::new(&hubspot_base, token)),
        );
    }
    let intake = start.live(move |core| Intake {
        core,
        providers: providers.clone(),
        crm: crm.clone(),
        public_base_url: public_base_url.clone(),
    });
    run(service_fn(move |req| {
        let intake = intake.clone();
        async move { handler::handle(&*intake.get().await, req).await }
    }))
    .await
}
