//! Close: webhook subscriptions (`{"subscription_id", "event": {…}}`), signed with
//! `close-sig-hash` = hex(HMAC-SHA256(hex-decoded signature key, `close-sig-timestamp` + raw body))
//! inside a 5-minute window. Opportunities are the deals (status changes, won / lost); calls,
//! meetings and emails are activities on a lead, recorded on the lead's opportunities.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::fields::text;
use crate::domain::{DealEvent, DealRef, DealSnapshot, EventKind, Fact};
use crate::providers::{
    fields, Incoming, ParseError, Parsed, Provider, ProviderSpec, Referenced, SecretSpec,
};
use crate::secret::Secret;
use crate::signing::SignatureError;

pub const CRM: &str = "close";
/// Close's API, unless `CLOSE_API_BASE_URL` says otherwise.
#[cfg(feature = "http-client")]
const API_BASE: &str = "https://api.close.com";

/// Seconds a signed request stays valid.
const MAX_AGE_SECS: i64 = 300;

pub const SPEC: ProviderSpec = ProviderSpec {
    name: CRM,
    kind: super::SourceKind::Crm,
    secrets: &[SecretSpec {
        env: "CLOSE_WEBHOOK_KEY",
        // 32 bytes, hex: Close's signature keys have this shape.
        dev: "646576636c6f73656b6579646576636c6f73656b6579646576636c6f73656b65",
    }],
    build: webhook,
    document_deal_key: None,
    writes_back: true,
    numeric_ids: false,
    #[cfg(feature = "http-client")]
    api: Some(api),
    #[cfg(feature = "http-client")]
    connect: Some(CONNECT),
};

/// `draftgate connect close`: checks the key, subscribes the webhook (unless subscribed) and
/// shows its signing key once.
#[cfg(feature = "http-client")]
const CONNECT: super::ConnectStep = super::ConnectStep {
    help: "CLOSE_API_KEY (and CLOSE_API_BASE_URL, default https://api.close.com)",
    needs: &["CLOSE_API_KEY"],
    run: connect,
};

#[cfg(feature = "http-client")]
fn connect(get: &dyn Fn(&str) -> Option<String>, url: String) -> super::ConnectFuture {
    let base = get("CLOSE_API_BASE_URL").unwrap_or_else(|| API_BASE.into());
    let api = CloseApi::new(&base, Secret::new(get("CLOSE_API_KEY").unwrap_or_default()));
    Box::pin(async move {
        let (mut lines, key) = api
            .connect(&url)
            .await
            .map_err(|e| crate::error::Chain(&e).to_string())?;
        if let Some(key) = key {
            lines.push(format!(
                "signing key (shown once): put it in the deployment's secret as CLOSE_WEBHOOK_KEY: {key}"
            ));
        }
        Ok(lines)
    })
}

/// The CRM's API from its settings.
#[cfg(feature = "http-client")]
fn api(get: &dyn Fn(&str) -> Option<String>) -> Option<super::CrmApi> {
    let key = get("CLOSE_API_KEY")?;
    let base = get("CLOSE_API_BASE_URL").unwrap_or_else(|| API_BASE.into());
    Some(super::CrmApi::of(Arc::new(CloseApi::new(
        &base,
        Secret::new(key),
    ))))
}

fn webhook(secrets: Vec<Secret>) -> Arc<dyn Provider> {
    Arc::new(Webhook {
        key: super::one_secret(secrets),
    })
}

/// `POST /webhooks/close`.
pub struct Webhook {
    key: Secret,
}

impl Provider for Webhook {
    fn name(&self) -> &'static str {
        CRM
    }

    fn verify(&self, incoming: &Incoming<'_>) -> Result<(), SignatureError> {
        verify(
            &self.key,
            incoming.body(),
            incoming.header("close-sig-hash"),
            incoming.header("close-sig-timestamp"),
            incoming.now,
        )
    }

    fn parse(&self, incoming: &Incoming<'_>) -> Result<Parsed, ParseError> {
        parse(incoming.body())
    }
}

/// The link from a Close lead to its opportunities (activities name the lead only).
pub fn lead_link(lead_id: &str) -> String {
    format!("close:lead:{lead_id}")
}

