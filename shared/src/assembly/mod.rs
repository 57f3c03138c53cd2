//! The one place services are put together. Every function's `main.rs`, the local runner, replay,
//! the tests and the benches hand [`Services::build`] their adapters (DynamoDB or the embedded
//! store, SQS or local queues, SES or a mailbox, …) and settings, and take the service they run:
//!
//! ```ignore
//! let services = Services::build(adapters, settings);
//! let intake = services.intake();
//! ```
//!
//! This is the top layer of the crate: it may use everything below it, and nothing below uses it.

pub mod live;
#[cfg(feature = "aws")]
pub mod wiring;

use std::collections::HashMap;
use std::sync::Arc;

use crate::app::drafts::Drafter;
use crate::app::evaluate::Evaluator;
use crate::app::review::Review;
use crate::app::sweep::Sweeper;
use crate::app::sync::Syncer;
use crate::app::writeback::CrmWriteback;
use crate::app::Core;
use crate::config::{Config, Drafting, Engine};
use crate::ports::{
    AuditLog, Clock, CrmClient, CrmSource, CrmWriter, DraftWriter, EventPublisher, Notifier,
    PipelineStore, Queue, Sender,
};
use crate::providers::intake::Intake;
use crate::providers::mail_intake::MailIntake;
use crate::providers::mailbox::MailboxSource;
use crate::providers::Providers;
use crate::secret::Secret;
use crate::tokens::TokenSigner;

/// What a deployment plugs into the ports. The tables and the clock always; the rest only where
/// a service needs it (asking for a service whose parts were not given is a wiring mistake, and
/// stops the start naming the part).
#[derive(Clone)]
pub struct Adapters {
    pub store: Arc<dyn PipelineStore>,
    pub audit: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
    /// Deals to evaluate (the sweep's output).
    pub evaluate_queue: Option<Arc<dyn Queue>>,
    /// Due drafts to write.
    pub draft_queue: Option<Arc<dyn Queue>>,
    /// Approved changes and activities to write to the CRM.
    pub crm_writes: Option<Arc<dyn Queue>>,
    /// Where `deal.won`, `deal.lost` and `draft.sent` are announced.
    pub events: Option<Arc<dyn EventPublisher>>,
    /// How approved mail leaves (only the approval path has one).
    pub sender: Option<Arc<dyn Sender>>,
    /// How the founder hears about drafts and decisions.
    pub notifier: Option<Arc<dyn Notifier>>,
    /// CRM APIs by CRM name: deal details a webhook does not carry.
    pub crm_clients: HashMap<String, Arc<dyn CrmClient>>,
    /// CRM APIs by CRM name: writers of approved changes.
    pub crm_writers: HashMap<String, Arc<dyn CrmWriter>>,
    /// CRM APIs the scheduled sync reads.
    pub crm_sources: Vec<Arc<dyn CrmSource>>,
    /// The founder's mailbox APIs (Gmail, Outlook pushes).
    pub mailboxes: Vec<Arc<dyn MailboxSource>>,
    /// The founder's model, when drafts are written by one.
    pub writer: Option<Arc<dyn DraftWriter>>,
}

impl Adapters {
    /// The tables and the clock; nothing else.
    pub fn new(
        store: Arc<dyn PipelineStore>,
        audit: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
    ) -> Adapters {
        Adapters {
            store,
            audit,
            clock,
            evaluate_queue: None,
            draft_queue: None,
            crm_writes: None,
            events: None,
            sender: None,
            notifier: None,
            crm_clients: HashMap::new(),
            crm_writers: HashMap::new(),
            crm_sources: Vec::new(),
            mailboxes: Vec::new(),
            writer: None,
        }
    }

