//! The generic webhook: canonical deal events for CRMs without a native adapter (a Notion or
//! Airtable pipeline, a Zapier or Make bridge). Signed with the draftgate HMAC. The format is
//! draftgate's own, documented in the README ("Inbox and generic webhooks"). A request's
//! events are all checked before any is recorded, so bad input changes nothing.

use std::sync::Arc;

use crate::providers::signature::DraftgateSigned;
use crate::providers::{Parsed, Provider, ProviderSpec, SecretSpec};
use crate::secret::Secret;
use serde_json::Value;

use crate::domain::{DealEvent, DealSnapshot, EventKind, EventType, Fact};
use crate::providers::fields::{self, Obj};
use crate::providers::ParseError;

pub const MAX_BATCH: usize = 100;
/// The event types this webhook takes (named as everywhere, see [`EventType`]).
pub const TYPES: [EventType; 11] = [
    EventType::DealCreated,
    EventType::StageChanged,
    EventType::StatusChanged,
    EventType::ProposalSent,
    EventType::CallLogged,
    EventType::QuoteSent,
    EventType::ProspectReplied,
    EventType::MeetingBooked,
    EventType::MeetingCancelled,
    EventType::ProspectDeclined,
    EventType::DealDeleted,
];

pub const SPEC: ProviderSpec = ProviderSpec {
    name: "generic",
    kind: super::SourceKind::Generic,
    secrets: &[SecretSpec {
        env: "GENERIC_WEBHOOK_SECRET",
        dev: "dev-generic-secret",
    }],
    build: webhook,
    document_deal_key: None,
    writes_back: false,
    numeric_ids: false,
    #[cfg(feature = "http-client")]
    api: None,
    #[cfg(feature = "http-client")]
    connect: None,
};

fn webhook(secrets: Vec<Secret>) -> Arc<dyn Provider> {
    Arc::new(DraftgateSigned {
        name: "generic",
        secret: super::one_secret(secrets),
        parse: |body| parse_batch(body).map(Parsed::from),
    })
}

/// Where facts from this webhook say they came from.
pub fn source(crm: &str) -> String {
    format!("{crm} via generic webhook")
}

