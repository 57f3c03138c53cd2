//! HubSpot's API: deal details, the sync, and the calls the writer makes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::domain::{DealSnapshot, Fact};
use jiff::Timestamp;
use serde_json::{json, Value};

use crate::domain::EventKind;
use crate::ports::{CrmClient, CrmError, CrmSource, DealPage, SyncedActivity, SyncedDeal};
use crate::providers::api::{ApiClient, Auth};
use crate::secret::Secret;

const DEAL_PROPERTIES: &str =
    "dealname,amount,deal_currency_code,dealstage,pipeline,dealtype,closedate,hs_next_step,draftgate_status";

/// HubSpot CRM API v3 over reqwest, at a configurable base URL (a mock server in tests).
pub struct HubSpotClient {
    api: ApiClient,
    /// The sync's reads, which may wait and retry (429 `Retry-After`, 5xx backoff).
    pub(crate) sync_api: ApiClient,
    /// Every deal pipeline's stages by id: `Some(true)` closed won, `Some(false)` closed lost,
    /// `None` open. Read once per container, and again for a stage id not in it (a pipeline
    /// edited since).
    closed: tokio::sync::RwLock<Option<HashMap<String, Option<bool>>>>,
}

#[derive(Deserialize)]
struct Pipelines {
    #[serde(default)]
    results: Vec<Pipeline>,
}

#[derive(Deserialize)]
struct Pipeline {
    #[serde(default)]
    stages: Vec<PipelineStage>,
}

#[derive(Deserialize)]
struct PipelineStage {
    id: String,
    #[serde(default)]
    metadata: HashMap<String, Value>,
}