    /// Everything on the embedded store: its tables, its queues (`evaluate`, `drafts`,
    /// `crm-writes`), its event log, and its outbox as sender and notifier. The local runner's
    /// default, and the tests'.
    #[cfg(feature = "embedded")]
    pub fn embedded(
        store: &Arc<crate::adapters::embedded::EmbeddedStore>,
        clock: Arc<dyn Clock>,
    ) -> Adapters {
        let outbox = store.outbox(clock.clone());
        Adapters {
            evaluate_queue: Some(store.queue("evaluate")),
            draft_queue: Some(store.queue("drafts")),
            crm_writes: Some(store.queue("crm-writes")),
            events: Some(store.clone()),
            sender: Some(outbox.clone()),
            notifier: Some(outbox),
            ..Adapters::new(store.clone(), store.clone(), clock)
        }
    }

    /// The CRM APIs configured (readers, writers and sync sources).
    #[cfg(feature = "http-client")]
    pub fn with_crm_apis(mut self, apis: crate::providers::CrmApis) -> Adapters {
        self.crm_clients.extend(apis.clients);
        self.crm_writers.extend(apis.writers);
        self.crm_sources.extend(apis.sources);
        self
    }
}

/// What a deployment is told: the founder's config and the settings the services read.
#[derive(Clone)]
pub struct Settings {
    pub config: Arc<Config>,
    /// The public URL the providers call and review links point at.
    pub public_base_url: String,
    /// The webhook sources this deployment serves (with their secrets).
    pub providers: Providers,
    /// Signs and checks review links (`DRAFTGATE_SIGNING_KEY`).
    pub tokens: Option<TokenSigner>,
    /// Verifies `POST /slack/interactivity`; `None` refuses it.
    pub slack_signing_secret: Option<Secret>,
    /// Who writes the drafts: the config's `[drafting]` with the environment's overrides
    /// ([`DraftingSetup::read`]), read when the deployment starts.
    pub drafting: Drafting,
}

impl Settings {
    /// `config`, and nothing else set.
    pub fn new(config: Arc<Config>) -> Settings {
        Settings {
            public_base_url: String::new(),
            providers: Providers::default(),
            tokens: None,
            slack_signing_secret: None,
            drafting: config.drafting.clone(),
            config,
        }
    }
}

/// The founder's model, as the config's `[drafting]` and the environment name it: the settings,
/// and what building the writer needs from the environment (read before anything is awaited).
pub struct DraftingSetup {
    pub drafting: Drafting,
    #[cfg_attr(not(feature = "http-client"), allow(dead_code))]
    openai_key: Option<Secret>,
    #[cfg_attr(not(feature = "bedrock"), allow(dead_code))]
    bedrock_endpoint: Option<String>,
}

impl DraftingSetup {
    /// `[drafting]` with the environment's overrides (`DRAFTING_ENGINE`, `DRAFTING_MODEL`,
    /// `OPENAI_BASE_URL`, …), checked; `OPENAI_API_KEY` if the endpoint wants one, and
    /// `BEDROCK_ENDPOINT_URL` to point Bedrock calls elsewhere (a mock, a VPC endpoint).
    pub fn read(config: &Config, get: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        Ok(DraftingSetup {
            drafting: config.drafting.with_env(get).map_err(|problems| {
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            })?,
            openai_key: get("OPENAI_API_KEY")
                .filter(|k| !k.trim().is_empty())
                .map(Secret::new),
            bedrock_endpoint: get("BEDROCK_ENDPOINT_URL").filter(|u| !u.trim().is_empty()),
        })
    }

