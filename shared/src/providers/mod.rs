//! One module per provider: verify, parse into canonical events, and its API client if any.
//!
//! Every webhook source implements [`Provider`] and has one entry in [`REGISTRY`]: its route
//! name, the secrets it needs (with the local runner's development values) and how to build it.
//! Intake, the functions, the local runner and the tests all go through the registry, so a new
//! provider is one module plus its entry (and its stage map in the config).

#[cfg(feature = "http-client")]
pub mod api;
pub mod close;
pub mod fields;
pub mod generic;
pub mod hubspot;
pub mod inbox;
pub mod intake;
pub mod mail_intake;
pub mod mailbox;
pub mod pandadoc;
pub mod pipedrive;
pub mod salesforce;
pub mod signature;
#[cfg(feature = "http-client")]
pub mod writers;

use std::sync::Arc;

use jiff::Timestamp;

use crate::config::Config;
use crate::domain::DealEvent;
use crate::http::{self, ApiError, Request, Response};
use crate::secret::Secret;
use crate::signing::SignatureError;

/// A provider's payload could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// A webhook request as a provider sees it.
pub struct Incoming<'a> {
    pub request: &'a Request,
    /// The URL the provider called: the public base URL, path and query (HubSpot signs it).
    pub url: String,
    pub now: Timestamp,
    pub config: &'a Config,
}

impl Incoming<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(self.request.headers(), name)
    }

    pub fn query(&self, name: &str) -> Option<String> {
        http::query_param(self.request.uri().query(), name)
    }

    pub fn body(&self) -> &[u8] {
        self.request.body()
    }
}

/// The canonical events of one request, in the order they are to be applied.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parsed {
    pub events: Vec<DealEvent>,
    /// Events that name something linked to deals rather than a deal (a Close activity names its
    /// lead): recorded on every deal the link leads to.
    pub referenced: Vec<Referenced>,
    /// What the request carried that draftgate does not act on, each with why (logged, counted).
    pub ignored: Vec<String>,
}

/// An event for the deals `link` leads to; its `deal` is filled in per deal.
#[derive(Debug, Clone, PartialEq)]
pub struct Referenced {
    pub link: String,
    pub event: DealEvent,
}

impl From<Vec<DealEvent>> for Parsed {
    fn from(events: Vec<DealEvent>) -> Self {
        Parsed {
            events,
            ..Parsed::default()
        }
    }
}

/// Counts of one accepted request.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub accepted: usize,
    pub duplicates: usize,
    pub ignored: usize,
}

/// One webhook source.
pub trait Provider: Send + Sync {
    /// The route: `POST /webhooks/{name}`.
    fn name(&self) -> &'static str;

    /// The media type the provider sends (checked before anything else is read).
    fn media_type(&self) -> &'static str {
        "application/json"
    }

    /// Is the request genuinely from the provider? Forged and stale requests stop here.
    fn verify(&self, incoming: &Incoming<'_>) -> Result<(), SignatureError>;

    /// Every event of the (verified) request; one bad event refuses them all.
    fn parse(&self, incoming: &Incoming<'_>) -> Result<Parsed, ParseError>;

    /// The answer to an accepted request.
    fn accepted(&self, summary: &Summary) -> Response {
        http::json_response(
            http::StatusCode::OK,
            &serde_json::json!({
                "provider": self.name(),
                "accepted": summary.accepted,
                "duplicates": summary.duplicates,
                "ignored": summary.ignored,
            }),
        )
    }

    /// The answer to a refused request (a provider whose protocol wants its own error form
    /// overrides this).
    fn refused(&self, error: ApiError) -> Response {
        error.into_response()
    }
}

/// A secret a provider needs, by its environment name, with the value the local runner uses
/// when it is not set.
pub struct SecretSpec {
    pub env: &'static str,
    pub dev: &'static str,
}

/// What a source is, which decides the function that serves its route: `crm-webhook` serves
/// the CRMs, the inbox and the generic webhook; PandaDoc's proposals have their own function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Crm,
    Proposal,
    Inbox,
    Generic,
}

