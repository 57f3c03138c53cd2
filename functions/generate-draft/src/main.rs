//! generate-draft: SQS -> render the founder's template -> review queue -> notify the founder.

mod handler;

use lambda_runtime::{run, service_fn, Error};
use shared::assembly::wiring::{self, NotifierSettings, Notifies};
use shared::assembly::{Adapters, DraftingSetup, Services, Settings};
use shared::config::settings::Env;
use shared::tokens::TokenSigner;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let settings = Settings {
        public_base_url: env.required("PUBLIC_BASE_URL"),
        tokens: Some(TokenSigner::new(env.secret("DRAFTGATE_SIGNING_KEY"))),
        ..start.settings()
    };
    let crm_writes = env.required("CRM_WRITE_QUEUE_URL");
    let notifier = NotifierSettings::read(&mut env, Notifies::Drafts);
    // The founder's model, if drafts are written by one ([drafting], DRAFTING_ENGINE).
    let (drafting, writer) = match DraftingSetup::read(&settings.config, &|n| env.optional(n)) {
        Ok(setup) => match setup.writer().await {
            Ok(writer) => (setup.drafting, writer),
            Err(e) => {
                env.problem(e);
                (setup.drafting, None)
            }
        },
        Err(e) => {
            env.problem(e);
            (Default::default(), None)
        }
    };
    env.finish_or_exit();

    let adapters = Adapters {
        notifier: Some(notifier.build(&start)),
        crm_writes: Some(wiring::queue(&start, crm_writes)),
        writer,
        ..start.adapters()
    };
    let settings = Settings {
        drafting,
        ..settings
    };
    let drafter = start.live(adapters, settings, Services::drafter);
    run(service_fn(move |event| {
        let drafter = drafter.clone();
        async move { handler::handle(&*drafter.get().await, event).await }
    }))
    .await
}
