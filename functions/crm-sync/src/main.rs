//! crm-sync: run by its EventBridge schedule; reads each configured CRM's deals (every open one
//! the first time, then what changed) and records them; renews the founder's mailbox watch when
//! it is due.

mod handler;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::wiring;
use shared::app::sync::Syncer;
use shared::config::settings::Env;
use shared::providers::intake::Intake;
use shared::providers::mail_intake::MailIntake;
use shared::providers::CrmApis;
use shared::providers::Providers;

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
    let mail = std::sync::Arc::new(MailIntake {
        mailboxes: shared::adapters::mailbox::readers(&get, &public_base_url),
    });
    let bus = env.required("EVENT_BUS_NAME");
    env.finish_or_exit();

    // Won and lost deals are announced on the bus (EVENT_BUS_NAME).
    let events = wiring::event_bus(&start, bus.clone());
    let sync_events = events.clone();
    let syncer = start.live(move |core| Syncer {
        core,
        sources: apis.sources.clone(),
        events: sync_events.clone(),
    });
    let intake = start.live(move |core| Intake {
        core,
        providers: Providers::default(),
        crm: Default::default(),
        public_base_url: public_base_url.clone(),
        events: events.clone(),
    });
    run(service_fn(move |event| {
        let syncer = syncer.clone();
        let intake = intake.clone();
        let mail = mail.clone();
        async move {
            let mailboxes = mail.upkeep(&*intake.get().await).await;
            handler::handle(&*syncer.get().await, mailboxes, event).await
        }
    }))
    .await
}
