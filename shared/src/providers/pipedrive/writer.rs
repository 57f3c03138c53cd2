//! Approved changes and activities written to Pipedrive (see `providers::writers` for the field map).

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::domain::{CrmField, FieldChange};
use crate::drafting::text_html;
use crate::ports::{Activity, ActivityKind, CrmError, CrmWriter};
use crate::providers::writers::{change, id_of, int_id, note_html, number, task_subject};

use super::PipedriveApi;

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
