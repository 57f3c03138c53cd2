//! Writing approved changes back to each CRM: activities (an email engagement for a follow-up
//! sent, a note for anything else) and deal field updates. Only the write-back worker calls
//! these, only with what a person approved; each CRM's own way of holding a field is here:
//!
//! | field | HubSpot | Pipedrive | Close | Salesforce |
//! | --- | --- | --- | --- | --- |
//! | next step | `hs_next_step` | a task activity | a task | `NextStep` |
//! | next-step date | a task due then | the task's `due_date` | the task's `date` | a task's `ActivityDate` |
//! | stage | `dealstage` | `stage_id` | `status_id` | `StageName` |
//! | close reason | `closed_lost_reason` | `lost_reason` | a note | a completed task |
//! | amount | `amount` | `value` | `value` (cents) | `Amount` |

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::domain::{CrmField, FieldChange};
use crate::drafting::text_html;
use crate::ports::{Activity, ActivityKind, CrmError, CrmWriter};

use super::close::CloseApi;
use super::hubspot::HubSpotClient;
use super::pipedrive::PipedriveApi;
use super::salesforce::SalesforceApi;

/// A note for a CRM that keeps notes as HTML (HubSpot, Pipedrive): its title in bold, then its
/// text, line breaks kept. Both are data (a sent message, call notes): escaped, never read as
/// Markdown or HTML.
fn note_html(a: &Activity) -> String {
    format!(
        "<p><strong>{}</strong></p>\n{}",
        crate::drafting::html_escape(&crate::domain::headers::one_line(&a.subject)),
        text_html(&a.body)
    )
}

fn change(changes: &[FieldChange], field: CrmField) -> Option<&str> {
    changes
        .iter()
        .find(|c| c.field == field)
        .map(|c| c.to.as_str())
}

fn id_of(v: &Value) -> String {
    match v.get("id").or_else(|| v.pointer("/data/id")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn int_id(crm: &str, id: &str) -> Result<i64, CrmError> {
    id.parse()
        .map_err(|_| CrmError::Invalid(format!("{crm} ids are numbers, not `{id}`")))
}

fn number(field: CrmField, value: &str) -> Result<f64, CrmError> {
    value
        .parse()
        .map_err(|_| CrmError::Invalid(format!("{field} must be a number, not `{value}`")))
}

/// A task's subject: the next step, or a plain one when only its date changes.
fn task_subject(changes: &[FieldChange]) -> String {
    change(changes, CrmField::NextStep)
        .unwrap_or("Next step")
        .to_string()
}

/// HubSpot's association type ids (HUBSPOT_DEFINED): object -> deal, object -> contact.
fn hubspot_associations(
    deal_id: &str,
    to_deal: u32,
    contacts: &[String],
    to_contact: u32,
) -> Value {
    let one = |id: &str, type_id: u32| json!({ "to": { "id": id }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }] });
    let mut all = vec![one(deal_id, to_deal)];
    all.extend(contacts.iter().map(|c| one(c, to_contact)));
    Value::Array(all)
}

