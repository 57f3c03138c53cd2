//! The append-only audit record.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::deal::DealRef;

/// One append-only audit record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: Timestamp,
    pub kind: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<DealRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub fn new(at: Timestamp, kind: &str, actor: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            id: ulid::Ulid::new().to_string(),
            at,
            kind: kind.to_string(),
            actor: actor.to_string(),
            deal: None,
            draft_id: None,
            detail,
        }
    }

    pub fn deal(mut self, deal: &DealRef) -> Self {
        self.deal = Some(deal.clone());
        self
    }

    pub fn draft(mut self, id: &str) -> Self {
        self.draft_id = Some(id.to_string());
        self
    }
}
