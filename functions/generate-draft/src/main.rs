//! generate-draft: SQS -> render the founder's template -> review queue -> notify the founder.

mod handler;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::wiring::{self, NotifierSettings, Notifies};
use shared::app::drafts::Drafter;
use shared::config::settings::Env;
use shared::tokens::TokenSigner;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let tokens = TokenSigner::new(env.secret("DRAFTGATE_SIGNING_KEY"));
    let crm_writes = env.required("CRM_WRITE_QUEUE_URL");
    let notifier = NotifierSettings::read(&mut env, Notifies::Drafts);
    env.finish_or_exit();

    let notifier = notifier.build(&start);
    let crm_writes = wiring::queue(&start, crm_writes);
    let drafter = start.live(move |core| Drafter {
        core,
        notifier: notifier.clone(),
        crm_writes: crm_writes.clone(),
        tokens: tokens.clone(),
        public_base_url: public_base_url.clone(),
    });
    run(service_fn(move |event| {
        let drafter = drafter.clone();
        async move { handler::handle(&*drafter.get().await, event).await }
    }))
    .await
}
