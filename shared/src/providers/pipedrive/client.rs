//! Pipedrive's API v2: deal details for the webhook's events, the sync's pages of deals and
//! activities, and (in `writers`) approved changes written back.

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::{activity_kind, deal_snapshot, text, time, truthy, CRM};
use crate::domain::DealSnapshot;
use crate::ports::{CrmClient, CrmError, CrmSource, DealPage, SyncedActivity, SyncedDeal};
use crate::providers::api::{ApiClient, Auth};
use crate::secret::Secret;

/// Deals per page (the API's maximum is 500).
const PAGE: usize = 100;

/// Pipedrive's API v2 at the company domain (`PIPEDRIVE_API_BASE_URL`), with an API token.
pub struct PipedriveApi {
    pub(crate) api: ApiClient,
}

impl PipedriveApi {
    pub fn new(company_url: &str, token: Secret) -> Self {
        PipedriveApi {
            api: ApiClient::new("Pipedrive", company_url, Auth::Header("x-api-token", token)),
        }
    }

    fn data(v: &Value) -> Result<&Value, CrmError> {
        v.get("data")
            .ok_or_else(|| CrmError::Invalid("Pipedrive answered without `data`".into()))
    }

    /// The deal's primary contact: name, email and company, each with its source.
    async fn contact(
        &self,
        snap: &mut DealSnapshot,
        deal: &Map<String, Value>,
    ) -> Result<(), CrmError> {
        let Some(person_id) = text(deal, "person_id") else {
            return Ok(());
        };
        let person = match self
            .api
            .get(&format!("/api/v2/persons/{person_id}"), &[])
            .await
        {
            Ok(v) => v,
            Err(CrmError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(p) = Self::data(&person)?.as_object() else {
            return Ok(());
        };
        snap.merge(super::person_snapshot(&person_id, p));
        Ok(())
    }

    async fn activities(
        &self,
        deal_id: &str,
        since: Option<Timestamp>,
    ) -> Result<Vec<SyncedActivity>, CrmError> {
        let mut query = vec![
            ("deal_id", deal_id.to_string()),
            ("limit", PAGE.to_string()),
        ];
        if let Some(since) = since {
            query.push(("updated_since", since.to_string()));
        }
        let answer = self.api.get("/api/v2/activities", &query).await?;
        let list = Self::data(&answer)?.as_array().cloned().unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|a| {
                let (at, kind) = activity_kind(a)?;
                let id = text(a, "id")?;
                let state = if truthy(a, "done") == Some(true) {
                    "done"
                } else {
                    "open"
                };
                Some(SyncedActivity {
                    id: format!("{id}:{state}"),
                    at,
                    kind,
                })
            })
            .collect())
    }

    async fn synced(
        &self,
        d: &Map<String, Value>,
        since: Option<Timestamp>,
    ) -> Result<Option<SyncedDeal>, CrmError> {
        let Some(id) = text(d, "id") else {
            return Ok(None);
        };
        let mut snapshot = deal_snapshot(&id, d);
        match text(d, "status").as_deref() {
            Some("won") => snapshot.raw_stage = Some("won".into()),
            Some("lost") => snapshot.raw_stage = Some("lost".into()),
            _ => {}
        }
        self.contact(&mut snapshot, d).await?;
        let updated_at = time(d.get("update_time"), "update_time")
            .map_err(|e| CrmError::Invalid(e.0))?
            .or(time(d.get("add_time"), "add_time").map_err(|e| CrmError::Invalid(e.0))?)
            .ok_or_else(|| CrmError::Invalid(format!("Pipedrive deal {id} has no update_time")))?;
        let stage_entered_at = time(d.get("stage_change_time"), "stage_change_time")
            .ok()
            .flatten()
            .or(time(d.get("add_time"), "add_time").ok().flatten());
        let deleted = truthy(d, "is_deleted") == Some(true)
            || text(d, "status").as_deref() == Some("deleted");
        let activities = if deleted {
            Vec::new()
        } else {
            self.activities(&id, since).await?
        };
        Ok(Some(SyncedDeal {
            id,
            snapshot,
            stage_entered_at,
            updated_at,
            deleted,
            activities,
        }))
    }
}