/// A registry entry: everything draftgate knows of one source, and what it can do. The webhook
/// (route name, secrets, how to build it) always; for a CRM with an API, how to build that
/// from settings (deal details, the sync, write-back) and how `draftgate connect` sets up its
/// webhook; the key proposal documents name its deals with.
pub struct ProviderSpec {
    pub name: &'static str,
    pub kind: SourceKind,
    pub secrets: &'static [SecretSpec],
    pub build: fn(Vec<Secret>) -> Arc<dyn Provider>,
    /// The key of a proposal document's metadata that holds this CRM's deal id
    /// (`hubspot_deal_id`), if documents name its deals that way.
    pub document_deal_key: Option<&'static str>,
    /// Approved changes and activities are written back to this CRM (its API has a writer):
    /// draftgate proposes CRM diffs only for these.
    pub writes_back: bool,
    /// The CRM's deal ids are numbers: an id that is not one names no deal of its.
    pub numeric_ids: bool,
    /// The CRM's API (deal details, the sync, write-back), when draftgate has a client for it.
    #[cfg(feature = "http-client")]
    pub api: Option<ApiFromSettings>,
    /// `draftgate connect <name>`: checks the API credentials and subscribes the webhook.
    #[cfg(feature = "http-client")]
    pub connect: Option<ConnectStep>,
}

/// How `draftgate connect <name>` sets up a CRM: the settings it needs, and the step itself
/// (given the settings and the webhook URL; it prints what it did, line by line).
#[cfg(feature = "http-client")]
pub struct ConnectStep {
    /// What to set, for `--help`.
    pub help: &'static str,
    /// Settings that must all be set (their names).
    pub needs: &'static [&'static str],
    pub run: ConnectFn,
}

/// A connect step's body: settings (read by name) and the webhook URL.
#[cfg(feature = "http-client")]
pub type ConnectFn = fn(&dyn Fn(&str) -> Option<String>, String) -> ConnectFuture;

/// A connect step under way: the lines to print, or why it failed.
#[cfg(feature = "http-client")]
pub type ConnectFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<String>, String>> + Send>>;

#[cfg(feature = "http-client")]
impl ConnectStep {
    /// Run the step when every setting it needs is set; "set A, B" otherwise.
    pub async fn run_with(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
        url: &str,
    ) -> Result<Vec<String>, String> {
        let missing: Vec<&str> = self
            .needs
            .iter()
            .copied()
            .filter(|n| get(n).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!("set {}", missing.join(", ")));
        }
        (self.run)(get, url.to_string()).await
    }
}

/// The CRMs `draftgate connect` can set up, with their specs.
#[cfg(feature = "http-client")]
pub fn connectable() -> impl Iterator<Item = (&'static str, &'static ConnectStep)> {
    REGISTRY
        .iter()
        .filter_map(|s| s.connect.as_ref().map(|c| (s.name, c)))
}

/// Every deal a proposal document's metadata names, by each CRM's `document_deal_key`, in
/// registry order (ids in their one form).
pub fn document_deals(find: impl Fn(&str) -> Option<String>) -> Vec<crate::domain::DealRef> {
    REGISTRY
        .iter()
        .filter_map(|s| {
            let mut deal = crate::domain::DealRef::new(s.name, find(s.document_deal_key?)?);
            canonical_id(&mut deal);
            Some(deal)
        })
        .collect()
}

/// A CRM's API as draftgate uses it: one client that reads deals, writes approved changes and
/// feeds the sync.
#[derive(Clone)]
pub struct CrmApi {
    pub client: Arc<dyn crate::ports::CrmClient>,
    pub writer: Arc<dyn crate::ports::CrmWriter>,
    pub source: Arc<dyn crate::ports::CrmSource>,
}

impl CrmApi {
    pub fn of<T>(api: Arc<T>) -> CrmApi
    where
        T: crate::ports::CrmClient + crate::ports::CrmWriter + crate::ports::CrmSource + 'static,
    {
        CrmApi {
            client: api.clone(),
            writer: api.clone(),
            source: api,
        }
    }
}

/// Builds a CRM's API from settings (`get` reads one by name); `None` when its credentials are
/// not set.
pub type ApiFromSettings = fn(&dyn Fn(&str) -> Option<String>) -> Option<CrmApi>;

/// The one secret of a single-secret provider (the registry passes exactly its specs' count).
pub fn one_secret(secrets: Vec<Secret>) -> Secret {
    secrets
        .into_iter()
        .next()
        .expect("the spec names one secret")
}

/// Every webhook source draftgate knows.
pub static REGISTRY: &[ProviderSpec] = &[
    hubspot::SPEC,
    pipedrive::SPEC,
    close::SPEC,
    salesforce::SPEC,
    pandadoc::SPEC,
    inbox::SPEC,
    generic::SPEC,
];

/// The spec of a provider by route name.
pub fn spec(name: &str) -> Option<&'static ProviderSpec> {
    REGISTRY.iter().find(|s| s.name == name)
}

