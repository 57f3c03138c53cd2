//! generate-draft: SQS -> render the founder's template -> review queue -> notify the founder.

mod handler;

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::{wiring, SnsEmailNotifier};
use shared::adapters::fanout::Fanout;
use shared::adapters::slack::{SlackBot, SlackNotifier};
use shared::app::drafts::Drafter;
use shared::config::settings::Env;
use shared::ports::Notifier;
use shared::secret::Secret;
use shared::tokens::TokenSigner;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let tokens = TokenSigner::new(env.secret("DRAFTGATE_SIGNING_KEY"));
    let crm_writes = env.required("CRM_WRITE_QUEUE_URL");
    let topic = env.optional("FOUNDER_TOPIC_ARN");
    let slack = env.optional("SLACK_WEBHOOK_URL");
    let slack_bot = env
        .optional("SLACK_BOT_TOKEN")
        .zip(env.optional("SLACK_CHANNEL"));
    let slack_api = env
        .optional("SLACK_API_BASE_URL")
        .unwrap_or_else(|| "https://slack.com/api".into());
    if topic.is_none() && slack.is_none() && slack_bot.is_none() {
        env.problem(
            "set FOUNDER_TOPIC_ARN and/or SLACK_WEBHOOK_URL so the founder hears about drafts",
        );
    }
    env.finish_or_exit();

    let mut channels: Vec<Arc<dyn Notifier>> = Vec::new();
    // draftgate's bot (drafts with buttons) when configured, else the incoming webhook.
    match slack_bot {
        Some((token, channel)) => channels.push(Arc::new(SlackBot::new(
            &slack_api,
            Secret::new(token),
            channel,
            start.core.store.clone(),
        ))),
        None => {
            if let Some(url) = slack {
                channels.push(Arc::new(SlackNotifier::new(Secret::new(url))));
            }
        }
    }
    if let Some(arn) = topic {
        channels.push(Arc::new(SnsEmailNotifier::new(
            aws_sdk_sns::Client::new(&start.sdk),
            arn,
        )));
    }
    let notifier: Arc<dyn Notifier> = Arc::new(Fanout(channels));
    let crm_writes: Arc<dyn shared::ports::Queue> = Arc::new(shared::adapters::aws::SqsQueue::new(
        aws_sdk_sqs::Client::new(&start.sdk),
        crm_writes,
    ));
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
