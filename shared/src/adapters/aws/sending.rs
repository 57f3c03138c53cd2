//! The review function's sender, from its settings: SES (optionally finding its own sends
//! through the Send events mail-events records), or the founder's own mailbox through the send
//! grant that only that function's role can read.

use std::sync::Arc;

use super::SesSender;
use crate::adapters::mailbox::MailSender;
use crate::config::settings::Env;
use crate::domain::{OutboundEmail, SentReceipt};
use crate::ports::{PipelineStore, SendError, Sender, SentLookup};

/// What the sender settings say, checked: read before `env.finish_or_exit()`, built after.
pub struct SenderSettings {
    kind: MailSender,
    configuration_set: Option<String>,
    send_events: bool,
    send_secret: Option<String>,
}

impl SenderSettings {
    /// `MAIL_SENDER` (ses | gmail | outlook), `SES_CONFIGURATION_SET`, `SES_SEND_EVENTS`,
    /// `SENDER_ADDRESS` (must be the config's `founder.from`) and `MAILBOX_SEND_SECRET_ARN`;
    /// each problem is reported on `env`. `from` is the config's `founder.from`.
    pub fn read(env: &mut Env, from: &str) -> SenderSettings {
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
        // The role may only send from the template's SenderAddress: catch a config that
        // disagrees at start instead of as an access-denied error on the first approval.
        if let Some(sender) = env.optional("SENDER_ADDRESS") {
            if !from
                .to_ascii_lowercase()
                .contains(&sender.to_ascii_lowercase())
            {
                env.problem(format!(
                    "config founder.from `{from}` is not the SES sender address `{sender}`"
                ));
            }
        }
        let kind =
            match MailSender::parse(&env.optional("MAIL_SENDER").unwrap_or_else(|| "ses".into())) {
                Ok(k) => k,
                Err(e) => {
                    env.problem(e);
                    MailSender::Ses
                }
            };
        let send_secret = env.optional("MAILBOX_SEND_SECRET_ARN");
        if kind != MailSender::Ses && send_secret.is_none() {
            env.problem(format!(
                "MAIL_SENDER={kind:?} needs MAILBOX_SEND_SECRET_ARN (the send grant's secret)"
            ));
        }
        SenderSettings {
            kind,
            configuration_set,
            send_events,
            send_secret,
        }
    }

    /// The sender these settings name (no network at start); SES finds its own sends in
    /// `store` when `SES_SEND_EVENTS=on`.
    pub fn build(
        self,
        sdk: &aws_config::SdkConfig,
        store: Arc<dyn PipelineStore>,
    ) -> Arc<dyn Sender> {
        match self.kind {
            MailSender::Ses => {
                let ses = SesSender::new(aws_sdk_sesv2::Client::new(sdk), self.configuration_set);
                Arc::new(if self.send_events {
                    ses.finding_sends_in(store)
                } else {
                    ses
                })
            }
            kind => Arc::new(GrantSender {
                kind,
                secret: self.send_secret.unwrap_or_default(),
                client: aws_sdk_secretsmanager::Client::new(sdk),
                built: tokio::sync::OnceCell::new(),
            }),
        }
    }
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
                let grants = crate::adapters::secrets::read_json(&self.client, &self.secret)
                    .await
                    .map_err(SendError::Unavailable)?;
                let env = Env::new();
                let get = |name: &str| env.optional(name).or_else(|| grants.get(name).cloned());
                crate::adapters::mailbox::sender(self.kind, &get)
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