impl HubSpotClient {
    /// The deal's associated contacts (an activity is logged on them too).
    async fn contact_ids(&self, deal_id: &str) -> Result<Vec<String>, CrmError> {
        let deal = self
            .sync_api
            .get(
                &format!(
                    "/crm/v3/objects/deals/{}",
                    crate::domain::checks::path_segment(deal_id)
                ),
                &[("associations", "contacts".to_string())],
            )
            .await?;
        Ok(deal
            .pointer("/associations/contacts/results")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(id_of).filter(|i| !i.is_empty()).collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl CrmWriter for HubSpotClient {
    async fn log_activity(&self, deal_id: &str, a: &Activity) -> Result<String, CrmError> {
        let contacts = self.contact_ids(deal_id).await?;
        let at = a.at.to_string();
        let (object, properties, to_deal, to_contact) = match a.kind {
            ActivityKind::Email => (
                "emails",
                json!({
                    "hs_timestamp": at,
                    "hs_email_direction": "EMAIL",
                    "hs_email_status": "SENT",
                    "hs_email_subject": a.subject,
                    "hs_email_text": a.body,
                }),
                210,
                198,
            ),
            ActivityKind::Note => (
                "notes",
                json!({ "hs_timestamp": at, "hs_note_body": note_html(a) }),
                214,
                202,
            ),
        };
        let created = self
            .sync_api
            .post(
                &format!("/crm/v3/objects/{object}"),
                &json!({
                    "properties": properties,
                    "associations": hubspot_associations(deal_id, to_deal, &contacts, to_contact),
                }),
            )
            .await?;
        Ok(id_of(&created))
    }

    async fn update_deal(
        &self,
        deal_id: &str,
        changes: &[FieldChange],
    ) -> Result<Vec<String>, CrmError> {
        let mut done = Vec::new();
        let mut properties = Map::new();
        for c in changes {
            let name = match c.field {
                CrmField::NextStep => "hs_next_step",
                CrmField::Stage => "dealstage",
                CrmField::Amount => "amount",
                CrmField::CloseReason => "closed_lost_reason",
                CrmField::NextStepDate => continue,
            };
            properties.insert(name.into(), Value::String(c.to.clone()));
        }
        if !properties.is_empty() {
            let path = format!(
                "/crm/v3/objects/deals/{}",
                crate::domain::checks::path_segment(deal_id)
            );
            self.sync_api
                .patch(&path, &json!({ "properties": properties }))
                .await?;
            done.push(format!("PATCH {path}"));
        }
        if let Some(date) = change(changes, CrmField::NextStepDate) {
            let task = self
                .sync_api
                .post(
                    "/crm/v3/objects/tasks",
                    &json!({
                        "properties": {
                            "hs_timestamp": format!("{date}T09:00:00Z"),
                            "hs_task_subject": task_subject(changes),
                            "hs_task_status": "NOT_STARTED",
                            "hs_task_type": "TODO",
                        },
                        "associations": hubspot_associations(deal_id, 216, &[], 0),
                    }),
                )
                .await?;
            done.push(format!("POST /crm/v3/objects/tasks ({})", id_of(&task)));
        }
        Ok(done)
    }
}

#[async_trait]
impl CrmWriter for PipedriveApi {
    async fn log_activity(&self, deal_id: &str, a: &Activity) -> Result<String, CrmError> {
        let deal = int_id("Pipedrive", deal_id)?;
        let created = match a.kind {
            ActivityKind::Email => {
                self.api
                    .post(
                        "/api/v2/activities",
                        &json!({
                            "subject": a.subject,
                            "type": "email",
                            "deal_id": deal,
                            "done": true,
                            "due_date": a.at.strftime("%Y-%m-%d").to_string(),
                            "note": text_html(&a.body),
                        }),
                    )
                    .await?
            }
            ActivityKind::Note => {
                self.api
                    .post(
                        "/api/v1/notes",
                        &json!({ "content": note_html(a), "deal_id": deal }),
                    )
                    .await?
            }
        };
        Ok(id_of(&created))
    }

    async fn update_deal(
        &self,
        deal_id: &str,
        changes: &[FieldChange],
    ) -> Result<Vec<String>, CrmError> {
        let deal = int_id("Pipedrive", deal_id)?;
        let mut done = Vec::new();
        let mut body = Map::new();
        for c in changes {
            match c.field {
                CrmField::Stage => {
                    body.insert("stage_id".into(), json!(int_id("Pipedrive", &c.to)?));
                }
                CrmField::Amount => {
                    body.insert("value".into(), json!(number(c.field, &c.to)?));
                }
                CrmField::CloseReason => {
                    body.insert("lost_reason".into(), json!(c.to));
                }
                CrmField::NextStep | CrmField::NextStepDate => {}
            }
        }
        if !body.is_empty() {
            let path = format!(
                "/api/v2/deals/{}",
                crate::domain::checks::path_segment(&deal.to_string())
            );
            self.api.patch(&path, &Value::Object(body)).await?;
            done.push(format!("PATCH {path}"));
        }
        if change(changes, CrmField::NextStep).is_some()
            || change(changes, CrmField::NextStepDate).is_some()
        {
            let mut task = json!({ "subject": task_subject(changes), "type": "task", "deal_id": deal, "done": false });
            if let Some(date) = change(changes, CrmField::NextStepDate) {
                task["due_date"] = json!(date);
            }
            let created = self.api.post("/api/v2/activities", &task).await?;
            done.push(format!("POST /api/v2/activities ({})", id_of(&created)));
        }
        Ok(done)
    }
}

impl CloseApi {
    /// The opportunity's lead and contact: Close logs activities on the lead.
    async fn lead_of(&self, opportunity: &str) -> Result<(String, Option<String>), CrmError> {
        let opp = self
            .api
            .get(&format!("/api/v1/opportunity/{opportunity}/"), &[])
            .await?;
        let lead = opp.get("lead_id").and_then(Value::as_str).ok_or_else(|| {
            CrmError::Invalid(format!("Close opportunity {opportunity} has no lead_id"))
        })?;
        let contact = opp
            .get("contact_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok((lead.to_string(), contact))
    }

    async fn note(&self, lead: &str, text: String) -> Result<Value, CrmError> {
        self.api
            .post(
                "/api/v1/activity/note/",
                &json!({ "lead_id": lead, "note": text }),
            )
            .await
    }
}

#[async_trait]
impl CrmWriter for CloseApi {
    async fn log_activity(&self, deal_id: &str, a: &Activity) -> Result<String, CrmError> {
        let (lead, contact) = self.lead_of(deal_id).await?;
        let created = match a.kind {
            ActivityKind::Email => {
                let mut email = json!({
                    "lead_id": lead,
                    "direction": "outgoing",
                    "status": "sent",
                    "subject": a.subject,
                    "body_text": a.body,
                    "date_sent": a.at.to_string(),
                    "to": a.to.iter().collect::<Vec<_>>(),
                });
                if let Some(c) = contact {
                    email["contact_id"] = json!(c);
                }
                self.api.post("/api/v1/activity/email/", &email).await?
            }
            ActivityKind::Note => {
                self.note(&lead, format!("{}\n\n{}", a.subject, a.body))
                    .await?
            }
        };
        Ok(id_of(&created))
    }

    async fn update_deal(
        &self,
        deal_id: &str,
        changes: &[FieldChange],
    ) -> Result<Vec<String>, CrmError> {
        let mut done = Vec::new();
        let mut body = Map::new();
        for c in changes {
            match c.field {
                CrmField::Stage => {
                    body.insert("status_id".into(), json!(c.to));
                }
                CrmField::Amount => {
                    // Close keeps values in cents.
                    let cents = (number(c.field, &c.to)? * 100.0).round() as i64;
                    body.insert("value".into(), json!(cents));
                }
                _ => {}
            }
        }
        if !body.is_empty() {
            let path = format!(
                "/api/v1/opportunity/{}/",
                crate::domain::checks::path_segment(deal_id)
            );
            self.api.put(&path, &Value::Object(body)).await?;
            done.push(format!("PUT {path}"));
        }
        let step = change(changes, CrmField::NextStep).is_some()
            || change(changes, CrmField::NextStepDate).is_some();
        let reason = change(changes, CrmField::CloseReason);
        if step || reason.is_some() {
            let (lead, _) = self.lead_of(deal_id).await?;
            if step {
                let mut task = json!({ "lead_id": lead, "text": task_subject(changes) });
                if let Some(date) = change(changes, CrmField::NextStepDate) {
                    task["date"] = json!(date);
                }
                let created = self.api.post("/api/v1/task/", &task).await?;
                done.push(format!("POST /api/v1/task/ ({})", id_of(&created)));
            }
            if let Some(r) = reason {
                let created = self.note(&lead, format!("Close reason: {r}")).await?;
                done.push(format!("POST /api/v1/activity/note/ ({})", id_of(&created)));
            }
        }
        Ok(done)
    }
}

#[async_trait]
impl CrmWriter for SalesforceApi {
    async fn log_activity(&self, deal_id: &str, a: &Activity) -> Result<String, CrmError> {
        let mut task = json!({
            "WhatId": deal_id,
            "Subject": a.subject,
            "Description": a.body,
            "Status": "Completed",
            "ActivityDate": a.at.strftime("%Y-%m-%d").to_string(),
        });
        if a.kind == ActivityKind::Email {
            task["TaskSubtype"] = json!("Email");
        }
        let created = self
            .write(
                false,
                &format!("{}/sobjects/Task", super::salesforce::API),
                &task,
            )
            .await?;
        Ok(id_of(&created))
    }

    async fn update_deal(
        &self,
        deal_id: &str,
        changes: &[FieldChange],
    ) -> Result<Vec<String>, CrmError> {
        let api = super::salesforce::API;
        let mut done = Vec::new();
        let mut body = Map::new();
        for c in changes {
            match c.field {
                CrmField::NextStep => {
                    body.insert("NextStep".into(), json!(c.to));
                }
                CrmField::Stage => {
                    body.insert("StageName".into(), json!(c.to));
                }
                CrmField::Amount => {
                    body.insert("Amount".into(), json!(number(c.field, &c.to)?));
                }
                CrmField::CloseReason | CrmField::NextStepDate => {}
            }
        }
        if !body.is_empty() {
            let path = format!(
                "{api}/sobjects/Opportunity/{}",
                crate::domain::checks::path_segment(deal_id)
            );
            self.write(true, &path, &Value::Object(body)).await?;
            done.push(format!("PATCH {path}"));
        }
        let task = |subject: String, status: &str, date: Option<&str>| {
            let mut t = json!({ "WhatId": deal_id, "Subject": subject, "Status": status });
            if let Some(d) = date {
                t["ActivityDate"] = json!(d);
            }
            t
        };
        if let Some(date) = change(changes, CrmField::NextStepDate) {
            let created = self
                .write(
                    false,
                    &format!("{api}/sobjects/Task"),
                    &task(task_subject(changes), "Not Started", Some(date)),
                )
                .await?;
            done.push(format!("POST {api}/sobjects/Task ({})", id_of(&created)));
        }
        if let Some(r) = change(changes, CrmField::CloseReason) {
            let created = self
                .write(
                    false,
                    &format!("{api}/sobjects/Task"),
                    &task(format!("Close reason: {r}"), "Completed", None),
                )
                .await?;
            done.push(format!("POST {api}/sobjects/Task ({})", id_of(&created)));
        }
        Ok(done)
    }
}
