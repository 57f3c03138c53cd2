//! Salesforce's API: deal details, the sync, and the calls the writer makes.

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::Mutex;

use super::{opportunity_event, Fields};
use crate::domain::{DealSnapshot, EventKind, Fact};
use crate::ports::{CrmClient, CrmError, CrmSource, DealPage, SyncedActivity, SyncedDeal};
use crate::providers::api::{ApiClient, Auth};
use crate::secret::Secret;

pub(crate) const API: &str = "/services/data/v61.0";
const FIELDS: &str = "Id, Name, StageName, Amount, IsClosed, IsWon, CloseDate, NextStep, Type, \
    LastModifiedDate, SystemModstamp, LastStageChangeDate, IsDeleted, \
    (SELECT Contact.Email, Contact.FirstName, Contact.LastName FROM OpportunityContactRoles \
    WHERE IsPrimary = true LIMIT 1), \
    (SELECT Id, Subject, Description, CompletedDateTime FROM Tasks WHERE TaskSubtype = 'Call' \
    AND Status = 'Completed' ORDER BY CompletedDateTime DESC LIMIT 5), \
    (SELECT Id, Subject, StartDateTime FROM Events ORDER BY StartDateTime DESC LIMIT 5)";

/// Salesforce's REST API at `SALESFORCE_INSTANCE_URL`, with an access token from the OAuth 2.0
/// client-credentials flow (`SALESFORCE_CLIENT_ID`, `SALESFORCE_CLIENT_SECRET`), obtained on
/// first use and again when it is refused.
pub struct SalesforceApi {
    instance_url: String,
    client_id: Secret,
    client_secret: Secret,
    session: Mutex<Option<ApiClient>>,
}

impl SalesforceApi {
    pub fn new(instance_url: &str, client_id: Secret, client_secret: Secret) -> Self {
        SalesforceApi {
            instance_url: instance_url.trim_end_matches('/').to_string(),
            client_id,
            client_secret,
            session: Mutex::new(None),
        }
    }

