//! Start-up wiring shared by every function's `main.rs`: logs, config, the Pipeline and Audit
//! tables. Each function adds its own adapters and settings and runs its service through
//! [`Start::live`].

use std::sync::Arc;

use jiff::SignedDuration;

use super::live::Live;
use super::{Adapters, Services, Settings};
use crate::adapters::aws::{load_sdk_config, DynamoAuditLog, DynamoPipelineStore};
use crate::adapters::clock::SystemClock;
use crate::adapters::s3_config::{self, S3ConfigSource};
use crate::app::live::ConfigSource;
use crate::config::settings::{refuse_to_start, Env};
use crate::config::Config;
use crate::error::Chain;
use crate::ports::{AuditLog, PipelineStore};

/// How often a warm function checks for a newer config unless `DRAFTGATE_CONFIG_REFRESH_SECONDS`
/// says otherwise (0: only at start).
const DEFAULT_REFRESH_SECS: i64 = 60;

/// Structured JSON logs on stdout (see [`crate::telemetry`]).
pub fn init_logs() {
    crate::adapters::telemetry::init_json();
}

/// What every function starts from.
pub struct Start {
    pub sdk: aws_config::SdkConfig,
    pub config: Arc<Config>,
    pub store: Arc<dyn PipelineStore>,
    audit: Arc<dyn AuditLog>,
    source: Option<Arc<dyn ConfigSource>>,
    refresh: SignedDuration,
}

/// The SDK config, the tables named by `PIPELINE_TABLE` and `AUDIT_TABLE`, and the config:
/// `DRAFTGATE_CONFIG` (a file, for `sam local` and tests), else the bundle at
/// `DRAFTGATE_CONFIG_S3_URI` (one GET; the bundled config while none has been pushed), else the
/// config compiled in. A config that does not validate, or an object that cannot be read,
/// refuses to start naming the problem. Call `env.finish_or_exit()` after reading the
/// function's own settings.
pub async fn start(env: &mut Env) -> Start {
    let pipeline_table = env.required("PIPELINE_TABLE");
    let audit_table = env.required("AUDIT_TABLE");
    let s3_uri = env.optional("DRAFTGATE_CONFIG_S3_URI");
    let refresh = match env.optional("DRAFTGATE_CONFIG_REFRESH_SECONDS") {
        None => DEFAULT_REFRESH_SECS,
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 0)
            .unwrap_or_else(|| {
                env.problem(format!(
                    "DRAFTGATE_CONFIG_REFRESH_SECONDS must be a whole number of seconds, got `{v}`"
                ));
                0
            }),
    };
    let sdk = load_sdk_config().await;

    let file = std::env::var_os("DRAFTGATE_CONFIG").filter(|p| !p.is_empty());
    let (config, source): (Config, Option<Arc<dyn ConfigSource>>) = match (file, s3_uri) {
        (Some(_), _) | (None, None) => (crate::config::load_or_exit(), None),
        (None, Some(uri)) => {
            let source = S3ConfigSource::new(s3_config::s3_client(&sdk), &uri)
                .unwrap_or_else(|e| refuse_to_start(&format!("DRAFTGATE_CONFIG_S3_URI: {e}")));
            match source.initial().await {
                Ok(Some(config)) => {
                    tracing::info!(config = %uri, "config loaded");
                    (config, Some(Arc::new(source)))
                }
                Ok(None) => {
                    tracing::info!(config = %uri, "no config pushed yet: using the bundled config");
                    (crate::config::load_or_exit(), Some(Arc::new(source)))
                }
                Err(e) => refuse_to_start(&format_args!("config {uri}: {}", Chain(&e))),
            }
        }
    };
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    if env.optional("DRAFTGATE_WARM_CONNECTIONS").as_deref() != Some("0") {
        warm(&dynamo, &pipeline_table).await;
    }
    Start {
        config: Arc::new(config),
        store: Arc::new(DynamoPipelineStore::new(dynamo.clone(), pipeline_table)),
        audit: Arc::new(DynamoAuditLog::new(dynamo, audit_table)),
        sdk,
        source,
        refresh: SignedDuration::from_secs(refresh),
    }
}

/// Open the connection to DynamoDB (TCP and TLS) during init, where Lambda gives the function a
/// full CPU, instead of in the first invocation, which at 128 MB runs on a fraction of one: one
/// `GetItem` of a key that never exists (half a read unit per cold start). Whatever it answers,
/// the start goes on; `DRAFTGATE_WARM_CONNECTIONS=0` skips it.
async fn warm(dynamo: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let probe = dynamo
        .get_item()
        .table_name(table)
        .key(crate::ports::keys::PK, AttributeValue::S("WARM".into()))
        .key(crate::ports::keys::SK, AttributeValue::S("WARM".into()))
        .send();
    match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => tracing::debug!("DynamoDB connection opened at start"),
        Ok(Err(e)) => {
            tracing::info!(error = %Chain(&e), "DynamoDB did not answer the warm-up; the first request connects");
        }
        Err(_) => tracing::info!("DynamoDB warm-up timed out; the first request connects"),
    }
}

impl Start {
    /// The tables and the system clock; a function adds the rest it needs.
    pub fn adapters(&self) -> Adapters {
        Adapters::new(
            self.store.clone(),
            self.audit.clone(),
            Arc::new(SystemClock),
        )
    }

    /// The config; a function adds the settings it reads.
    pub fn settings(&self) -> Settings {
        Settings::new(self.config.clone())
    }

