//! The inbox webhook: an inbox connector or email bridge reports what happened in the founder's
//! mailbox or calendar (a prospect replied, a meeting was booked or cancelled, the founder wrote
//! outside draftgate, a new lead wrote in). Signed with the draftgate HMAC. The format is
//! draftgate's own, documented in the README ("Inbox and generic webhooks").
//!
//! Automatic answers (out of office, auto-responders) are kept on the timeline as
//! `AutoReplyReceived` and never count as a reply: see [`auto_reply_signal`].

use std::sync::Arc;

use crate::providers::signature::DraftgateSigned;
use crate::providers::{Parsed, Provider, ProviderSpec, SecretSpec};
use crate::secret::Secret;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::mail::auto_reply_signal;
use crate::domain::{DealEvent, DealSnapshot, EventKind, EventType, Fact};
use crate::providers::fields::{self, Obj};
use crate::providers::ParseError;

pub const SOURCE: &str = "inbox";
pub const MAX_BATCH: usize = 100;
/// The event types this webhook takes (named as everywhere, see [`EventType`]; the inbox's
/// documents write `reply` and `outbound`).
pub const TYPES: [EventType; 5] = [
    EventType::ProspectReplied,
    EventType::MeetingBooked,
    EventType::MeetingCancelled,
    EventType::OutboundSent,
    EventType::LeadInquiry,
];
/// How much of a message's snippet a summary quotes.
const SNIPPET_CHARS: usize = 160;

pub const SPEC: ProviderSpec = ProviderSpec {
    name: "inbox",
    kind: super::SourceKind::Inbox,
    secrets: &[SecretSpec {
        env: "INBOX_WEBHOOK_SECRET",
        dev: "dev-inbox-secret",
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
        name: "inbox",
        secret: super::one_secret(secrets),
        parse: |body| parse(body).map(Parsed::from),
    })
}