impl PipedriveApi {
    /// `draftgate connect pipedrive`: check the token, create the deal and activity webhooks
    /// (v2, Basic auth) unless they exist, and list the stage ids to map. Answers what it did.
    pub async fn connect(
        &self,
        url: &str,
        user: &Secret,
        password: &Secret,
    ) -> Result<Vec<String>, CrmError> {
        let mut done = Vec::new();
        let me = self.api.get("/api/v1/users/me", &[]).await?;
        let me = Self::data(&me)?;
        done.push(format!(
            "token ok: {} ({})",
            me.get("name").and_then(Value::as_str).unwrap_or("?"),
            me.get("company_name")
                .and_then(Value::as_str)
                .unwrap_or("?")
        ));
        let existing = self.api.get("/api/v1/webhooks", &[]).await?;
        let existing = Self::data(&existing)?
            .as_array()
            .cloned()
            .unwrap_or_default();
        for object in ["deal", "activity"] {
            let found = existing.iter().find(|w| {
                w.get("subscription_url").and_then(Value::as_str) == Some(url)
                    && w.get("event_object").and_then(Value::as_str) == Some(object)
            });
            if let Some(w) = found {
                done.push(format!(
                    "kept webhook {} ({object}, already sends to {url})",
                    w.get("id").map(ToString::to_string).unwrap_or_default()
                ));
                continue;
            }
            let created = self
                .api
                .post(
                    "/api/v1/webhooks",
                    &serde_json::json!({
                        "subscription_url": url,
                        "event_action": "*",
                        "event_object": object,
                        "name": format!("draftgate {object}s"),
                        "http_auth_user": user.expose(),
                        "http_auth_password": password.expose(),
                        "version": "2.0",
                    }),
                )
                .await?;
            let id = Self::data(&created)?
                .get("id")
                .map(ToString::to_string)
                .unwrap_or_default();
            done.push(format!(
                "created webhook {id} ({object}, every action, v2, HTTP Basic) -> {url}"
            ));
        }
        let stages = self
            .api
            .get("/api/v2/stages", &[("limit", "500".to_string())])
            .await?;
        let stages = Self::data(&stages)?.as_array().cloned().unwrap_or_default();
        done.push(format!(
            "{} stages; map each id in [stages.pipedrive] (won / lost map through `won` and `lost`):",
            stages.len()
        ));
        for s in stages.iter().filter_map(Value::as_object) {
            done.push(format!(
                "  \"{}\" = \"?\"   # {} (pipeline {}, probability {})",
                text(s, "id").unwrap_or_default(),
                text(s, "name").unwrap_or_default(),
                text(s, "pipeline_id").unwrap_or_default(),
                text(s, "deal_probability").unwrap_or_else(|| "-".into())
            ));
        }
        Ok(done)
    }
}

#[async_trait]
impl CrmSource for PipedriveApi {
    fn crm(&self) -> &'static str {
        CRM
    }

    async fn deals(
        &self,
        since: Option<Timestamp>,
        page: Option<&str>,
    ) -> Result<DealPage, CrmError> {
        let mut query = vec![
            ("limit", PAGE.to_string()),
            ("sort_by", "update_time".to_string()),
            ("sort_direction", "asc".to_string()),
        ];
        match since {
            // Everything changed since, whatever its status: won, lost and deleted heal too.
            Some(since) => query.push(("updated_since", since.to_string())),
            None => query.push(("status", "open".to_string())),
        }
        if let Some(cursor) = page {
            query.push(("cursor", cursor.to_string()));
        }
        let answer = self.api.get("/api/v2/deals", &query).await?;
        let list = Self::data(&answer)?.as_array().cloned().unwrap_or_default();
        let mut deals = Vec::new();
        for d in list.iter().filter_map(Value::as_object) {
            if let Some(deal) = self.synced(d, since).await? {
                deals.push(deal);
            }
        }
        let next = answer
            .get("additional_data")
            .and_then(|a| a.get("next_cursor"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok(DealPage { deals, next })
    }
}

#[async_trait]
impl CrmClient for PipedriveApi {
    async fn fetch_deal(&self, deal_id: &str) -> Result<DealSnapshot, CrmError> {
        let answer = self
            .api
            .get(
                &format!(
                    "/api/v2/deals/{}",
                    crate::domain::checks::path_segment(deal_id)
                ),
                &[],
            )
            .await?;
        let d = Self::data(&answer)?
            .as_object()
            .ok_or_else(|| CrmError::Invalid("Pipedrive deal is not an object".into()))?;
        let mut snap = deal_snapshot(deal_id, d);
        self.contact(&mut snap, d).await?;
        Ok(snap)
    }
}