fn meta_text(m: &HashMap<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[derive(Deserialize)]
struct Object {
    #[serde(default)]
    properties: BTreeMap<String, Option<String>>,
    #[serde(default)]
    associations: Option<BTreeMap<String, Associations>>,
}

#[derive(Deserialize)]
struct Associations {
    #[serde(default)]
    results: Vec<Association>,
}

#[derive(Deserialize)]
struct Association {
    id: String,
}

impl HubSpotClient {
    pub fn new(base_url: &str, token: Secret) -> Self {
        HubSpotClient {
            // Read while HubSpot waits for the webhook's answer (5 s): no retries here.
            api: ApiClient::new("HubSpot", base_url, Auth::Bearer(token.clone()))
                .single_attempt(Duration::from_secs(4)),
            sync_api: ApiClient::new("HubSpot", base_url, Auth::Bearer(token)),
            closed: tokio::sync::RwLock::new(None),
        }
    }

    /// Every deal pipeline's closed stages, from `GET /crm/v3/pipelines/deals`: a stage is
    /// closed when its metadata says `isClosed`, won when its probability is 1. A portal
    /// (or mock) without the endpoint has no metadata: stage ids are used as they are.
    async fn load_closed(&self) -> Result<HashMap<String, Option<bool>>, CrmError> {
        let pipelines: Pipelines = match self.api.get("/crm/v3/pipelines/deals", &[]).await {
            Ok(v) => serde_json::from_value(v)
                .map_err(|e| CrmError::Invalid(format!("HubSpot pipelines body: {e}")))?,
            Err(CrmError::NotFound(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(e),
        };
        let mut closed = HashMap::new();
        for stage in pipelines.results.into_iter().flat_map(|p| p.stages) {
            let is_closed = meta_text(&stage.metadata, "isClosed").as_deref() == Some("true");
            let outcome = is_closed.then(|| {
                meta_text(&stage.metadata, "probability")
                    .and_then(|p| p.trim_matches('"').parse::<f64>().ok())
                    .unwrap_or(0.0)
                    >= 1.0
            });
            closed.insert(stage.id, outcome);
        }
        Ok(closed)
    }

    /// `won` / `lost` for a closed stage, else the stage id itself.
    async fn stage_outcome(&self, stage_id: &str) -> Result<String, CrmError> {
        let outcome = |map: &HashMap<String, Option<bool>>| {
            map.get(stage_id).map(|closed| match closed {
                Some(true) => "won".to_string(),
                Some(false) => "lost".to_string(),
                None => stage_id.to_string(),
            })
        };
        if let Some(map) = self.closed.read().await.as_ref() {
            if let Some(o) = outcome(map) {
                return Ok(o);
            }
        }
        // An unknown stage id: read the pipelines (first use, or edited since).
        let fresh = self.load_closed().await?;
        let answer = outcome(&fresh).unwrap_or_else(|| stage_id.to_string());
        *self.closed.write().await = Some(fresh);
        Ok(answer)
    }

    async fn get(&self, path: &str, id: &str) -> Result<Object, CrmError> {
        let v = self.api.get(path, &[]).await.map_err(|e| match e {
            CrmError::NotFound(_) => CrmError::NotFound(id.to_string()),
            other => other,
        })?;
        serde_json::from_value(v).map_err(|e| CrmError::Invalid(format!("HubSpot body: {e}")))
    }
}

fn prop(o: &Object, name: &str) -> Option<String> {
    o.properties
        .get(name)
        .cloned()
        .flatten()
        .filter(|v| !v.trim().is_empty())
}

#[async_trait]
impl CrmClient for HubSpotClient {
    async fn fetch_deal(&self, deal_id: &str) -> Result<DealSnapshot, CrmError> {
        let deal = self
            .get(
                &format!(
                    "/crm/v3/objects/deals/{}?properties={DEAL_PROPERTIES}&associations=contacts",
                    crate::domain::checks::path_segment(deal_id)
                ),
                deal_id,
            )
            .await?;
        self.snapshot(&deal).await
    }

    async fn resolve_stage(&self, raw_stage: &str) -> Result<String, CrmError> {
        self.stage_outcome(raw_stage).await
    }
}

impl HubSpotClient {
    /// A deal's details and its first contact's, each fact with its source.
    async fn snapshot(&self, deal: &Object) -> Result<DealSnapshot, CrmError> {
        let mut snap = DealSnapshot::default();
        let mut fact = |key: &str, value: Option<String>, source: &str| {
            if let Some(v) = value {
                snap.facts.insert(key.to_string(), Fact::new(v, source));
            }
        };
        fact(
            "deal.name",
            prop(deal, "dealname"),
            "HubSpot deal property dealname",
        );
        let currency = prop(deal, "deal_currency_code");
        let amount = prop(deal, "amount");
        fact(
            "deal.amount",
            amount.as_ref().map(|a| match &currency {
                Some(c) => format!("{a} {c}"),
                None => a.clone(),
            }),
            "HubSpot deal property amount",
        );
        fact(
            "deal.close_date",
            prop(deal, "closedate").map(|d| d.chars().take(10).collect()),
            "HubSpot deal property closedate",
        );
        fact(
            "deal.next_step",
            prop(deal, "hs_next_step"),
            "HubSpot deal property hs_next_step",
        );
        snap.name = prop(deal, "dealname");
        snap.raw_stage = match prop(deal, "dealstage") {
            Some(stage) => Some(self.stage_outcome(&stage).await?),
            None => None,
        };
        snap.pipeline = prop(deal, "pipeline");
        snap.deal_type = prop(deal, "dealtype");
        snap.status = prop(deal, "draftgate_status");
        snap.amount = amount.and_then(|a| a.parse().ok());
        snap.currency = currency;

        let contact_id = deal
            .associations
            .as_ref()
            .and_then(|a| a.get("contacts"))
            .and_then(|c| c.results.first())
            .map(|c| c.id.clone());
        if let Some(cid) = contact_id {
            let contact = self
                .get(&format!("/crm/v3/objects/contacts/{cid}?properties=email,firstname,lastname,company"), &cid)
                .await?;
            snap.contact_email = prop(&contact, "email");
            for (key, name) in [
                ("contact.email", "email"),
                ("contact.first_name", "firstname"),
                ("contact.last_name", "lastname"),
                ("contact.company", "company"),
            ] {
                if let Some(v) = prop(&contact, name) {
                    snap.facts.insert(
                        key.into(),
                        Fact::new(v, format!("HubSpot contact {cid} property {name}")),
                    );
                }
            }
        }
        Ok(snap)
    }

    /// The deal's calls, meetings and emails (ids from its associations, details by batch
    /// read), as the sync records them.
    async fn engagements(&self, deal: &Object) -> Result<Vec<SyncedActivity>, CrmError> {
        let mut out = Vec::new();
        for (kind, properties) in ENGAGEMENTS {
            let ids: Vec<Value> = deal
                .associations
                .as_ref()
                .and_then(|a| a.get(kind))
                .map(|a| a.results.iter().map(|r| json!({ "id": r.id })).collect())
                .unwrap_or_default();
            if ids.is_empty() {
                continue;
            }
            let answer = self
                .sync_api
                .post(
                    &format!("/crm/v3/objects/{kind}/batch/read"),
                    &json!({ "properties": properties, "inputs": ids }),
                )
                .await?;
            for r in answer
                .get("results")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(id) = r.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let props = |name: &str| search_prop(r, name);
                if let Some((state, at, event)) = engagement(kind, id, &props) {
                    out.push(SyncedActivity {
                        id: format!("{kind}:{id}:{state}"),
                        at,
                        kind: event,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// A property of an object as the search and batch APIs answer it (`properties.<name>`).
fn search_prop(r: &Value, name: &str) -> Option<String> {
    r.get("properties")
        .and_then(|p| p.get(name))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The engagement types the sync reads, with the properties it needs.
const ENGAGEMENTS: [(&str, &[&str]); 3] = [
    (
        "calls",
        &[
            "hs_timestamp",
            "hs_call_title",
            "hs_call_status",
            "hs_call_body",
        ],
    ),
    (
        "meetings",
        &[
            "hs_timestamp",
            "hs_meeting_title",
            "hs_meeting_outcome",
            "hs_meeting_start_time",
        ],
    ),
    (
        "emails",
        &[
            "hs_timestamp",
            "hs_email_direction",
            "hs_email_subject",
            "hs_email_status",
        ],
    ),
];

/// One engagement as a canonical event: a completed call (or held meeting) is a logged
/// call, a scheduled meeting is booked, a cancelled one cancelled; an incoming email is the
/// prospect's reply (unless automatic), an outgoing one our last contact.
fn engagement(
    kind: &str,
    id: &str,
    props: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, Timestamp, EventKind)> {
    let time = |name: &str| props(name).and_then(|t| t.parse::<Timestamp>().ok());
    let at = time("hs_timestamp")?;
    match kind {
        "calls" => {
            let status = props("hs_call_status").unwrap_or_else(|| "COMPLETED".into());
            (status == "COMPLETED").then(|| {
                let title = props("hs_call_title").unwrap_or_else(|| "Call".into());
                (
                    status,
                    at,
                    EventKind::CallLogged {
                        summary: format!("Call \"{title}\" held"),
                        note: props("hs_call_body")
                            .map(|b| crate::providers::fields::plain_text(&b)),
                    },
                )
            })
        }
        "meetings" => {
            let title = props("hs_meeting_title").unwrap_or_else(|| "Meeting".into());
            let outcome = props("hs_meeting_outcome").unwrap_or_else(|| "SCHEDULED".into());
            let meeting_id = Some(format!("hubspot-meeting-{id}"));
            let event = match outcome.as_str() {
                "COMPLETED" => EventKind::CallLogged {
                    summary: format!("Meeting \"{title}\" held"),
                    note: None,
                },
                "CANCELED" | "NO_SHOW" => EventKind::MeetingCancelled {
                    summary: format!(
                        "\"{title}\" {}",
                        outcome.to_ascii_lowercase().replace('_', " ")
                    ),
                    meeting_id,
                },
                _ => EventKind::MeetingBooked {
                    summary: format!("Meeting \"{title}\" booked"),
                    starts_at: time("hs_meeting_start_time"),
                    meeting_id,
                },
            };
            Some((outcome, at, event))
        }
        "emails" => {
            let subject = props("hs_email_subject").unwrap_or_default();
            let direction = props("hs_email_direction").unwrap_or_default();
            let event = if direction == "INCOMING_EMAIL" {
                let headers = BTreeMap::new();
                if crate::domain::mail::auto_reply_signal(None, &headers, &subject).is_some() {
                    EventKind::AutoReplyReceived {
                        summary: format!("Automatic reply: \"{subject}\""),
                    }
                } else {
                    EventKind::ProspectReplied {
                        summary: format!("Reply: \"{subject}\""),
                    }
                }
            } else {
                EventKind::OutboundSent {
                    summary: format!("Email sent: \"{subject}\""),
                }
            };
            Some((direction, at, event))
        }
        _ => None,
    }
}

/// Deals per search page (HubSpot's maximum).
const SEARCH_PAGE: usize = 100;

#[async_trait]
impl CrmSource for HubSpotClient {
    fn crm(&self) -> &'static str {
        super::CRM
    }

    /// `POST /crm/v3/objects/deals/search`: open deals (`hs_is_closed` false) the first time,
    /// then every deal whose `hs_lastmodifieddate` is at or after `since`, oldest first; each
    /// deal's details and contact as a webhook reads them.
    async fn deals(
        &self,
        since: Option<Timestamp>,
        page: Option<&str>,
    ) -> Result<DealPage, CrmError> {
        let filter = match since {
            None => {
                json!({ "propertyName": "hs_is_closed", "operator": "EQ", "value": "false" })
            }
            Some(t) => json!({ "propertyName": "hs_lastmodifieddate", "operator": "GTE",
                               "value": t.as_millisecond().to_string() }),
        };
        let body = json!({
            "filterGroups": [{ "filters": [filter] }],
            "sorts": ["hs_lastmodifieddate"],
            "properties": ["hs_lastmodifieddate", "hs_v2_date_entered_current_stage", "createdate", "dealstage"],
            "limit": SEARCH_PAGE,
            "after": page.unwrap_or("0"),
        });
        let answer = self
            .sync_api
            .post("/crm/v3/objects/deals/search", &body)
            .await?;
        let results = answer
            .get("results")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut deals = Vec::new();
        for r in &results {
            let Some(id) = r.get("id").and_then(Value::as_str) else {
                continue;
            };
            let props = |name: &str| search_prop(r, name);
            let time = |name: &str| props(name).and_then(|v| v.parse::<Timestamp>().ok());
            let path = format!(
                "/crm/v3/objects/deals/{id}?properties={DEAL_PROPERTIES}&associations=contacts,calls,meetings,emails"
            );
            let deal = match self.get(&path, id).await {
                Ok(d) => d,
                // Deleted between the search and the read: the next run sees it go.
                Err(CrmError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let snapshot = self.snapshot(&deal).await?;
            let activities = self.engagements(&deal).await?;
            let updated_at = time("hs_lastmodifieddate")
                .or_else(|| {
                    r.get("updatedAt")
                        .and_then(Value::as_str)
                        .and_then(|v| v.parse().ok())
                })
                .ok_or_else(|| {
                    CrmError::Invalid(format!("HubSpot deal {id} has no hs_lastmodifieddate"))
                })?;
            deals.push(SyncedDeal {
                id: id.to_string(),
                snapshot,
                stage_entered_at: time("hs_v2_date_entered_current_stage")
                    .or_else(|| time("createdate")),
                updated_at,
                deleted: false,
                activities,
            });
        }
        let next = answer
            .get("paging")
            .and_then(|p| p.get("next"))
            .and_then(|n| n.get("after"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(DealPage { deals, next })
    }
}