/// Parse an inbox webhook body: one event object, or `{"events": [...]}` with up to 100.
/// Every event is checked before any is returned, so a bad one rejects the whole request.
pub fn parse(body: &[u8]) -> Result<Vec<DealEvent>, ParseError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ParseError(format!("body is not valid JSON: {e}")))?;
    let events: Vec<&Value> = match &value {
        Value::Object(map) if map.contains_key("events") => {
            let top = Obj::new("body", &value)?;
            let Some(Value::Array(list)) = top.raw("events") else {
                return Err(top.error("`events` must be an array of inbox events"));
            };
            top.finish()?;
            if list.len() > MAX_BATCH {
                return Err(ParseError(format!(
                    "batch of {} events exceeds the maximum of {MAX_BATCH}",
                    list.len()
                )));
            }
            list.iter().collect()
        }
        Value::Object(_) => vec![&value],
        _ => {
            return Err(ParseError(
                "body must be an inbox event object or {\"events\": [...]}".into(),
            ))
        }
    };
    events
        .into_iter()
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
    let deal_obj = e.obj("deal")?;
    let deal = fields::deal_ref(&deal_obj)?;
    deal_obj.finish()?;

    let mut snapshot = None;
    let (occurred_at, kind) = match kind {
        EventType::ProspectReplied | EventType::LeadInquiry => {
            let from = e.str("from")?;
            let from = fields::email_address(&e, "from", &from)?;
            let subject = e.str_allow_empty("subject")?;
            let snippet = e.opt_str("snippet")?;
            let received_at = e.timestamp("received_at")?;
            let flagged = e.opt_bool("auto_reply")?;
            let headers = headers(&e)?;
            let lead = if kind == EventType::LeadInquiry {
                let contact = e.opt_obj("contact")?;
                let snap = lead_snapshot(&from, contact.as_ref(), &id)?;
                if let Some(c) = contact {
                    c.finish()?;
                }
                Some(snap)
            } else {
                None
            };
            let quoted = quote(&subject, snippet.as_deref());
            let event_kind = if let Some(signal) = auto_reply_signal(flagged, &headers, &subject) {
                tracing::debug!(?signal, %id, "inbox message is an automatic reply");
                EventKind::AutoReplyReceived {
                    summary: format!("Automatic reply from {from}: {quoted}"),
                }
            } else if let Some(snap) = lead {
                snapshot = Some(snap);
                EventKind::LeadInquiry {
                    summary: format!("Inquiry from {from}: {quoted}"),
                }
            } else {
                EventKind::ProspectReplied {
                    summary: format!("Reply from {from}: {quoted}"),
                }
            };
            (received_at, event_kind)
        }
        EventType::OutboundSent => {
            let to = e.str("to")?;
            let to = fields::email_address(&e, "to", &to)?;
            let subject = e.str_allow_empty("subject")?;
            let sent_at = e.timestamp("sent_at")?;
            (
                sent_at,
                EventKind::OutboundSent {
                    summary: format!("Email to {to}: {}", quote(&subject, None)),
                },
            )
        }
        EventType::MeetingBooked => {
            let meeting_id = e.id("meeting_id")?;
            let starts_at = e.timestamp("starts_at")?;
            let title = e.opt_str("title")?;
            let occurred_at = e.timestamp("occurred_at")?;
            (
                occurred_at,
                EventKind::MeetingBooked {
                    summary: format!(
                        "Meeting booked for {}: {}",
                        crate::domain::time::sortable(starts_at),
                        quote(title.as_deref().unwrap_or("Meeting"), None)
                    ),
                    starts_at: Some(starts_at),
                    meeting_id: Some(meeting_id),
                },
            )
        }
        EventType::MeetingCancelled => {
            let meeting_id = e.id("meeting_id")?;
            let title = e.opt_str("title")?;
            let occurred_at = e.timestamp("occurred_at")?;
            let summary = match title {
                Some(t) => format!("Meeting cancelled: {}", quote(&t, None)),
                None => "Meeting cancelled".to_string(),
            };
            (
                occurred_at,
                EventKind::MeetingCancelled {
                    summary,
                    meeting_id: Some(meeting_id),
                },
            )
        }
        other => unreachable!("{other} is not among TYPES, checked above"),
    };
    e.finish()?;
    Ok(DealEvent {
        id: format!("{SOURCE}:{id}"),
        deal,
        occurred_at,
        source: SOURCE.into(),
        kind,
        snapshot,
    })
}

