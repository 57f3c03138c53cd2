//! review-api: the approval endpoint, and the only function linked with a sender: SES, or the
//! founder's own mailbox (`MAIL_SENDER=gmail|outlook`) through the send grant only its role can
//! read.

mod handler;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::sending::SenderSettings;
use shared::adapters::aws::wiring::{self, NotifierSettings, Notifies};
use shared::app::review::Review;
use shared::config::settings::Env;
use shared::secret::Secret;
use shared::tokens::TokenSigner;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let bus = env.required("EVENT_BUS_NAME");
    let tokens = TokenSigner::new(env.secret("DRAFTGATE_SIGNING_KEY"));
    let sender = SenderSettings::read(&mut env, &start);
    let notifier = NotifierSettings::read(&mut env, Notifies::Decisions);
    let slack_signing_secret = env.optional("SLACK_SIGNING_SECRET").map(Secret::new);
    let crm_writes = env.required("CRM_WRITE_QUEUE_URL");
    env.finish_or_exit();

    let sender = sender.build(&start);
    let notifier = notifier.build(&start);
    let events = wiring::event_bus(&start, bus);
    let crm_writes = wiring::queue(&start, crm_writes);
    let review = start.live(move |core| Review {
        core,
        notifier: notifier.clone(),
        slack_signing_secret: slack_signing_secret.clone(),
        sender: sender.clone(),
        events: events.clone(),
        crm_writes: crm_writes.clone(),
        tokens: tokens.clone(),
        public_base_url: public_base_url.clone(),
    });
    run(service_fn(move |req| {
        let review = review.clone();
        async move { handler::handle(&*review.get().await, req).await }
    }))
    .await
}