    /// The writer the settings name (`None`: the templates write every draft). Built once, at
    /// start; Bedrock's client reads the region and credentials from the environment.
    pub async fn writer(&self) -> Result<Option<Arc<dyn DraftWriter>>, String> {
        let d = &self.drafting;
        // Read by the engines this build has (none, in a function that drafts nothing).
        #[cfg_attr(not(any(feature = "http-client", feature = "bedrock")), allow(unused))]
        let (model, timeout) = (
            d.model.clone().unwrap_or_default(),
            std::time::Duration::from_secs(u64::from(d.timeout_seconds)),
        );
        match d.engine {
            Engine::Template => Ok(None),
            #[cfg(feature = "http-client")]
            Engine::Openai => Ok(Some(Arc::new(crate::adapters::openai::OpenAiWriter::new(
                d.base_url.as_deref().unwrap_or_default(),
                self.openai_key.clone(),
                &model,
                timeout,
            )))),
            #[cfg(feature = "bedrock")]
            Engine::Bedrock => {
                use crate::adapters::bedrock::{BedrockWriter, Guardrail};
                let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await;
                bedrock_ready(&sdk).await?;
                let guardrail = d.guardrail_id.clone().map(|id| Guardrail {
                    id,
                    version: d.guardrail_version.clone().unwrap_or_default(),
                });
                Ok(Some(Arc::new(BedrockWriter::new(
                    &sdk,
                    self.bedrock_endpoint.as_deref(),
                    &model,
                    guardrail,
                    timeout,
                ))))
            }
            #[allow(unreachable_patterns)]
            other => Err(format!(
                "[drafting] engine = \"{}\" is not in this build",
                other.name()
            )),
        }
    }
}

/// Bedrock is asked in a region with credentials: a deployment without them refuses to start
/// naming what is missing, rather than setting every draft's model aside.
#[cfg(feature = "bedrock")]
async fn bedrock_ready(sdk: &aws_config::SdkConfig) -> Result<(), String> {
    use aws_sdk_bedrockruntime::config::ProvideCredentials;
    if sdk.region().is_none() {
        return Err("engine \"bedrock\" needs an AWS region: set AWS_REGION (the region whose Bedrock models the account may use)".into());
    }
    let Some(provider) = sdk.credentials_provider() else {
        return Err("engine \"bedrock\" needs AWS credentials, and none are configured".into());
    };
    let found = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        provider.provide_credentials(),
    )
    .await;
    match found {
        Ok(Ok(_)) => Ok(()),
        _ => Err("engine \"bedrock\" needs AWS credentials, and none were found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role)".into()),
    }
}

/// The assembled services of one deployment.
#[derive(Clone)]
pub struct Services {
    core: Core,
    adapters: Arc<Adapters>,
    settings: Arc<Settings>,
}

fn need<T: Clone>(part: &Option<T>, service: &str, what: &str) -> T {
    match part {
        Some(part) => part.clone(),
        None => panic!("wiring: {service} needs {what}, and the adapters have none"),
    }
}

impl Services {
    pub fn build(adapters: Adapters, settings: Settings) -> Services {
        let config = capable(&settings.config);
        Services {
            core: Core {
                config,
                store: adapters.store.clone(),
                audit: adapters.audit.clone(),
                clock: adapters.clock.clone(),
            },
            adapters: Arc::new(adapters),
            settings: Arc::new(settings),
        }
    }

    /// The same services on another config (a config pushed while running).
    pub fn with_config(&self, config: Arc<Config>) -> Services {
        let mut next = self.clone();
        next.core.config = capable(&config);
        next
    }

    pub fn core(&self) -> Core {
        self.core.clone()
    }