/// The providers one deployment serves, by route name.
#[derive(Clone, Default)]
pub struct Providers {
    enabled: Vec<Arc<dyn Provider>>,
    /// Known providers this deployment has no secret for: they answer 401 "not configured".
    disabled: Vec<&'static str>,
}

impl Providers {
    /// Build `names` from their secrets as `secret` finds them (`None`: not configured, the
    /// provider's route answers 401).
    pub fn build(names: &[&str], mut secret: impl FnMut(&SecretSpec) -> Option<Secret>) -> Self {
        let mut providers = Providers::default();
        for spec in REGISTRY.iter().filter(|s| names.contains(&s.name)) {
            let found: Option<Vec<Secret>> = spec.secrets.iter().map(&mut secret).collect();
            match found {
                Some(secrets) => providers.enabled.push((spec.build)(secrets)),
                None => providers.disabled.push(spec.name),
            }
        }
        providers
    }

    /// Every provider whose secrets are all among `secrets` (environment name, value); the
    /// others are not configured. For tests and tools.
    pub fn from_secrets(secrets: &[(&str, &str)]) -> Self {
        Self::build(&Self::all_names(), |spec| {
            secrets
                .iter()
                .find(|(name, _)| *name == spec.env)
                .map(|(_, value)| Secret::new(*value))
        })
    }

    /// Every provider of the registry, whatever its secrets.
    pub fn all_names() -> Vec<&'static str> {
        REGISTRY.iter().map(|s| s.name).collect()
    }

    /// The route names of the sources of these kinds.
    pub fn names_of(kinds: &[SourceKind]) -> Vec<&'static str> {
        REGISTRY
            .iter()
            .filter(|s| kinds.contains(&s.kind))
            .map(|s| s.name)
            .collect()
    }

    pub fn get(&self, name: &str) -> Lookup {
        if let Some(p) = self.enabled.iter().find(|p| p.name() == name) {
            return Lookup::Enabled(p.clone());
        }
        if self.disabled.contains(&name) {
            return Lookup::NotConfigured;
        }
        Lookup::Unknown
    }

    /// The route names this deployment answers (enabled or not).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .enabled
            .iter()
            .map(|p| p.name())
            .chain(self.disabled.iter().copied())
            .collect();
        names.sort_unstable();
        names
    }
}

pub enum Lookup {
    Enabled(Arc<dyn Provider>),
    NotConfigured,
    Unknown,
}

/// The CRM APIs a deployment can read: clients for deal details (by CRM name) and sources for
/// the sync, built from settings (`get` reads one by name). A CRM without its token is left out.
#[cfg(feature = "http-client")]
#[derive(Default, Clone)]
pub struct CrmApis {
    pub clients: std::collections::HashMap<String, Arc<dyn crate::ports::CrmClient>>,
    pub sources: Vec<Arc<dyn crate::ports::CrmSource>>,
    /// Writers for approved changes, by CRM name (the write-back worker's only).
    pub writers: std::collections::HashMap<String, Arc<dyn crate::ports::CrmWriter>>,
}

/// The CRMs draftgate can write approved changes back to, in registry order.
pub fn writable_crms() -> Vec<String> {
    names_where(|s| s.writes_back)
}

/// Whether `crm`'s deal ids are numbers (by its registry entry).
pub fn numeric_ids(crm: &str) -> bool {
    spec(crm).is_some_and(|s| s.numeric_ids)
}

/// A numeric id in its one form: without leading zeros (`00123` names deal `123`, as the CRM's
/// own webhook says it). Anything else is left for the checks to refuse.
pub fn canonical_id(deal: &mut crate::domain::DealRef) {
    if numeric_ids(&deal.crm) && deal.id.len() > 1 && deal.id.bytes().all(|b| b.is_ascii_digit()) {
        let bare = deal.id.trim_start_matches('0');
        deal.id = if bare.is_empty() {
            "0".into()
        } else {
            bare.into()
        };
    }
}

/// What the registry says of the CRMs, as the config carries it (the assembly puts it there,
/// where the rules and use cases read it).
pub fn crm_traits() -> crate::config::CrmTraits {
    crate::config::CrmTraits {
        writable: writable_crms(),
        numeric_ids: names_where(|s| s.numeric_ids),
    }
}

fn names_where(keep: impl Fn(&ProviderSpec) -> bool) -> Vec<String> {
    REGISTRY
        .iter()
        .filter(|s| keep(s))
        .map(|s| s.name.to_string())
        .collect()
}