    pub(crate) async fn api(&self) -> Result<ApiClient, CrmError> {
        let mut session = self.session.lock().await;
        if let Some(api) = session.as_ref() {
            return Ok(api.clone());
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| CrmError::Invalid(format!("HTTP client: {e}")))?;
        let resp = http
            .post(format!("{}/services/oauth2/token", self.instance_url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.expose()),
                ("client_secret", self.client_secret.expose()),
            ])
            .send()
            .await
            .map_err(|e| CrmError::Unavailable(Box::new(e.without_url())))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(if status.is_server_error() {
                CrmError::Unavailable(format!("Salesforce token endpoint answered {status}").into())
            } else {
                CrmError::Invalid(format!(
                    "Salesforce refused the client credentials ({status}); check SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET and the connected app's client-credentials flow"
                ))
            });
        }
        let token: Value = resp.json().await.map_err(|e| {
            CrmError::Invalid(format!("Salesforce token body: {}", e.without_url()))
        })?;
        let access = token
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                CrmError::Invalid("Salesforce token answer has no access_token".into())
            })?;
        let base = token
            .get("instance_url")
            .and_then(Value::as_str)
            .unwrap_or(&self.instance_url)
            .to_string();
        let api = ApiClient::new("Salesforce", &base, Auth::Bearer(Secret::new(access)));
        *session = Some(api.clone());
        Ok(api)
    }

    /// A GET with the session, renewing the token once when Salesforce refuses it.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CrmError> {
        let api = self.api().await?;
        match api.get(path, query).await {
            Err(CrmError::Invalid(why)) if why.contains("401") => {
                *self.session.lock().await = None;
                self.api().await?.get(path, query).await
            }
            other => other,
        }
    }

    /// A write (POST / PATCH) with the session, renewing the token once when refused.
    pub(crate) async fn write(
        &self,
        patch: bool,
        path: &str,
        body: &Value,
    ) -> Result<Value, CrmError> {
        for attempt in 0..2 {
            let api = self.api().await?;
            let result = if patch {
                api.patch(path, body).await
            } else {
                api.post(path, body).await
            };
            match result {
                Err(CrmError::Invalid(why)) if why.contains("401") && attempt == 0 => {
                    *self.session.lock().await = None;
                }
                other => return other,
            }
        }
        unreachable!("the second attempt returns")
    }

    fn fields(record: &Value) -> Fields {
        let mut f = Fields::new();
        if let Some(o) = record.as_object() {
            for (k, v) in o {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                f.insert(k.clone(), text);
            }
        }
        f
    }

    fn synced(record: &Value) -> Result<SyncedDeal, CrmError> {
        let f = Self::fields(record);
        let id = f.get("Id").cloned().unwrap_or_default();
        let event = opportunity_event(&format!("salesforce:sync:{id}"), &f, None)
            .map_err(|e| CrmError::Invalid(e.0))?;
        let mut snapshot: DealSnapshot = event.snapshot.unwrap_or_default();
        let contact = record
            .get("OpportunityContactRoles")
            .and_then(|r| r.get("records"))
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(|r| r.get("Contact"));
        if let Some(c) = contact {
            let source =
                |field: &str| format!("Salesforce Opportunity {id} primary contact {field}");
            if let Some(email) = c.get("Email").and_then(Value::as_str) {
                snapshot
                    .facts
                    .insert("contact.email".into(), Fact::new(email, source("Email")));
                snapshot
                    .links
                    .push(format!("email:{}", email.to_ascii_lowercase()));
                snapshot.contact_email = Some(email.to_string());
            }
            if let Some(first) = c.get("FirstName").and_then(Value::as_str) {
                snapshot.facts.insert(
                    "contact.first_name".into(),
                    Fact::new(first, source("FirstName")),
                );
            }
            if let Some(last) = c.get("LastName").and_then(Value::as_str) {
                snapshot.facts.insert(
                    "contact.last_name".into(),
                    Fact::new(last, source("LastName")),
                );
            }
        }
        let time = |name: &str| f.get(name).and_then(|t| sf_time(t));
        let related = |name: &str| {
            record
                .get(name)
                .and_then(|r| r.get("records"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut activities = Vec::new();
        // Completed calls logged as tasks on the opportunity.
        for t in related("Tasks") {
            let (Some(tid), Some(at)) = (
                t.get("Id").and_then(Value::as_str),
                t.get("CompletedDateTime")
                    .and_then(Value::as_str)
                    .and_then(sf_time),
            ) else {
                continue;
            };
            let subject = t.get("Subject").and_then(Value::as_str).unwrap_or("Call");
            activities.push(SyncedActivity {
                id: format!("task:{tid}"),
                at,
                kind: EventKind::CallLogged {
                    summary: format!("Call \"{subject}\" held"),
                    note: t
                        .get("Description")
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .filter(|d| !d.is_empty())
                        .map(str::to_string),
                },
            });
        }
        // Meetings (events) with their start; the rules tell a coming one from a past one.
        for e in related("Events") {
            let (Some(eid), Some(start)) = (
                e.get("Id").and_then(Value::as_str),
                e.get("StartDateTime")
                    .and_then(Value::as_str)
                    .and_then(sf_time),
            ) else {
                continue;
            };
            let subject = e
                .get("Subject")
                .and_then(Value::as_str)
                .unwrap_or("Meeting");
            activities.push(SyncedActivity {
                id: format!("event:{eid}:{}", start.as_second()),
                at: time("LastModifiedDate").unwrap_or(start).min(start),
                kind: EventKind::MeetingBooked {
                    summary: format!("Meeting \"{subject}\" booked"),
                    starts_at: Some(start),
                    meeting_id: Some(format!("salesforce-event-{eid}")),
                },
            });
        }
        let updated_at = time("SystemModstamp")
            .or_else(|| time("LastModifiedDate"))
            .ok_or_else(|| {
                CrmError::Invalid(format!("Salesforce Opportunity {id} has no SystemModstamp"))
            })?;
        Ok(SyncedDeal {
            deleted: f.get("IsDeleted").map(String::as_str) == Some("true"),
            stage_entered_at: time("LastStageChangeDate"),
            updated_at,
            snapshot,
            id,
            activities,
        })
    }
}

/// Salesforce's date-times: `2026-03-01T09:00:00.000+0000`.
fn sf_time(t: &str) -> Option<Timestamp> {
    t.replace("+0000", "Z").parse().ok()
}

#[async_trait]
impl CrmSource for SalesforceApi {
    fn crm(&self) -> &'static str {
        super::CRM
    }

    /// SOQL over Opportunity: open ones the first time, then every one whose
    /// `SystemModstamp` is at or after `since` (deleted ones too, through `queryAll`).
    async fn deals(
        &self,
        since: Option<Timestamp>,
        page: Option<&str>,
    ) -> Result<DealPage, CrmError> {
        let answer = match page {
            // Salesforce's next page is a path of its own (`nextRecordsUrl`).
            Some(next) => self.get(next, &[]).await?,
            None => {
                let (endpoint, filter) = match since {
                    None => ("query", "IsClosed = false".to_string()),
                    Some(t) => (
                        "queryAll",
                        format!("SystemModstamp >= {}", t.strftime("%Y-%m-%dT%H:%M:%SZ")),
                    ),
                };
                let soql = format!(
                    "SELECT {FIELDS} FROM Opportunity WHERE {filter} ORDER BY SystemModstamp"
                );
                self.get(&format!("{API}/{endpoint}"), &[("q", soql)])
                    .await?
            }
        };
        let records = answer
            .get("records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let deals = records
            .iter()
            .map(Self::synced)
            .collect::<Result<Vec<_>, _>>()?;
        let next = answer
            .get("nextRecordsUrl")
            .and_then(Value::as_str)
            .filter(|_| answer.get("done").and_then(Value::as_bool) != Some(true))
            .map(str::to_string);
        Ok(DealPage { deals, next })
    }
}

#[async_trait]
impl CrmClient for SalesforceApi {
    async fn fetch_deal(&self, deal_id: &str) -> Result<DealSnapshot, CrmError> {
        if !deal_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(CrmError::Invalid(format!(
                "`{deal_id}` is not a Salesforce id"
            )));
        }
        let soql = format!("SELECT {FIELDS} FROM Opportunity WHERE Id = '{deal_id}'");
        let answer = self.get(&format!("{API}/query"), &[("q", soql)]).await?;
        let record = answer
            .get("records")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .ok_or_else(|| CrmError::NotFound(deal_id.to_string()))?;
        Ok(Self::synced(record)?.snapshot)
    }
}
