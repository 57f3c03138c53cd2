//! crm-sync: run by its EventBridge schedule; reads each configured CRM's deals (every open one
//! the first time, then what changed) and records them; renews the founder's mailbox watch when
//! it is due.

mod handler;

use lambda_runtime::{run, service_fn, Error};
use shared::assembly::{wiring, Adapters, Settings};
use shared::config::settings::Env;
use shared::providers::CrmApis;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let apis = CrmApis::from_settings(|name| env.optional(name));
    // The founder's mailbox: its watch or subscription is renewed here when due.
    let public_base_url = env.optional("PUBLIC_BASE_URL").unwrap_or_default();
    let grants = wiring::mailbox_grants(&start, &env, "MAILBOX_READ_SECRET_ARN").await;
    let get = |name: &str| env.optional(name).or_else(|| grants.get(name).cloned());
    let mailboxes = shared::adapters::mailbox::readers(&get, &public_base_url);
    let bus = env.required("EVENT_BUS_NAME");
    env.finish_or_exit();

    // Won and lost deals are announced on the bus (EVENT_BUS_NAME).
    let adapters = Adapters {
        events: Some(wiring::event_bus(&start, bus)),
        mailboxes,
        ..start.adapters().with_crm_apis(apis)
    };
    let settings = Settings {
        public_base_url,
        ..start.settings()
    };
    // Built once per config, not per run.
    let services = start.live(adapters, settings, |s| {
        (s.syncer(), s.intake(), s.mail_intake())
    });
    run(service_fn(move |event| {
        let services = services.clone();
        async move {
            let services = services.get().await;
            let (syncer, intake, mail) = &*services;
            let mailboxes = mail.upkeep(intake).await;
            handler::handle(syncer, mailboxes, event).await
        }
    }))
    .await
}
