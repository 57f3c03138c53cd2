//! review-api: the approval endpoint, and the only function linked with a sender: SES, or the
//! founder's own mailbox (`MAIL_SENDER=gmail|outlook`) through the send grant only its role can
//! read.

mod handler;

use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::{wiring, EventBridgePublisher, SesSender, SnsEmailNotifier};
use shared::adapters::mailbox::MailSender;
use shared::app::review::Review;
use shared::config::settings::Env;
use shared::domain::{OutboundEmail, SentReceipt};
use shared::ports::{EventPublisher, SendError, Sender, SentLookup};
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
    let configuration_set = env.optional("SES_CONFIGURATION_SET");
    // The configuration set publishes SES's Send events, which mail-events records: an
    // approval whose send had no answer can then tell whether SES accepted the message.
    let send_events = match env.optional("SES_SEND_EVENTS").as_deref() {
        None | Some("off") => false,
        Some("on") => true,
        Some(other) => {
            env.problem(format!(
                "SES_SEND_EVENTS must be `on` or `off`, got `{other}`"
            ));
            false
        }
    };
    if send_events && configuration_set.is_none() {
        env.problem(
            "SES_SEND_EVENTS=on needs SES_CONFIGURATION_SET (the set that publishes Send events)",
        );
    }
    // The role may only send from the template's SenderAddress: catch a config that disagrees at
    // start instead of as an access-denied error on the founder's first approval.
    if let Some(sender) = env.optional("SENDER_ADDRESS") {
        let from = &start.core.config.founder.from;
        if !from
            .to_ascii_lowercase()
            .contains(&sender.to_ascii_lowercase())
        {
            env.problem(format!(
                "config founder.from `{from}` is not the SES sender address `{sender}`"
            ));
        }
    }
    let mail_sender =
        match MailSender::parse(&env.optional("MAIL_SENDER").unwrap_or_else(|| "ses".into())) {
            Ok(k) => k,
            Err(e) => {
                env.problem(e);
                MailSender::Ses
            }
        };
    let send_secret = env.optional("MAILBOX_SEND_SECRET_ARN");
    let founder_topic = env.required("FOUNDER_TOPIC_ARN");
    let slack_signing_secret = env.optional("SLACK_SIGNING_SECRET");
    let slack_bot = env
        .optional("SLACK_BOT_TOKEN")
        .zip(env.optional("SLACK_CHANNEL"));
    let slack_api = env
        .optional("SLACK_API_BASE_URL")
        .unwrap_or_else(|| "https://slack.com/api".into());
    if mail_sender != MailSender::Ses && send_secret.is_none() {
        env.problem(format!(
            "MAIL_SENDER={mail_sender:?} needs MAILBOX_SEND_SECRET_ARN (the send grant's secret)"
        ));
    }
    let crm_writes = env.required("CRM_WRITE_QUEUE_URL");
    env.finish_or_exit();

    let sender: Arc<dyn Sender> = match mail_sender {
        MailSender::Ses => {
            let ses = SesSender::new(aws_sdk_sesv2::Client::new(&start.sdk), configuration_set);
            Arc::new(if send_events {
                ses.finding_sends_in(start.core.store.clone())
            } else {
                ses
            })
        }
        kind => Arc::new(GrantSender {
            kind,
            secret: send_secret.unwrap_or_default(),
            client: aws_sdk_secretsmanager::Client::new(&start.sdk),
            built: tokio::sync::OnceCell::new(),
        }),
    };
    let events: Arc<dyn EventPublisher> = Arc::new(EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(&start.sdk),
        bus,
        "draftgate",
    ));
    // A fresh review link goes to the approvers' inbox (the founder topic's email), never
    // to whoever clicked an expired one.
    let mut channels: Vec<Arc<dyn shared::ports::Notifier>> = vec![Arc::new(
        SnsEmailNotifier::new(aws_sdk_sns::Client::new(&start.sdk), founder_topic),
    )];
    // The bot's messages show every decision (and lose their buttons).
    if let Some((token, channel)) = slack_bot {
        channels.push(Arc::new(shared::adapters::slack::SlackBot::new(
            &slack_api,
            Secret::new(token),
            channel,
            start.core.store.clone(),
        )));
    }
    let notifier: Arc<dyn shared::ports::Notifier> =
        Arc::new(shared::adapters::fanout::Fanout(channels));
    let slack_signing_secret = slack_signing_secret.map(Secret::new);
    let crm_writes: Arc<dyn shared::ports::Queue> = Arc::new(shared::adapters::aws::SqsQueue::new(
        aws_sdk_sqs::Client::new(&start.sdk),
        crm_writes,
    ));
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

/// The founder's mailbox as sender, built on the first send from the send grant's secret, so a
/// new grant (`draftgate connect`) takes effect without a redeploy and nothing is read at start.
struct GrantSender {
    kind: MailSender,
    secret: String,
    client: aws_sdk_secretsmanager::Client,
    built: tokio::sync::OnceCell<Arc<dyn Sender>>,
}

impl GrantSender {
    async fn inner(&self) -> Result<&Arc<dyn Sender>, SendError> {
        self.built
            .get_or_try_init(|| async {
                let grants = shared::adapters::secrets::read_json(&self.client, &self.secret)
                    .await
                    .map_err(SendError::Unavailable)?;
                let env = Env::new();
                let get = |name: &str| env.optional(name).or_else(|| grants.get(name).cloned());
                shared::adapters::mailbox::sender(self.kind, &get)
                    .map_err(|e| SendError::Rejected(e.into()))?
                    .ok_or_else(|| SendError::Rejected("no mailbox sender configured".into()))
            })
            .await
    }
}

#[async_trait::async_trait]
impl Sender for GrantSender {
    async fn send(&self, email: &OutboundEmail) -> Result<SentReceipt, SendError> {
        self.inner().await?.send(email).await
    }

    fn finds_sent(&self) -> bool {
        true
    }

    async fn find_sent(&self, email: &OutboundEmail) -> Result<SentLookup, SendError> {
        self.inner().await?.find_sent(email).await
    }
}
