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

//!
//! Each CRM's writer is in its folder (`hubspot/writer.rs`, …); what they share is here.

use serde_json::Value;

use crate::domain::{CrmField, FieldChange};
use crate::drafting::text_html;
use crate::ports::{Activity, CrmError};

/// A note for a CRM that keeps notes as HTML (HubSpot, Pipedrive): its title in bold, then its
/// text, line breaks kept. Both are data (a sent message, call notes): escaped, never read as
/// Markdown or HTML.
pub(crate) fn note_html(a: &Activity) -> String {
    format!(
        "<p><strong>{}</strong></p>\n{}",
        crate::drafting::html_escape(&crate::domain::headers::one_line(&a.subject)),
        text_html(&a.body)
    )
}

pub(crate) fn change(changes: &[FieldChange], field: CrmField) -> Option<&str> {
    changes
        .iter()
        .find(|c| c.field == field)
        .map(|c| c.to.as_str())
}

pub(crate) fn id_of(v: &Value) -> String {
    match v.get("id").or_else(|| v.pointer("/data/id")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

pub(crate) fn int_id(crm: &str, id: &str) -> Result<i64, CrmError> {
    id.parse()
        .map_err(|_| CrmError::Invalid(format!("{crm} ids are numbers, not `{id}`")))
}

pub(crate) fn number(field: CrmField, value: &str) -> Result<f64, CrmError> {
    value
        .parse()
        .map_err(|_| CrmError::Invalid(format!("{field} must be a number, not `{value}`")))
}

/// A task's subject: the next step, or a plain one when only its date changes.
pub(crate) fn task_subject(changes: &[FieldChange]) -> String {
    change(changes, CrmField::NextStep)
        .unwrap_or("Next step")
        .to_string()
}
