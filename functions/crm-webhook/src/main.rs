//! crm-webhook: `POST /webhooks/{provider}` for the CRMs. Wires config, secrets and clients.

mod handler;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::wiring;
use shared::app::intake::Intake;
use shared::providers::{CrmApis, Providers};
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
    // Deal details from each CRM's API whose token is set (HubSpot, Pipedrive).
    let crm = CrmApis::from_settings(|name| env.optional(name)).clients;
    env.finish_or_exit();

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