#[cfg(feature = "http-client")]
impl CrmApis {
    /// Every registered CRM API whose credentials `get` finds, in registry order.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut apis = CrmApis::default();
        for spec in REGISTRY {
            let Some(api) = spec.api.and_then(|build| build(&get)) else {
                continue;
            };
            apis.clients.insert(spec.name.into(), api.client);
            apis.writers.insert(spec.name.into(), api.writer);
            apis.sources.push(api.source);
        }
        apis
    }
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn each_function_serves_the_sources_of_its_kinds() {
        assert_eq!(
            Providers::names_of(&[SourceKind::Crm, SourceKind::Inbox, SourceKind::Generic]),
            [
                "hubspot",
                "pipedrive",
                "close",
                "salesforce",
                "inbox",
                "generic"
            ]
        );
        assert_eq!(Providers::names_of(&[SourceKind::Proposal]), ["pandadoc"]);
    }

    #[test]
    fn a_document_names_its_deal_by_the_key_its_crm_declares() {
        let meta = |key: &str, value: &str| {
            let (key, value) = (key.to_string(), value.to_string());
            move |k: &str| (k == key).then(|| value.clone())
        };
        assert_eq!(
            document_deals(meta("pipedrive_deal_id", "0077")),
            [crate::domain::DealRef::new("pipedrive", "77")]
        );
        assert_eq!(
            document_deals(meta("hubspot_deal_id", "9")),
            [crate::domain::DealRef::new("hubspot", "9")]
        );
        assert_eq!(document_deals(meta("close_deal_id", "9")), []);
    }

    #[test]
    fn a_numeric_id_has_one_form_and_other_ids_are_left_as_they_are() {
        let one = |crm: &str, id: &str| {
            let mut d = crate::domain::DealRef::new(crm, id);
            canonical_id(&mut d);
            d.id
        };
        assert_eq!(one("hubspot", "000123"), "123");
        assert_eq!(one("pipedrive", "0004321"), "4321");
        assert_eq!(one("hubspot", "000"), "0");
        assert_eq!(one("hubspot", "12a"), "12a");
        assert_eq!(one("close", "0012"), "0012");
    }
}

#[cfg(all(test, feature = "http-client"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connect_step_names_every_setting_it_still_needs_and_calls_nothing() {
        let names: Vec<&str> = connectable().map(|(n, _)| n).collect();
        assert_eq!(names, ["pipedrive", "close"]);
        let (_, pipedrive) = connectable().next().unwrap();
        let only_token = |n: &str| (n == "PIPEDRIVE_API_TOKEN").then(|| "t".to_string());
        let err = pipedrive
            .run_with(&only_token, "https://hooks.example/webhooks/pipedrive")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "set PIPEDRIVE_API_BASE_URL, PIPEDRIVE_WEBHOOK_USER, PIPEDRIVE_WEBHOOK_PASSWORD"
        );
    }

    #[test]
    fn each_crm_api_in_the_registry_is_built_from_its_own_settings_and_is_writable() {
        let settings = [
            ("HUBSPOT_ACCESS_TOKEN", "t"),
            ("PIPEDRIVE_API_TOKEN", "t"),
            ("CLOSE_API_KEY", "k"),
            ("SALESFORCE_INSTANCE_URL", "https://x.my.salesforce.com"),
            ("SALESFORCE_CLIENT_ID", "i"),
            ("SALESFORCE_CLIENT_SECRET", "s"),
        ];
        let apis = CrmApis::from_settings(|name| {
            settings
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        });
        let with_api: Vec<&str> = REGISTRY
            .iter()
            .filter(|s| s.api.is_some())
            .map(|s| s.name)
            .collect();
        assert_eq!(with_api, ["hubspot", "pipedrive", "close", "salesforce"]);
        for crm in &with_api {
            assert!(apis.clients.contains_key(*crm), "{crm}");
            assert!(apis.writers.contains_key(*crm), "{crm}");
            // Write-back is proposed for exactly the CRMs draftgate has a writer for.
            assert!(writable_crms().iter().any(|w| w == crm), "{crm}");
        }
        assert_eq!(writable_crms(), with_api);
        assert_eq!(
            apis.sources.iter().map(|s| s.crm()).collect::<Vec<_>>(),
            with_api
        );
        // Without its credentials, a CRM's API is left out.
        assert!(CrmApis::from_settings(|_| None).clients.is_empty());
    }
}