    pub fn adapters(&self) -> &Adapters {
        &self.adapters
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn tokens(&self, service: &str) -> TokenSigner {
        need(&self.settings.tokens, service, "a token signer")
    }

    /// `POST /webhooks/{provider}` and the bus's events.
    pub fn intake(&self) -> Intake {
        Intake {
            core: self.core(),
            providers: self.settings.providers.clone(),
            crm: self.adapters.crm_clients.clone(),
            public_base_url: self.settings.public_base_url.clone(),
            events: need(&self.adapters.events, "intake", "an event publisher"),
        }
    }

    /// The founder's mailbox pushes and their upkeep.
    pub fn mail_intake(&self) -> MailIntake {
        MailIntake {
            mailboxes: self.adapters.mailboxes.clone(),
        }
    }

    pub fn sweeper(&self) -> Sweeper {
        Sweeper {
            core: self.core(),
            evaluate_queue: need(
                &self.adapters.evaluate_queue,
                "the sweep",
                "an evaluate queue",
            ),
            draft_queue: need(&self.adapters.draft_queue, "the sweep", "a draft queue"),
        }
    }

    pub fn syncer(&self) -> Syncer {
        Syncer {
            core: self.core(),
            sources: self.adapters.crm_sources.clone(),
            events: need(&self.adapters.events, "the sync", "an event publisher"),
        }
    }

    pub fn evaluator(&self) -> Evaluator {
        Evaluator {
            core: self.core(),
            draft_queue: need(&self.adapters.draft_queue, "evaluation", "a draft queue"),
        }
    }

    pub fn drafter(&self) -> Drafter {
        Drafter {
            core: self.core(),
            notifier: need(&self.adapters.notifier, "drafting", "a notifier"),
            crm_writes: need(&self.adapters.crm_writes, "drafting", "a CRM write queue"),
            tokens: self.tokens("drafting"),
            public_base_url: self.settings.public_base_url.clone(),
            writer: self.adapters.writer.clone(),
            drafting: self.settings.drafting.clone(),
        }
    }

    pub fn writeback(&self) -> CrmWriteback {
        CrmWriteback {
            core: self.core(),
            writers: self.adapters.crm_writers.clone(),
        }
    }

    pub fn review(&self) -> Review {
        Review {
            core: self.core(),
            sender: need(&self.adapters.sender, "review", "a sender"),
            notifier: need(&self.adapters.notifier, "review", "a notifier"),
            slack_signing_secret: self.settings.slack_signing_secret.clone(),
            events: need(&self.adapters.events, "review", "an event publisher"),
            crm_writes: need(&self.adapters.crm_writes, "review", "a CRM write queue"),
            tokens: self.tokens("review"),
            public_base_url: self.settings.public_base_url.clone(),
        }
    }
}

/// The config with what the provider registry says of the CRMs filled in (which are written
/// back to, whose ids are numbers), so the rules and use cases read it from the config alone.
fn capable(config: &Arc<Config>) -> Arc<Config> {
    let crms = crate::providers::crm_traits();
    if config.crms == crms {
        return config.clone();
    }
    let mut config = Config::clone(config);
    config.crms = crms;
    Arc::new(config)
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::adapters::clock::ManualClock;
    use crate::adapters::embedded::EmbeddedStore;

    fn services(adapters: impl FnOnce(Adapters) -> Adapters) -> Services {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let clock = Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH));
        let mut settings = Settings::new(Arc::new(Config::bundled().unwrap()));
        settings.tokens = Some(TokenSigner::new(Secret::new("k")));
        Services::build(adapters(Adapters::embedded(&store, clock)), settings)
    }

    #[test]
    fn the_config_of_assembled_services_says_what_the_registry_says_of_each_crm() {
        let s = services(|a| a);
        let crms = &s.core().config.crms;
        assert_eq!(
            crms.writable,
            ["hubspot", "pipedrive", "close", "salesforce"]
        );
        assert_eq!(crms.numeric_ids, ["hubspot", "pipedrive"]);
        // A config pushed later gets the same.
        let next = s.with_config(Arc::new(Config::bundled().unwrap()));
        assert_eq!(next.core().config.crms, s.core().config.crms);
    }

    #[test]
    fn every_service_is_built_from_the_embedded_adapters() {
        let s = services(|a| a);
        let _ = (s.intake(), s.sweeper(), s.syncer(), s.evaluator());
        let _ = (s.drafter(), s.writeback(), s.review(), s.mail_intake());
    }

    #[test]
    #[should_panic(expected = "review needs a sender")]
    fn a_service_whose_part_is_missing_stops_the_start_naming_it() {
        services(|a| Adapters { sender: None, ..a }).review();
    }
}
