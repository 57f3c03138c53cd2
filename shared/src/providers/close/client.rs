//! Close's API: deal details, the sync, and the calls the writer makes.

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::{call, email, meeting, opportunity_snapshot, text, time, SUBSCRIBED_EVENTS};
use crate::domain::{DealSnapshot, Fact};
use crate::ports::{CrmClient, CrmError, CrmSource, DealPage, SyncedActivity, SyncedDeal};
use crate::providers::api::{ApiClient, Auth};
use crate::providers::fields;
use crate::secret::Secret;

/// Opportunities per page.
const PAGE: usize = 100;

/// Close's API (`CLOSE_API_BASE_URL`, default `https://api.close.com`) with an API key.
pub struct CloseApi {
    pub(crate) api: ApiClient,
}

impl CloseApi {
    pub fn new(base_url: &str, api_key: Secret) -> Self {
        CloseApi {
            api: ApiClient::new("Close", base_url, Auth::BasicUser(api_key)),
        }
    }

    /// `draftgate connect close`: check the key, subscribe `url` to the events draftgate
    /// reads unless a subscription for it exists, and list the opportunity statuses to map.
    /// The signing key of a new subscription is returned with the report, once.
    pub async fn connect(&self, url: &str) -> Result<(Vec<String>, Option<String>), CrmError> {
        let mut done = Vec::new();
        let me = self.api.get("/api/v1/me/", &[]).await?;
        done.push(format!(
            "API key ok: {} ({})",
            me.get("email").and_then(Value::as_str).unwrap_or("?"),
            me.get("organizations")
                .and_then(Value::as_array)
                .and_then(|o| o.first())
                .and_then(|o| o.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("?")
        ));
        let existing = self.api.get("/api/v1/webhook/", &[]).await?;
        let found = existing
            .get("data")
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|w| w.get("url").and_then(Value::as_str) == Some(url))
            })
            .cloned();
        let key = match found {
            Some(w) => {
                done.push(format!(
                    "kept subscription {} (already sends to {url}); its signing key is unchanged",
                    w.get("id").and_then(Value::as_str).unwrap_or("?")
                ));
                None
            }
            None => {
                let events: Vec<Value> = SUBSCRIBED_EVENTS
                    .iter()
                    .map(|(object_type, action)| json!({ "object_type": object_type, "action": action }))
                    .collect();
                let created = self
                    .api
                    .post("/api/v1/webhook/", &json!({ "url": url, "events": events }))
                    .await?;
                done.push(format!(
                    "created subscription {} for {} events -> {url}",
                    created.get("id").and_then(Value::as_str).unwrap_or("?"),
                    SUBSCRIBED_EVENTS.len()
                ));
                created
                    .get("signature_key")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }
        };
        let statuses = self.api.get("/api/v1/status/opportunity/", &[]).await?;
        let statuses = statuses
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        done.push(format!(
            "{} opportunity statuses; map the active ones in [stages.close] (won / lost come from the status type):",
            statuses.len()
        ));
        for s in &statuses {
            let kind = s.get("type").and_then(Value::as_str).unwrap_or("?");
            let line = format!(
                "  \"{}\" = \"?\"   # {} ({kind})",
                s.get("id").and_then(Value::as_str).unwrap_or("?"),
                s.get("label").and_then(Value::as_str).unwrap_or("?")
            );
            done.push(if kind == "active" {
                line
            } else {
                format!("  # {}", line.trim())
            });
        }
        Ok((done, key))
    }

    /// The opportunity's contact: name and email, each with its source.
    async fn contact(
        &self,
        snap: &mut DealSnapshot,
        o: &Map<String, Value>,
    ) -> Result<(), CrmError> {
        let Some(contact_id) = text(o, "contact_id") else {
            return Ok(());
        };
        let c = match self
            .api
            .get(&format!("/api/v1/contact/{contact_id}/"), &[])
            .await
        {
            Ok(v) => v,
            Err(CrmError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let source = |field: &str| format!("Close contact {contact_id} {field}");
        if let Some(email) = c
            .get("emails")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
            .and_then(|e| e.get("email"))
            .and_then(Value::as_str)
            .filter(|e| e.contains('@'))
        {
            snap.facts
                .insert("contact.email".into(), Fact::new(email, source("emails")));
            snap.links
                .push(format!("email:{}", email.to_ascii_lowercase()));
            snap.contact_email = Some(email.to_string());
        }
        if let Some(name) = c
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            snap.facts.insert(
                "contact.first_name".into(),
                Fact::new(fields::first_name(name), source("name")),
            );
        }
        Ok(())
    }

    /// The lead's calls, meetings and emails since `since` (all on a first sync).
    async fn activities(
        &self,
        lead: &str,
        since: Option<Timestamp>,
    ) -> Result<Vec<SyncedActivity>, CrmError> {
        // `lead_id__in`: the published spec types `lead_id` on this endpoint as an array.
        let mut query = vec![
            ("lead_id__in", lead.to_string()),
            ("_limit", PAGE.to_string()),
        ];
        if let Some(since) = since {
            query.push(("date_created__gte", since.to_string()));
        }
        let answer = self.api.get("/api/v1/activity/", &query).await?;
        let mut out = Vec::new();
        for a in answer
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            let Some(id) = text(a, "id") else { continue };
            let kind = match text(a, "_type").as_deref() {
                Some("Call") => call(a),
                Some("Meeting") => meeting(a, &id).ok().flatten(),
                Some("Email") => email(a),
                _ => None,
            };
            let at = ["activity_at", "date_sent", "date_created"]
                .iter()
                .find_map(|k| time(a, k).ok().flatten());
            if let (Some(kind), Some(at)) = (kind, at) {
                // An activity is recorded once per state (a meeting booked, then held).
                let state = text(a, "status").unwrap_or_default();
                out.push(SyncedActivity {
                    id: format!("{id}:{state}"),
                    at,
                    kind,
                });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl CrmSource for CloseApi {
    fn crm(&self) -> &'static str {
        super::CRM
    }

    /// `GET /api/v1/opportunity/`: active opportunities the first time, then every one
    /// updated at or after `since` (won, lost and deleted included), oldest first.
    async fn deals(
        &self,
        since: Option<Timestamp>,
        page: Option<&str>,
    ) -> Result<DealPage, CrmError> {
        let skip: usize = page.and_then(|p| p.parse().ok()).unwrap_or(0);
        let mut query = vec![
            ("_limit", PAGE.to_string()),
            ("_skip", skip.to_string()),
            ("_order_by", "date_updated".to_string()),
        ];
        match since {
            None => query.push(("status_type", "active".to_string())),
            Some(t) => query.push(("date_updated__gte", t.to_string())),
        }
        let answer = self.api.get("/api/v1/opportunity/", &query).await?;
        let list = answer
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut deals = Vec::new();
        for o in list.iter().filter_map(Value::as_object) {
            let Some(id) = text(o, "id") else { continue };
            let mut snapshot = opportunity_snapshot(&id, o);
            self.contact(&mut snapshot, o).await?;
            let updated_at = time(o, "date_updated")
                .map_err(|e| CrmError::Invalid(e.0))?
                .ok_or_else(|| {
                    CrmError::Invalid(format!("Close opportunity {id} has no date_updated"))
                })?;
            let activities = match text(o, "lead_id") {
                Some(lead) => self.activities(&lead, since).await?,
                None => Vec::new(),
            };
            deals.push(SyncedDeal {
                id,
                snapshot,
                // Close keeps no stage-entry time; the last update is the closest it says.
                stage_entered_at: None,
                updated_at,
                deleted: false,
                activities,
            });
        }
        let more = answer.get("has_more").and_then(Value::as_bool) == Some(true);
        Ok(DealPage {
            next: (more && !list.is_empty()).then(|| (skip + list.len()).to_string()),
            deals,
        })
    }
}

#[async_trait]
impl CrmClient for CloseApi {
    async fn fetch_deal(&self, deal_id: &str) -> Result<DealSnapshot, CrmError> {
        let o = self
            .api
            .get(
                &format!(
                    "/api/v1/opportunity/{}/",
                    crate::domain::checks::path_segment(deal_id)
                ),
                &[],
            )
            .await?;
        let o = o
            .as_object()
            .ok_or_else(|| CrmError::Invalid("Close opportunity is not an object".into()))?;
        let mut snap = opportunity_snapshot(deal_id, o);
        self.contact(&mut snap, o).await?;
        Ok(snap)
    }
}
