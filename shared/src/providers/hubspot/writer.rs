//! Approved changes and activities written to HubSpot (see `providers::writers` for the field map).

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::domain::{CrmField, FieldChange};
use crate::ports::{Activity, ActivityKind, CrmError, CrmWriter};
use crate::providers::writers::{change, id_of, note_html, task_subject};

use super::HubSpotClient;

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