/// Parse `{"events": [...]}`.
pub fn parse_batch(body: &[u8]) -> Result<Vec<DealEvent>, ParseError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ParseError(format!("body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ParseError(
            "body must be a JSON object {\"events\": [...]}".into(),
        ));
    }
    let top = Obj::new("body", &value)?;
    let events = top.raw("events");
    top.finish()?;
    let list = match events {
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ParseError("body: `events` must be an array".into())),
        None => return Err(ParseError("body: `events` is required".into())),
    };
    if list.len() > MAX_BATCH {
        return Err(ParseError(format!(
            "batch of {} events exceeds the maximum of {MAX_BATCH}",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| parse_event(i, v))
        .collect()
}

fn parse_event(index: usize, value: &Value) -> Result<DealEvent, ParseError> {
    let e = Obj::new(format!("event {index}"), value)?;
    let id = e.id("id")?;
    let name = e.str("type")?;
    let Some(kind) = EventType::parse(&name).filter(|t| TYPES.contains(t)) else {
        return Err(e.error(EventType::refusal(&name, &TYPES)));
    };
    let occurred_at = e.timestamp("occurred_at")?;
    let deal_obj = e.obj("deal")?;
    let deal = fields::deal_ref(&deal_obj)?;
    let snapshot = snapshot(&deal_obj, &deal.crm)?;
    deal_obj.finish()?;

    let summary_or = |default: &str| -> Result<String, ParseError> {
        Ok(e.opt_str("summary")?.unwrap_or_else(|| default.to_string()))
    };
    let kind = match kind {
        EventType::DealCreated => EventKind::DealCreated,
        EventType::DealDeleted => EventKind::DealDeleted,
        // A stage id the config does not map is recorded and reported (audit log, the
        // founder's next notification), the same way on every route.
        EventType::StageChanged => EventKind::StageChanged {
            raw_stage: e.str("stage")?,
        },
        EventType::StatusChanged => EventKind::StatusChanged {
            status: e.str_allow_empty("status")?,
        },
        EventType::ProposalSent => EventKind::ProposalSent {
            // A proposal without an id of its own is named by its event.
            document_id: optional_id(&e, "proposal_id")?.unwrap_or_else(|| id.clone()),
            name: e.opt_str("proposal_name")?,
        },
        EventType::CallLogged => EventKind::CallLogged {
            summary: e.str("summary")?,
            note: e.opt_str("note")?,
        },
        EventType::QuoteSent => EventKind::QuoteSent {
            quote_id: e.id("quote_id")?,
            expires_on: e.date("expires_on")?,
        },
        EventType::ProspectReplied => EventKind::ProspectReplied {
            summary: summary_or("Prospect replied")?,
        },
        EventType::MeetingBooked => EventKind::MeetingBooked {
            summary: summary_or("Meeting booked")?,
            starts_at: e.opt_timestamp("starts_at")?,
            meeting_id: optional_id(&e, "meeting_id")?,
        },
        EventType::MeetingCancelled => EventKind::MeetingCancelled {
            summary: summary_or("Meeting cancelled")?,
            meeting_id: optional_id(&e, "meeting_id")?,
        },
        EventType::ProspectDeclined => EventKind::ProspectDeclined {
            summary: summary_or("Prospect declined")?,
        },
        other => unreachable!("{other} is not among TYPES, checked above"),
    };
    e.finish()?;
    Ok(DealEvent {
        id: format!("generic:{}:{id}", deal.crm),
        source: source(&deal.crm),
        deal,
        occurred_at,
        kind,
        snapshot,
    })
}

/// An optional id; blank counts as absent.
fn optional_id(e: &Obj<'_>, key: &'static str) -> Result<Option<String>, ParseError> {
    match e.raw(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(_) => e.id(key).map(Some),
    }
}

/// The optional description of the deal next to its reference: `name`, `amount`, `currency`,
/// `deal_type`, `status` and `contact` (`email`, `first_name`, `last_name`, `company`).
fn snapshot(d: &Obj<'_>, crm: &str) -> Result<Option<DealSnapshot>, ParseError> {
    let source = source(crm);
    let name = d.opt_str("name")?;
    let amount = d.opt_amount("amount")?;
    let currency = d.opt_str("currency")?;
    let mut snap = DealSnapshot {
        name: name.clone(),
        amount: amount.as_ref().map(|(v, _)| *v),
        currency: currency.clone(),
        deal_type: d.opt_str("deal_type")?,
        status: d.opt_str("status")?,
        ..DealSnapshot::default()
    };
    let mut fact = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            snap.facts
                .insert(key.to_string(), Fact::new(v, source.clone()));
        }
    };
    fact("deal.name", name);
    fact(
        "deal.amount",
        amount.map(|(_, text)| match &currency {
            Some(c) => format!("{text} {c}"),
            None => text,
        }),
    );
    let mut contact_email = None;
    if let Some(c) = d.opt_obj("contact")? {
        if let Some(raw) = c.opt_str("email")? {
            let email = fields::email_address(&c, "email", &raw)?;
            fact("contact.email", Some(email.clone()));
            contact_email = Some(email);
        }
        for (key, field) in [
            ("contact.first_name", "first_name"),
            ("contact.last_name", "last_name"),
            ("contact.company", "company"),
        ] {
            fact(key, c.opt_str(field)?);
        }
        c.finish()?;
    }
    snap.contact_email = contact_email;
    if snap == DealSnapshot::default() {
        return Ok(None);
    }
    Ok(Some(snap))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Config;
    use crate::domain::DealRef;

    /// The bundled config plus a Notion pipeline, as a founder would add it.
    fn config() -> Config {
        Config::bundled().expect("bundled config")
    }

    fn parse(v: Value) -> Result<Vec<DealEvent>, ParseError> {
        parse_batch(v.to_string().as_bytes())
    }

    fn event(kind: &str, extra: Value) -> Value {
        let mut e = json!({
            "id": format!("evt-{kind}"),
            "type": kind,
            "deal": {"crm": "notion", "id": "page-42"},
            "occurred_at": "2026-03-02T10:00:00Z"
        });
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    }

    fn kind_of(kind: &str, extra: Value) -> EventKind {
        parse(json!({"events": [event(kind, extra)]})).unwrap()[0]
            .kind
            .clone()
    }

    #[test]
    fn every_type_maps_onto_its_canonical_event() {
        let cases = [
            (kind_of("deal_created", json!({})), EventKind::DealCreated),
            (kind_of("deal_deleted", json!({})), EventKind::DealDeleted),
            (
                kind_of("stage_changed", json!({"stage": "Proposal sent"})),
                EventKind::StageChanged {
                    raw_stage: "Proposal sent".into(),
                },
            ),
            (
                kind_of("status_changed", json!({"status": "parked"})),
                EventKind::StatusChanged {
                    status: "parked".into(),
                },
            ),
            (
                kind_of("status_changed", json!({"status": ""})),
                EventKind::StatusChanged { status: "".into() },
            ),
            (
                kind_of(
                    "proposal_sent",
                    json!({"proposal_id": "doc-7", "proposal_name": "Acme rollout"}),
                ),
                EventKind::ProposalSent {
                    document_id: "doc-7".into(),
                    name: Some("Acme rollout".into()),
                },
            ),
            (
                kind_of("proposal_sent", json!({})),
                EventKind::ProposalSent {
                    document_id: "evt-proposal_sent".into(),
                    name: None,
                },
            ),
            (
                kind_of("call_logged", json!({"summary": "Discovery call"})),
                EventKind::CallLogged {
                    summary: "Discovery call".into(),
                    note: None,
                },
            ),
            (
                kind_of(
                    "quote_sent",
                    json!({"quote_id": "Q-17", "expires_on": "2026-03-31"}),
                ),
                EventKind::QuoteSent {
                    quote_id: "Q-17".into(),
                    expires_on: jiff::civil::date(2026, 3, 31),
                },
            ),
            (
                kind_of("prospect_replied", json!({})),
                EventKind::ProspectReplied {
                    summary: "Prospect replied".into(),
                },
            ),
            (
                kind_of(
                    "meeting_booked",
                    json!({"summary": "Kickoff", "starts_at": "2026-03-05T14:00:00+01:00", "meeting_id": 91}),
                ),
                EventKind::MeetingBooked {
                    summary: "Kickoff".into(),
                    starts_at: Some("2026-03-05T13:00:00Z".parse().unwrap()),
                    meeting_id: Some("91".into()),
                },
            ),
            (
                kind_of("meeting_cancelled", json!({"meeting_id": "91"})),
                EventKind::MeetingCancelled {
                    summary: "Meeting cancelled".into(),
                    meeting_id: Some("91".into()),
                },
            ),
            (
                kind_of(
                    "prospect_declined",
                    json!({"summary": "Went with another agency"}),
                ),
                EventKind::ProspectDeclined {
                    summary: "Went with another agency".into(),
                },
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn an_event_carries_its_deal_and_a_scoped_idempotency_key() {
        let events = parse(json!({"events": [event("deal_created", json!({}))]})).unwrap();
        let e = &events[0];
        assert_eq!(e.id, "generic:notion:evt-deal_created");
        assert_eq!(e.deal, DealRef::new("notion", "page-42"));
        assert_eq!(e.source, "notion via generic webhook");
        assert_eq!(e.occurred_at, "2026-03-02T10:00:00Z".parse().unwrap());
        assert_eq!(e.snapshot, None);
    }

    #[test]
    fn the_deal_object_becomes_a_snapshot_whose_facts_name_their_source() {
        let e = event(
            "proposal_sent",
            json!({"deal": {
                "crm": "notion", "id": "page-42", "name": "Acme rollout", "amount": "24000",
                "currency": "EUR", "deal_type": "newbusiness", "status": "active",
                "contact": {"email": "Jane Doe <jane@acme.example>", "first_name": "Jane", "last_name": "Doe", "company": "Acme"}
            }}),
        );
        let snap = parse(json!({"events": [e]})).unwrap()[0]
            .snapshot
            .clone()
            .unwrap();
        assert_eq!(snap.name.as_deref(), Some("Acme rollout"));
        assert_eq!(snap.amount, Some(24000.0));
        assert_eq!(snap.currency.as_deref(), Some("EUR"));
        assert_eq!(snap.deal_type.as_deref(), Some("newbusiness"));
        assert_eq!(snap.status.as_deref(), Some("active"));
        assert_eq!(snap.contact_email.as_deref(), Some("jane@acme.example"));
        assert_eq!(snap.raw_stage, None);
        for (key, value) in [
            ("deal.name", "Acme rollout"),
            ("deal.amount", "24000 EUR"),
            ("contact.email", "jane@acme.example"),
            ("contact.first_name", "Jane"),
            ("contact.last_name", "Doe"),
            ("contact.company", "Acme"),
        ] {
            assert_eq!(
                snap.facts[key],
                Fact::new(value, "notion via generic webhook"),
                "{key}"
            );
        }
    }

    #[test]
    fn an_unknown_type_names_the_event_and_the_allowed_types() {
        let body =
            json!({"events": [event("deal_created", json!({})), event("deal_won", json!({}))]});
        let err = parse(body).unwrap_err().0;
        assert!(
            err.starts_with(
                "event 1: unknown type `deal_won`; expected one of deal_created, stage_changed,"
            ),
            "{err}"
        );
        assert!(err.ends_with("deal_deleted"), "{err}");
    }

    #[test]
    fn a_type_another_webhook_takes_is_named_as_such() {
        let body = json!({"events": [event("outbound", json!({}))]});
        let err = parse(body).unwrap_err().0;
        assert!(
            err.starts_with("event 0: type `outbound_sent` is not taken by this webhook;"),
            "{err}"
        );
    }

    #[test]
    fn an_unmapped_stage_is_accepted_as_sent_for_intake_to_report() {
        let kind = kind_of("stage_changed", json!({"stage": "Archived"}));
        assert_eq!(
            kind,
            EventKind::StageChanged {
                raw_stage: "Archived".into()
            }
        );
        let hint = config().unmapped_stage_hint("notion", "Archived");
        assert!(
            hint.contains("not mapped in [stages.notion]") && hint.contains("Proposal sent"),
            "{hint}"
        );
        assert!(config()
            .unmapped_stage_hint("airtable", "Won")
            .contains("no [stages.airtable] section"));
    }

    #[test]
    fn malformed_events_are_refused_with_the_reason() {
        let cases = [
            (
                event("call_logged", json!({})),
                "event 0: `summary` is required",
            ),
            (
                event(
                    "quote_sent",
                    json!({"quote_id": "Q", "expires_on": "31/03/2026"}),
                ),
                "`expires_on` must be a date YYYY-MM-DD",
            ),
            (
                event("deal_created", json!({"occurred_at": "2026-03-02 10:00"})),
                "`occurred_at` must be an RFC 3339 time",
            ),
            (
                event("deal_created", json!({"stage": "Proposal sent"})),
                "event 0: unknown field `stage`",
            ),
            (
                event(
                    "deal_created",
                    json!({"deal": {"crm": "notion", "id": "1", "amount": "lots"}}),
                ),
                "event 0: deal: `amount` must be a number",
            ),
            (
                event(
                    "deal_created",
                    json!({"deal": {"crm": "notion", "id": "1", "amount": 1e308}}),
                ),
                "event 0: deal: `amount` must be an amount from 0 to 1000000000000",
            ),
            (
                event(
                    "deal_created",
                    json!({"deal": {"crm": "notion", "id": "1", "amount": -5}}),
                ),
                "event 0: deal: `amount` must be an amount from 0 to 1000000000000; got `-5`",
            ),
            (
                event(
                    "deal_created",
                    json!({"occurred_at": "0000-01-01T00:00:00Z"}),
                ),
                "`occurred_at` must be a time between 1970 and 2199",
            ),
            (
                event(
                    "quote_sent",
                    json!({"quote_id": "Q", "expires_on": "9999-12-31"}),
                ),
                "`expires_on` must be a date between 1970 and 2199",
            ),
            (
                event(
                    "deal_created",
                    json!({"deal": {"crm": "notion", "id": "1", "contact": {"email": "jane"}}}),
                ),
                "event 0: deal: contact: `email` must be an email address",
            ),
            (
                event(
                    "deal_created",
                    json!({"deal": {"crm": "notion", "id": "1", "contact": {"phone": "1"}}}),
                ),
                "event 0: deal: contact: unknown field `phone`",
            ),
            (
                event("deal_created", json!({"deal": {"crm": "notion"}})),
                "event 0: deal: `id` is required",
            ),
            (
                json!({"id": "1", "deal": {"crm": "notion", "id": "1"}}),
                "event 0: `type` is required",
            ),
            (json!("deal_created"), "event 0: expected a JSON object"),
        ];
        for (e, want) in cases {
            let err = parse(json!({"events": [e.clone()]})).unwrap_err().0;
            assert!(err.contains(want), "{e}: {err}");
        }
    }

    #[test]
    fn the_body_is_an_events_object_of_at_most_100() {
        assert!(parse(json!([event("deal_created", json!({}))]))
            .unwrap_err()
            .0
            .contains("{\"events\""));
        assert!(parse(json!({"event": []}))
            .unwrap_err()
            .0
            .contains("unknown field `event`"));
        assert_eq!(parse(json!({"events": []})).unwrap(), vec![]);
        let many: Vec<_> = (0..101).map(|_| event("deal_created", json!({}))).collect();
        assert!(parse(json!({"events": many}))
            .unwrap_err()
            .0
            .contains("maximum of 100"));
        assert!(parse_batch(b"{\"events\": [")
            .unwrap_err()
            .0
            .contains("not valid JSON"));
    }
}
