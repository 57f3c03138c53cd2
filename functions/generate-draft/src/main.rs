//! generate-draft: SQS -> render the founder's template -> review queue -> notify the founder.

mod handler;

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::{wiring, SnsEmailNotifier};
use shared::adapters::fanout::Fanout;
use shared::adapters::slack::SlackNotifier;
use shared::app::drafts::Drafter;
use shared::ports::Notifier;
use shared::secret::Secret;
use shared::settings::Env;
use shared::tokens::TokenSigner;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let tokens = TokenSigner::new(env.secret("DRAFTGATE_SIGNING_KEY"));
    let topic = env.optional("FOUNDER_TOPIC_ARN");
    let slack = env.optional("SLACK_WEBHOOK_URL");
    if topic.is_none() && slack.is_none() {
        env.problem(
            "set FOUNDER_TOPIC_ARN and/or SLACK_WEBHOOK_URL so the founder hears about drafts",
        );
    }
    env.finish_or_exit();

    let mut channels: Vec<Arc<dyn Notifier>> = Vec::new();
    if let Some(url) = slack {
        channels.push(Arc::new(SlackNotifier::new(Secret::new(url))));
    }
    if let Some(arn) = topic {
        channels.push(Arc::new(SnsEmailNotifier::new(
            aws_sdk_sns::Client::new(&start.sdk),
            arn,
        )));
    }
    let notifier: Arc<dyn Notifier> = Arc::new(Fanout(channels));
    let drafter = start.live(move |core| Drafter {
        core,
        notifier: notifier.clone(),
        tokens: tokens.clone(),
        public_base_url: public_base_url.clone(),
    });
    run(service_fn(move |event| {
        let drafter = drafter.clone();
        async move { handler::handle(&*drafter.get().await, event).await }
    }))
    .await
}
