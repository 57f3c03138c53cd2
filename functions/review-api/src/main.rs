//! review-api: the approval endpoint, and the only function linked with a sender: SES, or the
//! founder's own mailbox (`MAIL_SENDER=gmail|outlook`) through the send grant only its role can
//! read.

mod handler;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::sending::SenderSettings;
use shared::assembly::wiring::{self, NotifierSettings, Notifies};
use shared::assembly::{Adapters, Services, Settings};
use shared::config::settings::Env;
use shared::secret::Secret;
use shared::tokens::TokenSigner;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let settings = Settings {
        public_base_url: env.required("PUBLIC_BASE_URL"),
        tokens: Some(TokenSigner::new(env.secret("DRAFTGATE_SIGNING_KEY"))),
        slack_signing_secret: env.optional("SLACK_SIGNING_SECRET").map(Secret::new),
        ..start.settings()
    };
    let bus = env.required("EVENT_BUS_NAME");
    let sender = SenderSettings::read(&mut env, &start.config.founder.from);
    let notifier = NotifierSettings::read(&mut env, Notifies::Decisions);
    let crm_writes = env.required("CRM_WRITE_QUEUE_URL");
    env.finish_or_exit();

    let adapters = Adapters {
        sender: Some(sender.build(&start.sdk, start.store.clone())),
        notifier: Some(notifier.build(&start)),
        events: Some(wiring::event_bus(&start, bus)),
        crm_writes: Some(wiring::queue(&start, crm_writes)),
        ..start.adapters()
    };
    let review = start.live(adapters, settings, Services::review);
    run(service_fn(move |req| {
        let review = review.clone();
        async move { handler::handle(&*review.get().await, req).await }
    }))
    .await
}