/// `headers`: an object of header name to value (or to a list of values, for repeated headers).
fn headers(e: &Obj<'_>) -> Result<BTreeMap<String, String>, ParseError> {
    let mut out = BTreeMap::new();
    let Some(raw) = e.raw("headers") else {
        return Ok(out);
    };
    let Value::Object(map) = raw else {
        return Err(e.error("`headers` must be an object of header name to value"));
    };
    for (name, value) in map {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Array(values) if values.iter().all(Value::is_string) => values
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            _ => {
                return Err(e.error(format!(
                    "header `{name}` must be a string or a list of strings"
                )))
            }
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// `"<subject>"`, then a short excerpt of the snippet when there is one.
fn quote(subject: &str, snippet: Option<&str>) -> String {
    let subject = crate::domain::checks::excerpt(subject, 200);
    match snippet.map(|s| crate::domain::checks::excerpt(s, SNIPPET_CHARS)) {
        Some(s) if !s.is_empty() => format!("\"{subject}\" — {s}"),
        _ => format!("\"{subject}\""),
    }
}

/// A new lead's contact details, from the message and the optional `contact` object.
fn lead_snapshot(
    from: &str,
    contact: Option<&Obj<'_>>,
    id: &str,
) -> Result<DealSnapshot, ParseError> {
    let source = format!("inbox message {id}");
    let mut snap = DealSnapshot {
        contact_email: Some(from.to_string()),
        ..DealSnapshot::default()
    };
    snap.facts
        .insert("contact.email".into(), Fact::new(from, source.clone()));
    if let Some(c) = contact {
        for (key, field) in [
            ("contact.first_name", "first_name"),
            ("contact.last_name", "last_name"),
            ("contact.company", "company"),
        ] {
            if let Some(v) = c.opt_str(field)? {
                snap.facts.insert(key.into(), Fact::new(v, source.clone()));
            }
        }
    }
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::DealRef;

    fn one(v: Value) -> Result<DealEvent, ParseError> {
        parse(v.to_string().as_bytes()).map(|mut events| events.remove(0))
    }

    fn reply() -> Value {
        json!({
            "id": "<CAF=abc@mail.acme.example>",
            "type": "reply",
            "deal": {"crm": "hubspot", "id": "18544521873"},
            "from": "Jane Doe <jane.doe@acme.example>",
            "subject": "Re: Proposal for Acme",
            "snippet": "Thanks Alex,\nlooks good, can we talk Tuesday?",
            "received_at": "2026-03-02T09:15:00Z"
        })
    }

    #[test]
    fn a_reply_becomes_prospect_replied_with_its_sender_and_subject() {
        let e = one(reply()).unwrap();
        assert_eq!(e.id, "inbox:<CAF=abc@mail.acme.example>");
        assert_eq!(e.deal, DealRef::new("hubspot", "18544521873"));
        assert_eq!(e.source, "inbox");
        assert_eq!(e.occurred_at, "2026-03-02T09:15:00Z".parse().unwrap());
        assert_eq!(
            e.kind,
            EventKind::ProspectReplied {
                summary: "Reply from jane.doe@acme.example: \"Re: Proposal for Acme\" — Thanks Alex, looks good, can we talk Tuesday?".into()
            }
        );
        assert_eq!(e.snapshot, None);
    }

    #[test]
    fn an_out_of_office_reply_is_an_auto_reply_not_a_reply() {
        let mut v = reply();
        v["subject"] = json!("Automatic reply: Proposal for Acme");
        let e = one(v).unwrap();
        assert!(
            matches!(&e.kind, EventKind::AutoReplyReceived { summary } if summary.starts_with("Automatic reply from jane.doe@acme.example")),
            "{:?}",
            e.kind
        );
        let mut v = reply();
        v["headers"] = json!({"Auto-Submitted": "auto-replied", "Received": ["a", "b"]});
        assert!(matches!(
            one(v).unwrap().kind,
            EventKind::AutoReplyReceived { .. }
        ));
        let mut v = reply();
        v["auto_reply"] = json!(true);
        assert!(matches!(
            one(v).unwrap().kind,
            EventKind::AutoReplyReceived { .. }
        ));
    }

    #[test]
    fn meetings_outbound_mail_and_lead_inquiries_map_onto_their_events() {
        let deal = json!({"crm": "notion", "id": "deal-7"});
        let booked = one(json!({
            "id": "cal-1", "type": "meeting_booked", "deal": deal, "meeting_id": "evt_91",
            "starts_at": "2026-03-05T14:00:00+01:00", "title": "Acme kickoff",
            "occurred_at": "2026-03-02T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            booked.kind,
            EventKind::MeetingBooked {
                summary: "Meeting booked for 2026-03-05T13:00:00.000Z: \"Acme kickoff\"".into(),
                starts_at: Some("2026-03-05T13:00:00Z".parse().unwrap()),
                meeting_id: Some("evt_91".into()),
            }
        );
        let cancelled = one(json!({
            "id": "cal-2", "type": "meeting_cancelled", "deal": deal, "meeting_id": "evt_91",
            "occurred_at": "2026-03-03T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            cancelled.kind,
            EventKind::MeetingCancelled {
                summary: "Meeting cancelled".into(),
                meeting_id: Some("evt_91".into())
            }
        );
        let outbound = one(json!({
            "id": "sent-1", "type": "outbound", "deal": deal, "to": "jane.doe@acme.example",
            "subject": "Quick question", "sent_at": "2026-03-02T11:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            outbound.kind,
            EventKind::OutboundSent {
                summary: "Email to jane.doe@acme.example: \"Quick question\"".into()
            }
        );
        let lead = one(json!({
            "id": "msg-9", "type": "lead_inquiry", "deal": deal, "from": "sam@globex.example",
            "subject": "Website project", "received_at": "2026-03-02T08:00:00Z",
            "contact": {"first_name": "Sam", "company": "Globex"}
        }))
        .unwrap();
        assert_eq!(
            lead.kind,
            EventKind::LeadInquiry {
                summary: "Inquiry from sam@globex.example: \"Website project\"".into()
            }
        );
        let snap = lead.snapshot.unwrap();
        assert_eq!(snap.contact_email.as_deref(), Some("sam@globex.example"));
        assert_eq!(snap.facts["contact.first_name"].value, "Sam");
        assert_eq!(snap.facts["contact.company"].source, "inbox message msg-9");
    }

    #[test]
    fn a_batch_is_checked_whole_and_bad_events_are_named() {
        let good = reply();
        let mut bad = reply();
        bad["received_at"] = json!("yesterday");
        let body = json!({"events": [good, bad]}).to_string();
        let err = parse(body.as_bytes()).unwrap_err().0;
        assert!(err.starts_with("event 1: `received_at`"), "{err}");

        let body = json!({"events": [reply(), reply()]}).to_string();
        assert_eq!(parse(body.as_bytes()).unwrap().len(), 2);
        let body = json!({"events": vec![reply(); 101]}).to_string();
        assert!(parse(body.as_bytes())
            .unwrap_err()
            .0
            .contains("maximum of 100"));
    }

    #[test]
    fn malformed_events_are_refused_with_the_reason() {
        let cases = [
            (json!({"type": "reply"}), "event 0: `id` is required"),
            (
                json!({"id": "1", "type": "bounce", "deal": {"crm": "hubspot", "id": "1"}}),
                "unknown type `bounce`; expected one of prospect_replied (or reply), meeting_booked",
            ),
            (
                json!({"id": "1", "type": "reply", "deal": {"crm": "HubSpot", "id": "1"}}),
                "event 0: deal: `crm` must be a lowercase name",
            ),
            (
                json!({"id": "1", "type": "reply", "deal": {"crm": "hubspot", "id": "1", "name": "x"}}),
                "event 0: deal: unknown field `name`",
            ),
            (
                json!({"id": "1", "type": "reply", "deal": {"crm": "hubspot", "id": "1"}, "from": "jane", "subject": "", "received_at": "2026-03-02T09:15:00Z"}),
                "`from` must be an email address",
            ),
            (
                json!({"id": "1", "type": "reply", "deal": {"crm": "hubspot", "id": "1"}, "from": "j@a.b", "subject": "x", "received_at": "2026-03-02T09:15:00Z", "starts_at": "2026-03-02T09:15:00Z"}),
                "unknown field `starts_at`",
            ),
            (
                json!({"id": "1", "type": "reply", "deal": {"crm": "hubspot", "id": "1"}, "from": "j@a.b", "subject": "x", "received_at": "2026-03-02T09:15:00Z", "auto_reply": "yes"}),
                "`auto_reply` must be true or false",
            ),
            (
                json!({"id": "1", "type": "meeting_booked", "deal": {"crm": "hubspot", "id": "1"}, "meeting_id": "m", "occurred_at": "2026-03-02T09:15:00Z"}),
                "`starts_at` is required",
            ),
        ];
        for (v, want) in cases {
            let err = one(v.clone()).unwrap_err().0;
            assert!(err.contains(want), "{v}: {err}");
        }
        assert!(parse(b"[1]").unwrap_err().0.contains("event object"));
        assert!(parse(b"{nope").unwrap_err().0.contains("not valid JSON"));
    }
}
