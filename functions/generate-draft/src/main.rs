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
    let (core, sdk) = wiring::core(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let signing_key = env.secret("DRAFTGATE_SIGNING_KEY");
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
            aws_sdk_sns::Client::new(&sdk),
            arn,
        )));
    }
    let drafter = Arc::new(Drafter {
        core,
        notifier: Arc::new(Fanout(channels)),
        tokens: TokenSigner::new(signing_key),
        public_base_url,
    });
    run(service_fn(move |event| {
        let drafter = drafter.clone();
        async move { handler::handle(&drafter, event).await }
    }))
    .await
}