pub fn verify(
    key: &Secret,
    body: &[u8],
    hash: Option<&str>,
    timestamp: Option<&str>,
    now: Timestamp,
) -> Result<(), SignatureError> {
    let hash = hash.ok_or(SignatureError::Missing("close-sig-hash"))?;
    let timestamp = timestamp.ok_or(SignatureError::Missing("close-sig-timestamp"))?;
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed("close-sig-timestamp"))?;
    let age = now.as_second() - sent;
    if !(-60..=MAX_AGE_SECS).contains(&age) {
        return Err(SignatureError::Stale);
    }
    // The key is handed out as hex and used as the bytes it encodes.
    let key = hex::decode(key.expose().trim())
        .map_err(|_| SignatureError::Malformed("CLOSE_WEBHOOK_KEY (expected hex)"))?;
    let given =
        hex::decode(hash.trim()).map_err(|_| SignatureError::Malformed("close-sig-hash"))?;
    let expected = crate::secret::hmac_sha256(&key, &[timestamp.trim().as_bytes(), body]);
    crate::signing::matches(&given, &expected)
}

/// Close writes times as RFC 3339, sometimes without an offset (then UTC), and dates alone.
fn time(o: &Map<String, Value>, key: &str) -> Result<Option<Timestamp>, ParseError> {
    let Some(s) = text(o, key) else {
        return Ok(None);
    };
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(Some(t));
    }
    let bad = || ParseError(format!("{key}: `{s}` is not a time"));
    let civil: jiff::civil::DateTime = match s.parse() {
        Ok(dt) => dt,
        Err(_) => s
            .parse::<jiff::civil::Date>()
            .map_err(|_| bad())?
            .to_datetime(jiff::civil::Time::midnight()),
    };
    Ok(Some(
        civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp(),
    ))
}

fn close_id(v: Option<String>, prefix: &str, what: &str) -> Result<String, ParseError> {
    let id = v.ok_or_else(|| ParseError(format!("{what} is missing")))?;
    if !id.starts_with(prefix)
        || id.len() > crate::domain::checks::MAX_ID_LEN
        || id.contains(['#', ' '])
    {
        return Err(ParseError(format!(
            "{what}: `{id}` is not a Close id ({prefix}…)"
        )));
    }
    Ok(id)
}

/// An opportunity's details; its value is in minor units (cents).
pub fn opportunity_snapshot(id: &str, d: &Map<String, Value>) -> DealSnapshot {
    let source = |field: &str| format!("Close opportunity {id} {field}");
    let amount = d
        .get("value")
        .and_then(Value::as_f64)
        .map(|cents| cents / 100.0);
    let mut snap = DealSnapshot {
        name: text(d, "lead_name"),
        raw_stage: raw_stage(d),
        pipeline: text(d, "pipeline_id"),
        amount,
        currency: text(d, "value_currency"),
        ..Default::default()
    };
    if let Some(name) = &snap.name {
        snap.facts
            .insert("deal.name".into(), Fact::new(name, source("lead_name")));
        snap.facts.insert(
            "contact.company".into(),
            Fact::new(name, source("lead_name")),
        );
    }
    if let (Some(v), Some(c)) = (amount, &snap.currency) {
        snap.facts.insert(
            "deal.amount".into(),
            Fact::new(format!("{v:.2} {c}"), source("value")),
        );
    }
    if let Some(contact) = text(d, "contact_name") {
        let first = fields::first_name(&contact);
        snap.facts.insert(
            "contact.first_name".into(),
            Fact::new(first, source("contact_name")),
        );
    }
    if let Some(lead) = text(d, "lead_id") {
        snap.links.push(lead_link(&lead));
    }
    snap
}

/// An opportunity's stage: `won` / `lost` by its status type, else its status id (mapped in
/// `[stages.close]`).
fn raw_stage(d: &Map<String, Value>) -> Option<String> {
    match text(d, "status_type").as_deref() {
        Some("won") => Some("won".into()),
        Some("lost") => Some("lost".into()),
        _ => text(d, "status_id"),
    }
}

pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ParseError(format!("body is not valid JSON: {e}")))?;
    let event = value
        .get("event")
        .and_then(Value::as_object)
        .ok_or_else(|| ParseError("body must be {\"subscription_id\", \"event\": {…}}".into()))?;
    let event_id = close_id(text(event, "id"), "ev_", "event.id")?;
    let object_type = text(event, "object_type").unwrap_or_default();
    let action = text(event, "action").unwrap_or_default();
    let at = time(event, "date_created")?
        .ok_or_else(|| ParseError("event.date_created is missing".into()))?;
    let data = event.get("data").and_then(Value::as_object);
    let mut parsed = Parsed::default();
    let base = |suffix: &str, deal: DealRef, at: Timestamp, kind: EventKind| DealEvent {
        id: format!("close:{event_id}:{suffix}"),
        deal,
        occurred_at: at,
        source: CRM.into(),
        kind,
        snapshot: None,
    };
    match object_type.as_str() {
        "opportunity" => {
            let id = close_id(text(event, "object_id"), "oppo_", "event.object_id")?;
            let deal = DealRef::new(CRM, id.clone());
            if action == "deleted" {
                parsed
                    .events
                    .push(base("deleted", deal, at, EventKind::DealDeleted));
                return Ok(parsed);
            }
            let d = data.ok_or_else(|| ParseError("event.data is missing".into()))?;
            let changed: Vec<String> = event
                .get("changed_fields")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let mut events = Vec::new();
            if action == "created" {
                events.push(base("created", deal.clone(), at, EventKind::DealCreated));
            }
            let status_moved = action == "updated"
                && changed
                    .iter()
                    .any(|f| f == "status_id" || f == "status_type");
            if status_moved {
                if let Some(stage) = raw_stage(d) {
                    let when = match stage.as_str() {
                        "won" => time(d, "date_won")?.map(|t| t.max(at)),
                        "lost" => time(d, "date_lost")?.map(|t| t.max(at)),
                        _ => None,
                    }
                    .unwrap_or(at);
                    events.push(base(
                        "status",
                        deal.clone(),
                        when,
                        EventKind::StageChanged { raw_stage: stage },
                    ));
                }
            }
            if events.is_empty() {
                events.push(base("updated", deal, at, EventKind::DealUpdated));
            }
            events[0].snapshot = Some(opportunity_snapshot(&id, d));
            parsed.events.extend(events);
        }
        t if t.starts_with("activity.") => {
            let Some(d) = data else {
                parsed.ignored.push(format!("{t} {action}: no data"));
                return Ok(parsed);
            };
            let Some(lead) = text(event, "lead_id").or_else(|| text(d, "lead_id")) else {
                parsed.ignored.push(format!("{t}: not on a lead"));
                return Ok(parsed);
            };
            let kind = match (t, action.as_str()) {
                ("activity.call", "created" | "updated") => call(d),
                ("activity.meeting", "created" | "updated") => meeting(d, &object_id(event))?,
                ("activity.meeting", "deleted") => Some(EventKind::MeetingCancelled {
                    summary: "Meeting deleted in Close".into(),
                    meeting_id: Some(object_id(event)),
                }),
                ("activity.email", "created" | "updated") => email(d),
                _ => None,
            };
            match kind {
                Some(kind) => {
                    let occurred = activity_time(d)?.unwrap_or(at);
                    parsed.referenced.push(Referenced {
                        link: lead_link(&lead),
                        event: base(
                            &format!("{t}:{action}"),
                            DealRef::new(CRM, ""),
                            occurred,
                            kind,
                        ),
                    });
                }
                None => parsed
                    .ignored
                    .push(format!("{t} {action}: nothing draftgate acts on")),
            }
        }
        other => parsed.ignored.push(format!(
            "{other} {action}: not an opportunity or an activity"
        )),
    }
    Ok(parsed)
}

fn object_id(event: &Map<String, Value>) -> String {
    text(event, "object_id").unwrap_or_default()
}

