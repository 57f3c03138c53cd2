//! Approved changes and activities written to Close (see `providers::writers` for the field map).

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::domain::{CrmField, FieldChange};
use crate::ports::{Activity, ActivityKind, CrmError, CrmWriter};
use crate::providers::writers::{change, id_of, number, task_subject};

use super::CloseApi;

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
