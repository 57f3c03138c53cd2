//! The sample pipeline shipped with the runner: loaded into an empty store so a newcomer sees
//! drafts at once, and served as a development HubSpot CRM API so signed sample webhooks work
//! offline.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::json;
use shared::domain::{DealEvent, DealRef, DealSnapshot, EventKind, EventType, Fact};
use shared::http::{self, ApiError, Response, StatusCode};

const SAMPLE: &str = include_str!("../../examples/sample-pipeline.json");

#[derive(Deserialize)]
pub struct Sample {
    pub deals: Vec<SampleDeal>,
}

#[derive(Deserialize)]
pub struct SampleDeal {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub deal_type: Option<String>,
    #[serde(default)]
    pub amount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    pub contact: SampleContact,
    pub events: Vec<SampleEvent>,
}

#[derive(Deserialize)]
pub struct SampleContact {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
}

#[derive(Deserialize)]
pub struct SampleEvent {
    pub at_hours: i64,
    /// The event's type, named as everywhere ([`EventType`]).
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(default)]
    pub raw_stage: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub document: Option<String>,
    /// For a booked meeting: when it starts, in hours relative to the first start.
    #[serde(default)]
    pub starts_at_hours: Option<i64>,
    /// For a logged call: the notes taken on it.
    #[serde(default)]
    pub note: Option<String>,
}

const SOURCE: &str = "sample pipeline, as HubSpot";

impl SampleDeal {
    fn current_stage(&self) -> Option<&str> {
        self.events
            .iter()
            .rev()
            .find_map(|e| e.raw_stage.as_deref())
    }

    fn snapshot(&self, first_stage: Option<&str>) -> DealSnapshot {
        let mut facts = std::collections::BTreeMap::new();
        let mut fact = |k: &str, v: Option<&String>, prop: &str| {
            if let Some(v) = v {
                facts.insert(
                    k.to_string(),
                    Fact::new(v, format!("{SOURCE} property {prop}")),
                );
            }
        };
        fact("deal.name", Some(&self.name), "dealname");
        let amount = self.amount.as_ref().map(|a| {
            format!("{a} {}", self.currency.as_deref().unwrap_or(""))
                .trim()
                .to_string()
        });
        fact("deal.amount", amount.as_ref(), "amount");
        fact("contact.email", Some(&self.contact.email), "email");
        fact(
            "contact.first_name",
            self.contact.first_name.as_ref(),
            "firstname",
        );
        fact(
            "contact.last_name",
            self.contact.last_name.as_ref(),
            "lastname",
        );
        fact("contact.company", self.contact.company.as_ref(), "company");
        DealSnapshot {
            name: Some(self.name.clone()),
            raw_stage: first_stage.map(str::to_string),
            pipeline: Some("default".into()),
            status: self.status.clone(),
            deal_type: self.deal_type.clone(),
            amount: self.amount.as_ref().and_then(|a| a.parse().ok()),
            currency: self.currency.clone(),
            contact_email: Some(self.contact.email.clone()),
            facts,
            links: Vec::new(),
            conversation: None,
        }
    }
}

impl Sample {
    pub fn bundled() -> Sample {
        serde_json::from_str(SAMPLE)
            .expect("examples/sample-pipeline.json is valid (checked by a test)")
    }

    /// Canonical events for every sample deal, timed relative to `now`.
    pub fn events(&self, now: Timestamp) -> Vec<DealEvent> {
        let mut out = Vec::new();
        for deal in &self.deals {
            let deal_ref = DealRef::new("hubspot", deal.id.clone());
            for (i, e) in deal.events.iter().enumerate() {
                let at = now + SignedDuration::from_hours(e.at_hours);
                let (source, kind) = match e.kind {
                    EventType::DealCreated => ("hubspot", EventKind::DealCreated),
                    EventType::StageChanged => (
                        "hubspot",
                        EventKind::StageChanged {
                            raw_stage: e.raw_stage.clone().unwrap_or_default(),
                        },
                    ),
                    EventType::ProposalSent => (
                        "pandadoc",
                        EventKind::ProposalSent {
                            document_id: format!("sample-{}", deal.id),
                            name: e.document.clone(),
                        },
                    ),
                    EventType::ProposalViewed => (
                        "pandadoc",
                        EventKind::ProposalViewed {
                            document_id: format!("sample-{}", deal.id),
                        },
                    ),
                    EventType::ProspectReplied => (
                        "inbox",
                        EventKind::ProspectReplied {
                            summary: e.summary.clone().unwrap_or_default(),
                        },
                    ),
                    EventType::MeetingBooked => (
                        "inbox",
                        EventKind::MeetingBooked {
                            summary: e.summary.clone().unwrap_or_default(),
                            starts_at: e
                                .starts_at_hours
                                .map(|h| now + SignedDuration::from_hours(h)),
                            meeting_id: e
                                .starts_at_hours
                                .map(|_| format!("sample-meeting-{}-{i}", deal.id)),
                        },
                    ),
                    EventType::CallLogged => (
                        "hubspot",
                        EventKind::CallLogged {
                            summary: e.summary.clone().unwrap_or_default(),
                            note: e.note.clone(),
                        },
                    ),
                    other => panic!("sample pipeline: unknown event type {other}"),
                };
                out.push(DealEvent {
                    id: format!("sample:{}:{i}", deal.id),
                    deal: deal_ref.clone(),
                    occurred_at: at,
                    source: source.into(),
                    kind,
                    snapshot: (i == 0).then(|| deal.snapshot(e.raw_stage.as_deref())),
                });
            }
        }
        out
    }

    /// `/crm/v3/objects/deals/{id}` and `/crm/v3/objects/contacts/{id}` for the sample deals.
    pub fn hubspot_api(&self, path: &str) -> Response {
        let not_found =
            || ApiError::NotFound(format!("no sample object at {path}")).into_response();
        let (kind, id) = match path
            .strip_prefix("/crm/v3/objects/")
            .and_then(|r| r.split_once('/'))
        {
            Some((k, id)) => (k, id.split('?').next().unwrap_or(id)),
            None => return not_found(),
        };
        let body = match kind {
            "deals" => match self.deals.iter().find(|d| d.id == id) {
                Some(d) => json!({
                    "id": d.id,
                    "properties": {
                        "dealname": d.name, "amount": d.amount, "deal_currency_code": d.currency,
                        "dealstage": d.current_stage(), "pipeline": "default", "dealtype": d.deal_type,
                        "draftgate_status": d.status,
                    },
                    "associations": { "contacts": { "results": [{ "id": d.contact.id, "type": "deal_to_contact" }] } },
                }),
                None => return not_found(),
            },
            "contacts" => match self.deals.iter().map(|d| &d.contact).find(|c| c.id == id) {
                Some(c) => json!({
                    "id": c.id,
                    "properties": { "email": c.email, "firstname": c.first_name, "lastname": c.last_name, "company": c.company },
                }),
                None => return not_found(),
            },
            _ => return not_found(),
        };
        http::json_response(StatusCode::OK, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_pipeline_parses_and_every_event_type_is_known() {
        let s = Sample::bundled();
        assert_eq!(s.deals.len(), 6);
        let events = s.events(Timestamp::UNIX_EPOCH + SignedDuration::from_hours(1000));
        assert_eq!(
            events.len(),
            s.deals.iter().map(|d| d.events.len()).sum::<usize>()
        );
    }
}
