//! Approved changes and activities written to Salesforce (see `providers::writers` for the field map).

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::domain::{CrmField, FieldChange};
use crate::ports::{Activity, ActivityKind, CrmError, CrmWriter};
use crate::providers::writers::{change, id_of, number, task_subject};

use super::SalesforceApi;

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
            .write(false, &format!("{}/sobjects/Task", super::API), &task)
            .await?;
        Ok(id_of(&created))
    }

    async fn update_deal(
        &self,
        deal_id: &str,
        changes: &[FieldChange],
    ) -> Result<Vec<String>, CrmError> {
        let api = super::API;
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