fn activity_time(d: &Map<String, Value>) -> Result<Option<Timestamp>, ParseError> {
    for key in ["activity_at", "date_sent", "date_created"] {
        if let Some(t) = time(d, key)? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// A completed call.
fn call(d: &Map<String, Value>) -> Option<EventKind> {
    if text(d, "status").is_some_and(|s| s != "completed") {
        return None;
    }
    let direction = text(d, "direction").unwrap_or_else(|| "outbound".into());
    let note = text(d, "note")
        .map(|n| format!(" — {}", crate::domain::checks::excerpt(&n, 140)))
        .unwrap_or_default();
    Some(EventKind::CallLogged {
        summary: format!("{} call{note}", capitalise(&direction)),
        note: text(d, "note").map(|n| fields::plain_text(&n)),
    })
}

fn meeting(d: &Map<String, Value>, id: &str) -> Result<Option<EventKind>, ParseError> {
    let title = text(d, "title").unwrap_or_else(|| "Meeting".into());
    Ok(match text(d, "status").as_deref() {
        Some("canceled" | "cancelled" | "declined-by-lead" | "declined-by-org") => {
            Some(EventKind::MeetingCancelled {
                summary: format!("\"{title}\" cancelled"),
                meeting_id: Some(id.to_string()),
            })
        }
        Some("completed") => Some(EventKind::CallLogged {
            summary: format!("Meeting \"{title}\" held"),
            note: None,
        }),
        _ => Some(EventKind::MeetingBooked {
            summary: format!("Meeting \"{title}\" booked"),
            starts_at: time(d, "starts_at")?,
            meeting_id: Some(id.to_string()),
        }),
    })
}

/// An incoming email is the prospect's reply, unless it is automatic; an outgoing one sent
/// outside draftgate is our last contact.
fn email(d: &Map<String, Value>) -> Option<EventKind> {
    let subject = text(d, "subject").unwrap_or_default();
    let from = d
        .get("envelope")
        .and_then(|e| e.get("from"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|f| f.get("email"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| text(d, "sender"))
        .unwrap_or_else(|| "the prospect".into());
    let snippet = text(d, "body_preview").or_else(|| text(d, "body_text"));
    let quoted = match &snippet {
        Some(s) => format!("\"{subject}\" — {}", crate::domain::checks::excerpt(s, 140)),
        None => format!("\"{subject}\""),
    };
    match text(d, "direction").as_deref() {
        Some("incoming") => {
            let headers = std::collections::BTreeMap::new();
            if crate::domain::mail::auto_reply_signal(None, &headers, &subject).is_some() {
                Some(EventKind::AutoReplyReceived {
                    summary: format!("Automatic reply from {from}: {quoted}"),
                })
            } else {
                Some(EventKind::ProspectReplied {
                    summary: format!("Reply from {from}: {quoted}"),
                })
            }
        }
        Some("outgoing") if text(d, "status").as_deref() == Some("sent") => {
            Some(EventKind::OutboundSent {
                summary: format!("Email sent: {quoted}"),
            })
        }
        _ => None,
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The webhook subscription `draftgate connect close` creates: what draftgate reads.
pub const SUBSCRIBED_EVENTS: [(&str, &str); 8] = [
    ("opportunity", "created"),
    ("opportunity", "updated"),
    ("opportunity", "deleted"),
    ("activity.email", "created"),
    ("activity.call", "created"),
    ("activity.call", "updated"),
    ("activity.meeting", "created"),
    ("activity.meeting", "updated"),
];

#[cfg(feature = "http-client")]
pub use client::CloseApi;

#[cfg(feature = "http-client")]
mod client;
#[cfg(feature = "http-client")]
mod writer;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const OPPORTUNITY: &[u8] =
        include_bytes!("../../../../tests/fixtures/payloads/close-opportunity-updated.json");
    /// Close's docs' example signature key (hex), and the vector computed over the fixture's
    /// exact bytes (see tests/fixtures/README.md).
    const KEY: &str = "058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c";
    const HASH: &str = "82a4cda5e0710b6972563469f90c1d2b11f4d16c3730955e534ea790b967719c";
    const SENT: i64 = 1732183513;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn the_fixture_vector_verifies_and_forged_stale_or_raw_keys_do_not() {
        let key = Secret::new(KEY);
        let ts = SENT.to_string();
        assert!(verify(&key, OPPORTUNITY, Some(HASH), Some(&ts), at(SENT + 2)).is_ok());
        assert!(verify(
            &key,
            OPPORTUNITY,
            Some(&HASH.to_uppercase()),
            Some(&ts),
            at(SENT)
        )
        .is_ok());
        let mut flipped = OPPORTUNITY.to_vec();
        flipped[10] ^= 1;
        assert_eq!(
            verify(&key, &flipped, Some(HASH), Some(&ts), at(SENT)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&key, OPPORTUNITY, Some(HASH), Some(&ts), at(SENT + 301)),
            Err(SignatureError::Stale)
        );
        // The key used as its ASCII text instead of the bytes it encodes.
        let raw = crate::secret::hmac_sha256(KEY.as_bytes(), &[ts.as_bytes(), OPPORTUNITY]);
        assert_eq!(
            verify(
                &key,
                OPPORTUNITY,
                Some(&hex::encode(raw)),
                Some(&ts),
                at(SENT)
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&key, OPPORTUNITY, None, Some(&ts), at(SENT)),
            Err(SignatureError::Missing("close-sig-hash"))
        );
        assert!(matches!(
            verify(
                &Secret::new("not-hex"),
                OPPORTUNITY,
                Some(HASH),
                Some(&ts),
                at(SENT)
            ),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn a_won_opportunity_closes_won_with_its_value_in_currency_units_and_its_lead_link() {
        let p = parse(OPPORTUNITY).unwrap();
        assert_eq!(p.events.len(), 1);
        let e = &p.events[0];
        assert_eq!(
            e.deal,
            DealRef::new(CRM, "oppo_8H4sjNso7FyBFaeR3RXi5PMJbilfo0c6UPCxsJtEhCO")
        );
        assert_eq!(
            e.kind,
            EventKind::StageChanged {
                raw_stage: "won".into()
            }
        );
        assert_eq!(e.id, "close:ev_4Hn8Qz2Wm5Rt7Yv9Xb1Ck3:status");
        let snap = e.snapshot.as_ref().unwrap();
        assert_eq!(
            (snap.amount, snap.currency.as_deref()),
            (Some(24000.0), Some("EUR"))
        );
        assert_eq!(snap.facts["deal.amount"].value, "24000.00 EUR");
        assert_eq!(snap.facts["contact.first_name"].value, "Jane");
        assert_eq!(
            snap.links,
            vec!["close:lead:lead_zwqYhEFwzPyfCErS8uQ77is2wFLvr9BgVi6cTfbFM68".to_string()]
        );
    }

    fn activity(object_type: &str, data: Value) -> Parsed {
        parse(
            json!({
                "subscription_id": "whsub_1",
                "event": {
                    "id": "ev_act1", "date_created": "2024-11-22T10:00:00.000000", "action": "created",
                    "object_type": object_type, "object_id": "acti_1", "lead_id": "lead_7",
                    "data": data
                }
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn an_incoming_email_is_a_reply_on_the_leads_deals_unless_it_is_automatic() {
        let reply = activity(
            "activity.email",
            json!({"direction": "incoming", "status": "inbox", "subject": "Re: Proposal",
                   "envelope": {"from": [{"email": "jane@acme.example", "name": "Jane"}]},
                   "body_text": "Looks good, can we start in January?", "date_created": "2024-11-22T09:59:00+00:00"}),
        );
        assert!(reply.events.is_empty());
        let r = &reply.referenced[0];
        assert_eq!(r.link, "close:lead:lead_7");
        assert_eq!(r.event.occurred_at, "2024-11-22T09:59:00Z".parse().unwrap());
        assert_eq!(
            r.event.kind,
            EventKind::ProspectReplied {
                summary: "Reply from jane@acme.example: \"Re: Proposal\" — Looks good, can we start in January?".into()
            }
        );
        let ooo = activity(
            "activity.email",
            json!({"direction": "incoming", "subject": "Out of office: back Monday", "sender": "jane@acme.example"}),
        );
        assert!(matches!(
            ooo.referenced[0].event.kind,
            EventKind::AutoReplyReceived { .. }
        ));
        let draft = activity(
            "activity.email",
            json!({"direction": "outgoing", "status": "draft", "subject": "x"}),
        );
        assert!(draft.referenced.is_empty() && draft.ignored.len() == 1);
    }

    #[test]
    fn calls_and_meetings_become_logged_calls_bookings_and_cancellations() {
        let call = activity(
            "activity.call",
            json!({"status": "completed", "direction": "outbound", "note": "Asked for references"}),
        );
        assert_eq!(
            call.referenced[0].event.kind,
            EventKind::CallLogged {
                summary: "Outbound call — Asked for references".into(),
                note: Some("Asked for references".into()),
            }
        );
        let booked = activity(
            "activity.meeting",
            json!({"status": "upcoming", "title": "Demo", "starts_at": "2024-11-26T14:30:00+00:00"}),
        );
        assert_eq!(
            booked.referenced[0].event.kind,
            EventKind::MeetingBooked {
                summary: "Meeting \"Demo\" booked".into(),
                starts_at: Some("2024-11-26T14:30:00Z".parse().unwrap()),
                meeting_id: Some("acti_1".into()),
            }
        );
        let cancelled = activity(
            "activity.meeting",
            json!({"status": "canceled", "title": "Demo"}),
        );
        assert!(matches!(
            cancelled.referenced[0].event.kind,
            EventKind::MeetingCancelled { .. }
        ));
    }

    #[test]
    fn ids_that_are_not_close_ids_are_refused() {
        let mut v: Value = serde_json::from_slice(OPPORTUNITY).unwrap();
        v["event"]["object_id"] = json!("12");
        assert!(parse(v.to_string().as_bytes())
            .unwrap_err()
            .0
            .contains("not a Close id"));
        v["event"]["id"] = json!("");
        assert!(parse(v.to_string().as_bytes()).is_err());
    }
}
