//! crm-webhook: `POST /webhooks/{provider}` for the CRMs, the inbox connector and the founder's
//! mailbox (Gmail and Outlook pushes). Wires config, secrets and clients.

mod handler;

use lambda_http::{run, service_fn, Error};
use shared::assembly::{wiring, Adapters, Settings};
use shared::config::settings::Env;
use shared::providers::{CrmApis, Providers, SourceKind};
use shared::secret::Secret;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    // A provider without its secret answers 401 "not configured".
    // The CRMs, the inbox and the generic webhook (PandaDoc has its own function).
    let routes = Providers::names_of(&[SourceKind::Crm, SourceKind::Inbox, SourceKind::Generic]);
    let providers = Providers::build(&routes, |spec| env.optional(spec.env).map(Secret::new));
    // Deal details from each CRM's API whose token is set.
    let apis = CrmApis::from_settings(|name| env.optional(name));
    // The founder's mailbox (Gmail / Outlook pushes), from its read grant's secret.
    let grants = wiring::mailbox_grants(&start, &env, "MAILBOX_READ_SECRET_ARN").await;
    let get = |name: &str| env.optional(name).or_else(|| grants.get(name).cloned());
    let mailboxes = shared::adapters::mailbox::readers(&get, &public_base_url);
    let bus = env.required("EVENT_BUS_NAME");
    env.finish_or_exit();

    // Won and lost deals are announced on the bus (EVENT_BUS_NAME).
    let adapters = Adapters {
        events: Some(wiring::event_bus(&start, bus)),
        crm_clients: apis.clients,
        mailboxes,
        ..start.adapters()
    };
    let settings = Settings {
        public_base_url,
        providers,
        ..start.settings()
    };
    let services = start.live(adapters, settings, |s| (s.intake(), s.mail_intake()));
    run(service_fn(move |req| {
        let services = services.clone();
        async move {
            let services = services.get().await;
            handler::handle(&services.0, &services.1, req).await
        }
    }))
    .await
}