    /// The function's service (`build` takes it from the assembled services, e.g.
    /// `Services::intake`), rebuilt on each newer valid config.
    pub fn live<S>(
        &self,
        adapters: Adapters,
        settings: Settings,
        build: impl Fn(&Services) -> S + Send + Sync + 'static,
    ) -> Arc<Live<S>> {
        let services = Services::build(adapters, settings);
        Arc::new(match &self.source {
            Some(source) => Live::reloading(services, build, source.clone(), self.refresh),
            None => Live::fixed(services, build),
        })
    }
}

/// The mailbox grants in the JSON secret `setting` names (its ARN), read once at start; empty
/// when the setting is unset or the secret cannot be read (the mailbox routes then answer 401
/// "not connected" and everything else works).
#[cfg(feature = "secrets")]
pub async fn mailbox_grants(
    start: &Start,
    env: &Env,
    setting: &str,
) -> std::collections::HashMap<String, String> {
    let Some(arn) = env.optional(setting) else {
        return Default::default();
    };
    let client = aws_sdk_secretsmanager::Client::new(&start.sdk);
    match crate::adapters::secrets::read_json(&client, &arn).await {
        Ok(values) => values,
        Err(e) => {
            tracing::warn!(error = %Chain(&*e), "mailbox grants unreadable: the mailbox is not connected");
            Default::default()
        }
    }
}

/// The bus domain events go to (`draft.sent`, `deal.won`, `deal.lost`), source `draftgate`.
pub fn event_bus(start: &Start, bus: String) -> Arc<dyn crate::ports::EventPublisher> {
    Arc::new(crate::adapters::aws::EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(&start.sdk),
        bus,
        "draftgate",
    ))
}

/// A queue by its URL (one SQS client per call; each function builds its queues once).
pub fn queue(start: &Start, url: String) -> Arc<dyn crate::ports::Queue> {
    Arc::new(crate::adapters::aws::SqsQueue::new(
        aws_sdk_sqs::Client::new(&start.sdk),
        url,
    ))
}

/// Which function reads the notification settings: the two tell the founder different things.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Notifies {
    /// generate-draft: new drafts, by draftgate's Slack bot (else the incoming webhook) and/or
    /// the founder topic's e-mail; at least one must be set.
    Drafts,
    /// review-api: fresh links by the founder topic's e-mail (required), and every decision on
    /// the bot's messages.
    Decisions,
}

/// The founder's notification channels, from settings: read before `env.finish_or_exit()`,
/// built after.
#[cfg(feature = "http-client")]
pub struct NotifierSettings {
    role: Notifies,
    topic: Option<String>,
    slack_webhook: Option<String>,
    slack_bot: Option<(String, String)>,
    slack_api: String,
}

#[cfg(feature = "http-client")]
impl NotifierSettings {
    /// `FOUNDER_TOPIC_ARN`, `SLACK_BOT_TOKEN` + `SLACK_CHANNEL`, `SLACK_WEBHOOK_URL` (drafts
    /// only) and `SLACK_API_BASE_URL`.
    pub fn read(env: &mut Env, role: Notifies) -> NotifierSettings {
        let topic = match role {
            Notifies::Drafts => env.optional("FOUNDER_TOPIC_ARN"),
            Notifies::Decisions => Some(env.required("FOUNDER_TOPIC_ARN")),
        };
        let slack_webhook = match role {
            Notifies::Drafts => env.optional("SLACK_WEBHOOK_URL"),
            Notifies::Decisions => None,
        };
        let slack_bot = env
            .optional("SLACK_BOT_TOKEN")
            .zip(env.optional("SLACK_CHANNEL"));
        let slack_api = env
            .optional("SLACK_API_BASE_URL")
            .unwrap_or_else(|| crate::adapters::slack::SLACK_API.into());
        if role == Notifies::Drafts
            && topic.is_none()
            && slack_webhook.is_none()
            && slack_bot.is_none()
        {
            env.problem(
                "set FOUNDER_TOPIC_ARN and/or SLACK_WEBHOOK_URL so the founder hears about drafts",
            );
        }
        NotifierSettings {
            role,
            topic,
            slack_webhook,
            slack_bot,
            slack_api,
        }
    }

    pub fn build(self, start: &Start) -> Arc<dyn crate::ports::Notifier> {
        use crate::adapters::slack::{SlackBot, SlackNotifier};
        use crate::secret::Secret;
        let mut channels: Vec<Arc<dyn crate::ports::Notifier>> = Vec::new();
        let email = |arn: String| {
            Arc::new(crate::adapters::aws::SnsEmailNotifier::new(
                aws_sdk_sns::Client::new(&start.sdk),
                arn,
            ))
        };
        if self.role == Notifies::Decisions {
            // A fresh review link goes to the approvers' inbox (the founder topic's e-mail),
            // never to whoever clicked an expired one.
            if let Some(arn) = self.topic.clone() {
                channels.push(email(arn));
            }
        }
        // draftgate's bot (drafts with buttons, which lose them once decided) when configured,
        // else the incoming webhook.
        match self.slack_bot {
            Some((token, channel)) => channels.push(Arc::new(SlackBot::new(
                &self.slack_api,
                Secret::new(token),
                channel,
                start.store.clone(),
            ))),
            None => {
                if let Some(url) = self.slack_webhook {
                    channels.push(Arc::new(SlackNotifier::new(Secret::new(url))));
                }
            }
        }
        if self.role == Notifies::Drafts {
            if let Some(arn) = self.topic {
                channels.push(email(arn));
            }
        }
        Arc::new(crate::adapters::fanout::Fanout(channels))
    }
}
