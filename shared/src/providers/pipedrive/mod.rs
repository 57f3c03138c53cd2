//! Pipedrive: webhooks v2 (`meta.action` = create | change | delete, `meta.entity`) and v1
//! (`event` = `<action>.<object>`), authenticated with the HTTP Basic credentials set on the
//! webhook. Deals (stage moves, won / lost with the lost reason, deletion), activities (a done
//! call or meeting is a logged call; an open one is the next step booked; a deleted one is
//! cancelled). Ids and timestamps arrive as strings or numbers in both versions.

use std::sync::Arc;

use base64::Engine;
use jiff::Timestamp;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::fields::text;
use crate::domain::{DealEvent, DealRef, DealSnapshot, EventKind, Fact};
use crate::providers::{Incoming, ParseError, Parsed, Provider, ProviderSpec, SecretSpec};
use crate::secret::Secret;
use crate::signing::SignatureError;

pub const CRM: &str = "pipedrive";

pub const SPEC: ProviderSpec = ProviderSpec {
    name: CRM,
    kind: super::SourceKind::Crm,
    secrets: &[
        SecretSpec {
            env: "PIPEDRIVE_WEBHOOK_USER",
            dev: "dev-pipedrive-user",
        },
        SecretSpec {
            env: "PIPEDRIVE_WEBHOOK_PASSWORD",
            dev: "dev-pipedrive-password",
        },
    ],
    build: webhook,
    document_deal_key: Some("pipedrive_deal_id"),
    writes_back: true,
    numeric_ids: true,
    #[cfg(feature = "http-client")]
    api: Some(api),
    #[cfg(feature = "http-client")]
    connect: Some(CONNECT),
};

/// `draftgate connect pipedrive`: checks the token, subscribes the webhook with its Basic
/// credentials (unless subscribed), and lists the stage ids to map.
#[cfg(feature = "http-client")]
const CONNECT: super::ConnectStep = super::ConnectStep {
    help: "PIPEDRIVE_API_TOKEN, PIPEDRIVE_API_BASE_URL (your company domain), PIPEDRIVE_WEBHOOK_USER and PIPEDRIVE_WEBHOOK_PASSWORD (the webhook's Basic credentials)",
    needs: &[
        "PIPEDRIVE_API_TOKEN",
        "PIPEDRIVE_API_BASE_URL",
        "PIPEDRIVE_WEBHOOK_USER",
        "PIPEDRIVE_WEBHOOK_PASSWORD",
    ],
    run: connect,
};

#[cfg(feature = "http-client")]
fn connect(get: &dyn Fn(&str) -> Option<String>, url: String) -> super::ConnectFuture {
    let setting = |name: &str| Secret::new(get(name).unwrap_or_default());
    let base = get("PIPEDRIVE_API_BASE_URL").unwrap_or_default();
    let api = PipedriveApi::new(&base, setting("PIPEDRIVE_API_TOKEN"));
    let (user, password) = (
        setting("PIPEDRIVE_WEBHOOK_USER"),
        setting("PIPEDRIVE_WEBHOOK_PASSWORD"),
    );
    Box::pin(async move {
        api.connect(&url, &user, &password)
            .await
            .map_err(|e| crate::error::Chain(&e).to_string())
    })
}

/// The CRM's API from its settings.
#[cfg(feature = "http-client")]
fn api(get: &dyn Fn(&str) -> Option<String>) -> Option<super::CrmApi> {
    let token = get("PIPEDRIVE_API_TOKEN")?;
    let base = get("PIPEDRIVE_API_BASE_URL").unwrap_or_else(|| "https://api.pipedrive.com".into());
    Some(super::CrmApi::of(Arc::new(PipedriveApi::new(
        &base,
        Secret::new(token),
    ))))
}

fn webhook(secrets: Vec<Secret>) -> Arc<dyn Provider> {
    let mut s = secrets.into_iter();
    Arc::new(Webhook {
        user: s.next().expect("user"),
        password: s.next().expect("password"),
    })
}

/// `POST /webhooks/pipedrive`.
pub struct Webhook {
    user: Secret,
    password: Secret,
}

impl Provider for Webhook {
    fn name(&self) -> &'static str {
        CRM
    }

    fn verify(&self, incoming: &Incoming<'_>) -> Result<(), SignatureError> {
        verify_basic(&self.user, &self.password, incoming.header("authorization"))
    }

    fn parse(&self, incoming: &Incoming<'_>) -> Result<Parsed, ParseError> {
        parse(incoming.body())
    }
}

/// `Authorization: Basic base64(user:password)`, compared in constant time.
pub fn verify_basic(
    user: &Secret,
    password: &Secret,
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing("Authorization"))?;
    let encoded = header
        .trim()
        .strip_prefix("Basic ")
        .or_else(|| header.trim().strip_prefix("basic "))
        .ok_or(SignatureError::Malformed("Authorization (expected Basic)"))?;
    let given = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| SignatureError::Malformed("Authorization"))?;
    let expected = format!("{}:{}", user.expose(), password.expose());
    if given.len() == expected.len() && bool::from(given.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// An id as Pipedrive sends it: a positive integer, as a number or a string.
fn id(v: Option<&Value>, what: &str) -> Result<Option<String>, ParseError> {
    let text = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(other) => return Err(ParseError(format!("{what}: {other} is not an id"))),
    };
    match text.parse::<i64>() {
        Ok(n) if n > 0 => Ok(Some(n.to_string())),
        _ => Err(ParseError(format!(
            "{what}: `{text}` is not an id (a positive integer)"
        ))),
    }
}

fn req_id(v: Option<&Value>, what: &str) -> Result<String, ParseError> {
    id(v, what)?.ok_or_else(|| ParseError(format!("{what} is missing")))
}

/// A time as Pipedrive sends it: RFC 3339 (v2), `YYYY-MM-DD HH:MM:SS` in UTC (v1), or Unix
/// seconds (a number or a 10-digit string).
pub fn time(v: Option<&Value>, what: &str) -> Result<Option<Timestamp>, ParseError> {
    let bad = |t: &dyn std::fmt::Display| ParseError(format!("{what}: `{t}` is not a time"));
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let s = n.as_i64().ok_or_else(|| bad(n))?;
            Timestamp::from_second(s).map(Some).map_err(|_| bad(n))
        }
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            if let Ok(t) = s.parse::<Timestamp>() {
                return Ok(Some(t));
            }
            if let Ok(secs) = s.parse::<i64>() {
                return Timestamp::from_second(secs).map(Some).map_err(|_| bad(&s));
            }
            let civil: jiff::civil::DateTime =
                s.replacen(' ', "T", 1).parse().map_err(|_| bad(&s))?;
            civil
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| Some(z.timestamp()))
                .map_err(|_| bad(&s))
        }
        Some(other) => Err(bad(other)),
    }
}

fn number(o: &Map<String, Value>, key: &str) -> Option<f64> {
    match o.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn truthy(o: &Map<String, Value>, key: &str) -> Option<bool> {
    match o.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        Value::String(s) => Some(matches!(s.trim(), "1" | "true")),
        _ => None,
    }
}

/// A deal's details as the webhook carries them; each fact names its source.
pub fn deal_snapshot(id: &str, d: &Map<String, Value>) -> DealSnapshot {
    let source = |field: &str| format!("Pipedrive deal {id} {field}");
    let mut snap = DealSnapshot {
        name: text(d, "title"),
        raw_stage: text(d, "stage_id"),
        pipeline: text(d, "pipeline_id"),
        amount: number(d, "value"),
        currency: text(d, "currency"),
        ..Default::default()
    };
    // Person webhooks name the person only: they reach the deal through this link.
    if let Ok(Some(person)) = id_value(d.get("person_id")) {
        snap.links.push(person_link(&person));
    }
    if let Some(name) = &snap.name {
        snap.facts
            .insert("deal.name".into(), Fact::new(name, source("title")));
    }
    if let (Some(v), Some(c)) = (&snap.amount, &snap.currency) {
        snap.facts.insert(
            "deal.amount".into(),
            Fact::new(format!("{v} {c}"), source("value")),
        );
    }
    if let Some(date) = text(d, "expected_close_date") {
        snap.facts.insert(
            "deal.close_date".into(),
            Fact::new(date, source("expected_close_date")),
        );
    }
    if let Some(person) = text(d, "person_name") {
        let first = super::fields::first_name(&person);
        snap.facts.insert(
            "contact.first_name".into(),
            Fact::new(first, source("person_name")),
        );
    }
    if let Some(org) = text(d, "org_name") {
        snap.facts
            .insert("contact.company".into(), Fact::new(org, source("org_name")));
    }
    snap
}

/// One notification in either version, normalised.
struct Notification<'a> {
    version: u8,
    /// `create`, `change`, `delete` (v1's added / updated / deleted mapped onto them).
    action: String,
    entity: String,
    entity_id: Option<String>,
    event_id: String,
    at: Timestamp,
    current: Option<&'a Map<String, Value>>,
    previous: Option<&'a Map<String, Value>>,
}

fn notification(value: &Value) -> Result<Notification<'_>, ParseError> {
    let top = value
        .as_object()
        .ok_or_else(|| ParseError("body must be a Pipedrive webhook object".into()))?;
    let meta = top
        .get("meta")
        .and_then(Value::as_object)
        .ok_or_else(|| ParseError("`meta` is missing".into()))?;
    let obj = |key: &str| top.get(key).and_then(Value::as_object);
    let v1 =
        top.contains_key("event") || top.contains_key("current") || meta.contains_key("object");
    if v1 {
        let action = match text(meta, "action").as_deref() {
            Some("added") => "create",
            Some("updated") | Some("merged") => "change",
            Some("deleted") => "delete",
            Some(other) => other,
            None => return Err(ParseError("meta.action is missing".into())),
        }
        .to_string();
        let entity =
            text(meta, "object").ok_or_else(|| ParseError("meta.object is missing".into()))?;
        let entity_id = id(meta.get("id"), "meta.id")?;
        let at = time(meta.get("timestamp"), "meta.timestamp")?
            .ok_or_else(|| ParseError("meta.timestamp is missing".into()))?;
        let micro = text(meta, "timestamp_micro").unwrap_or_else(|| at.as_second().to_string());
        let webhook = text(meta, "webhook_id").unwrap_or_default();
        Ok(Notification {
            version: 1,
            event_id: format!(
                "pipedrive:v1:{webhook}:{entity}:{}:{action}:{micro}",
                entity_id.as_deref().unwrap_or("-")
            ),
            action,
            entity,
            entity_id,
            at,
            current: obj("current"),
            previous: obj("previous"),
        })
    } else {
        let action =
            text(meta, "action").ok_or_else(|| ParseError("meta.action is missing".into()))?;
        let entity =
            text(meta, "entity").ok_or_else(|| ParseError("meta.entity is missing".into()))?;
        let entity_id = id(meta.get("entity_id"), "meta.entity_id")?;
        let at = time(meta.get("timestamp"), "meta.timestamp")?
            .ok_or_else(|| ParseError("meta.timestamp is missing".into()))?;
        let event_id = text(meta, "id").ok_or_else(|| ParseError("meta.id is missing".into()))?;
        Ok(Notification {
            version: 2,
            event_id: format!("pipedrive:{event_id}"),
            action,
            entity,
            entity_id,
            at,
            current: obj("data"),
            previous: obj("previous"),
        })
    }
}

/// Whether `field` changed: v2's `previous` holds only changed fields; v1's holds the whole
/// previous object.
fn changed(n: &Notification<'_>, field: &str) -> bool {
    let (Some(cur), Some(prev)) = (n.current, n.previous) else {
        return false;
    };
    match prev.get(field) {
        None => false,
        Some(before) => n.version == 2 || cur.get(field) != Some(before),
    }
}

pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ParseError(format!("body is not valid JSON: {e}")))?;
    let n = notification(&value)?;
    let mut parsed = Parsed::default();
    match n.entity.as_str() {
        "deal" => deal_events(&n, &mut parsed)?,
        "activity" => activity_events(&n, &mut parsed)?,
        "person" => person_events(&n, &mut parsed)?,
        other => parsed.ignored.push(format!(
            "{other} {}: not a deal, an activity or a person",
            n.action
        )),
    }
    Ok(parsed)
}

fn event(
    n: &Notification<'_>,
    deal: &DealRef,
    suffix: &str,
    at: Timestamp,
    kind: EventKind,
) -> DealEvent {
    DealEvent {
        id: format!("{}:{suffix}", n.event_id),
        deal: deal.clone(),
        occurred_at: at,
        source: CRM.into(),
        kind,
        snapshot: None,
    }
}

fn deal_events(n: &Notification<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    let data = n.current;
    let deal_id = match (&n.entity_id, data) {
        (Some(id), _) => id.clone(),
        (None, Some(d)) => req_id(d.get("id"), "deal id")?,
        (None, None) => return Err(ParseError("the deal's id is missing".into())),
    };
    let deal = DealRef::new(CRM, deal_id.clone());
    if n.action == "delete"
        || data.is_some_and(|d| {
            truthy(d, "is_deleted") == Some(true) || truthy(d, "deleted") == Some(true)
        })
    {
        parsed
            .events
            .push(event(n, &deal, "deleted", n.at, EventKind::DealDeleted));
        return Ok(());
    }
    let Some(d) = data else {
        return Err(ParseError(format!(
            "deal {deal_id}: the deal's data is missing"
        )));
    };
    let snapshot = deal_snapshot(&deal_id, d);
    let mut events = Vec::new();
    let status = text(d, "status");
    if n.action == "create" {
        events.push(event(
            n,
            &deal,
            "created",
            time(d.get("add_time"), "add_time")?.unwrap_or(n.at),
            EventKind::DealCreated,
        ));
    }
    if n.action == "change" && changed(n, "stage_id") {
        if let Some(stage) = id(d.get("stage_id"), "stage_id")? {
            let at = time(d.get("stage_change_time"), "stage_change_time")?.unwrap_or(n.at);
            events.push(event(
                n,
                &deal,
                "stage",
                at,
                EventKind::StageChanged { raw_stage: stage },
            ));
        }
    }
    if changed(n, "status") || (n.action == "create" && status.as_deref() != Some("open")) {
        match status.as_deref() {
            Some("won") => {
                let at = time(d.get("won_time"), "won_time")?.unwrap_or(n.at);
                events.push(event(
                    n,
                    &deal,
                    "won",
                    at,
                    EventKind::StageChanged {
                        raw_stage: "won".into(),
                    },
                ));
            }
            Some("lost") => {
                let at = time(d.get("lost_time"), "lost_time")?.unwrap_or(n.at);
                events.push(event(
                    n,
                    &deal,
                    "lost",
                    at,
                    EventKind::StageChanged {
                        raw_stage: "lost".into(),
                    },
                ));
                if let Some(reason) = text(d, "lost_reason") {
                    events.push(event(
                        n,
                        &deal,
                        "lost-reason",
                        at,
                        EventKind::ProspectDeclined {
                            summary: format!("Deal lost: {reason}"),
                        },
                    ));
                }
            }
            Some("deleted") => {
                events.push(event(n, &deal, "deleted", n.at, EventKind::DealDeleted));
            }
            // Reopened: back to the stage it is in.
            Some("open") => {
                if let Some(stage) = id(d.get("stage_id"), "stage_id")? {
                    events.push(event(
                        n,
                        &deal,
                        "reopened",
                        n.at,
                        EventKind::StageChanged { raw_stage: stage },
                    ));
                }
            }
            _ => {}
        }
    }
    if events.is_empty() {
        // Title, value, contact or close date changed: the details are recorded.
        events.push(event(n, &deal, "updated", n.at, EventKind::DealUpdated));
    }
    if let Some(first) = events.first_mut() {
        first.snapshot = Some(snapshot);
    }
    parsed.events.extend(events);
    Ok(())
}

/// The link from a Pipedrive person to the deals naming them as contact.
pub fn person_link(person_id: &str) -> String {
    format!("pipedrive:person:{person_id}")
}

/// A person id as deals carry it: a number, a string, or (v1) an object with `value`.
fn id_value(v: Option<&Value>) -> Result<Option<String>, ParseError> {
    match v {
        Some(Value::Object(o)) => id(o.get("value"), "person_id.value"),
        other => id(other, "person_id"),
    }
}

/// A person's contact facts, each with its source: the primary email (v2 `emails`, v1 `email`,
/// both lists of `{value, primary}`), first and last name.
pub fn person_snapshot(person_id: &str, p: &Map<String, Value>) -> DealSnapshot {
    let source = |field: &str| format!("Pipedrive person {person_id} {field}");
    let mut snap = DealSnapshot::default();
    let emails: Vec<&Map<String, Value>> = ["emails", "email"]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_object)
        .collect();
    let email = emails
        .iter()
        .find(|e| truthy(e, "primary") == Some(true))
        .or(emails.first())
        .and_then(|e| text(e, "value"))
        .filter(|e| e.contains('@'));
    if let Some(email) = email {
        snap.facts
            .insert("contact.email".into(), Fact::new(&email, source("email")));
        snap.links
            .push(format!("email:{}", email.to_ascii_lowercase()));
        snap.contact_email = Some(email);
    }
    let first =
        text(p, "first_name").or_else(|| text(p, "name").map(|n| super::fields::first_name(&n)));
    if let Some(first) = first {
        snap.facts.insert(
            "contact.first_name".into(),
            Fact::new(first, source("first_name")),
        );
    }
    if let Some(last) = text(p, "last_name") {
        snap.facts.insert(
            "contact.last_name".into(),
            Fact::new(last, source("last_name")),
        );
    }
    snap
}

/// A person's details changed: their name and email on every deal that has them as contact.
fn person_events(n: &Notification<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    let Some(p) = n.current else {
        parsed.ignored.push(format!(
            "person {}: no data (deals keep their contact)",
            n.action
        ));
        return Ok(());
    };
    let person_id = match &n.entity_id {
        Some(id) => id.clone(),
        None => req_id(p.get("id"), "person id")?,
    };
    let snap = person_snapshot(&person_id, p);
    let event = DealEvent {
        id: format!("{}:person", n.event_id),
        deal: DealRef::new(CRM, ""),
        occurred_at: n.at,
        source: CRM.into(),
        kind: EventKind::DealUpdated,
        snapshot: Some(snap),
    };
    parsed.referenced.push(crate::providers::Referenced {
        link: person_link(&person_id),
        event,
    });
    Ok(())
}

fn activity_events(n: &Notification<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    let a = n.current.or(n.previous);
    let Some(a) = a else {
        parsed
            .ignored
            .push(format!("activity {}: no data", n.action));
        return Ok(());
    };
    let activity_id = match &n.entity_id {
        Some(id) => id.clone(),
        None => req_id(a.get("id"), "activity id")?,
    };
    let Some(deal_id) = id(a.get("deal_id"), "activity deal_id")? else {
        parsed
            .ignored
            .push(format!("activity {activity_id}: not linked to a deal"));
        return Ok(());
    };
    let deal = DealRef::new(CRM, deal_id);
    let kind_of = text(a, "type").unwrap_or_else(|| "task".into());
    let subject = text(a, "subject").unwrap_or_else(|| kind_of.clone());
    let meeting_id = format!("pipedrive-activity-{activity_id}");
    if n.action == "delete" {
        parsed.events.push(event(
            n,
            &deal,
            "cancelled",
            n.at,
            EventKind::MeetingCancelled {
                summary: format!("{kind_of} \"{subject}\" deleted in Pipedrive"),
                meeting_id: Some(meeting_id),
            },
        ));
        return Ok(());
    }
    if !matches!(kind_of.as_str(), "call" | "meeting") {
        parsed.ignored.push(format!(
            "activity {activity_id}: type {kind_of} is not a call or a meeting"
        ));
        return Ok(());
    }
    let done = truthy(a, "done") == Some(true);
    let was_done = n.previous.and_then(|p| truthy(p, "done"));
    if done {
        // Only the moment it was marked done, not every later edit.
        if n.action == "create"
            || (n.version == 2 && was_done == Some(false))
            || (n.version == 1 && was_done != Some(true))
        {
            let at = time(a.get("marked_as_done_time"), "marked_as_done_time")?.unwrap_or(n.at);
            let note = text(a, "note")
                .map(|t| format!(" — {}", crate::domain::checks::excerpt(&t, 140)))
                .unwrap_or_default();
            parsed.events.push(event(
                n,
                &deal,
                "done",
                at,
                EventKind::CallLogged {
                    summary: format!(
                        "{} \"{subject}\" held{note}",
                        if kind_of == "call" { "Call" } else { "Meeting" }
                    ),
                    note: text(a, "note").map(|t| super::fields::plain_text(&t)),
                },
            ));
        } else {
            parsed
                .ignored
                .push(format!("activity {activity_id}: already done"));
        }
        return Ok(());
    }
    // An open call or meeting is the next step, booked for its due date and time.
    let starts_at = due(a)?;
    parsed.events.push(event(
        n,
        &deal,
        "booked",
        n.at,
        EventKind::MeetingBooked {
            summary: format!("Next step scheduled: {kind_of} \"{subject}\""),
            starts_at,
            meeting_id: Some(meeting_id),
        },
    ));
    Ok(())
}

/// An activity's due date and time (UTC in Pipedrive), if it has a date.
fn due(a: &Map<String, Value>) -> Result<Option<Timestamp>, ParseError> {
    let Some(date) = text(a, "due_date") else {
        return Ok(None);
    };
    let time_of_day = text(a, "due_time").unwrap_or_else(|| "09:00".into());
    let civil: jiff::civil::DateTime = format!("{date}T{time_of_day}").parse().map_err(|_| {
        ParseError(format!(
            "activity due `{date} {time_of_day}` is not a date and time"
        ))
    })?;
    Ok(Some(
        civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| ParseError(format!("activity due `{date}` is out of range")))?
            .timestamp(),
    ))
}

#[cfg(feature = "http-client")]
/// An activity as the API lists it, as the sync records it: a done call or meeting is a logged
/// call, an open one with a due date is the next step booked.
fn activity_kind(a: &Map<String, Value>) -> Option<(Timestamp, EventKind)> {
    let kind = text(a, "type")?;
    if !matches!(kind.as_str(), "call" | "meeting") || truthy(a, "is_deleted") == Some(true) {
        return None;
    }
    let subject = text(a, "subject").unwrap_or_else(|| kind.clone());
    if truthy(a, "done") == Some(true) {
        let at = time(a.get("marked_as_done_time"), "marked_as_done_time").ok()??;
        let what = if kind == "call" { "Call" } else { "Meeting" };
        return Some((
            at,
            EventKind::CallLogged {
                summary: format!("{what} \"{subject}\" held"),
                note: text(a, "note").map(|t| super::fields::plain_text(&t)),
            },
        ));
    }
    let at = time(a.get("add_time"), "add_time").ok()??;
    Some((
        at,
        EventKind::MeetingBooked {
            summary: format!("Next step scheduled: {kind} \"{subject}\""),
            starts_at: due(a).ok()?,
            meeting_id: Some(format!("pipedrive-activity-{}", text(a, "id")?)),
        },
    ))
}

#[cfg(feature = "http-client")]
pub use client::PipedriveApi;

#[cfg(feature = "http-client")]
mod client;
#[cfg(feature = "http-client")]
mod writer;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const V2: &[u8] =
        include_bytes!("../../../../tests/fixtures/payloads/pipedrive-v2-change-deal.json");
    const V1: &[u8] =
        include_bytes!("../../../../tests/fixtures/payloads/pipedrive-v1-updated-deal.json");

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn kinds(p: &Parsed) -> Vec<(String, EventKind, Timestamp)> {
        p.events
            .iter()
            .map(|e| (e.deal.to_string(), e.kind.clone(), e.occurred_at))
            .collect()
    }

    fn stage(s: &str) -> EventKind {
        EventKind::StageChanged {
            raw_stage: s.into(),
        }
    }

    #[test]
    fn a_v2_won_deal_moves_stage_then_closes_won_with_its_details() {
        let p = parse(V2).unwrap();
        assert_eq!(
            kinds(&p),
            vec![
                (
                    "pipedrive:1432".into(),
                    stage("5"),
                    t("2024-11-21T10:05:12Z")
                ),
                (
                    "pipedrive:1432".into(),
                    stage("won"),
                    t("2024-11-21T10:05:12Z")
                ),
            ]
        );
        assert_eq!(
            p.events[0].id,
            "pipedrive:5f3c9a1e-2b4d-4e6f-8a0b-1c2d3e4f5a6b:stage"
        );
        let snap = p.events[0].snapshot.as_ref().unwrap();
        assert_eq!(snap.name.as_deref(), Some("Acme Corp - 50 seats"));
        assert_eq!(
            (snap.amount, snap.currency.as_deref()),
            (Some(24000.0), Some("EUR"))
        );
        assert_eq!(snap.facts["deal.close_date"].value, "2024-11-30");
        assert!(p.events[1].snapshot.is_none());
    }

    #[test]
    fn the_same_change_in_v1_gives_the_same_canonical_events() {
        let p = parse(V1).unwrap();
        assert_eq!(
            kinds(&p),
            vec![
                (
                    "pipedrive:1432".into(),
                    stage("5"),
                    t("2024-11-21T10:05:12Z")
                ),
                (
                    "pipedrive:1432".into(),
                    stage("won"),
                    t("2024-11-21T10:05:12Z")
                ),
            ]
        );
        assert_eq!(
            p.events[0].id,
            "pipedrive:v1:884521:deal:1432:change:1732183512384700:stage"
        );
        let snap = p.events[0].snapshot.as_ref().unwrap();
        assert_eq!(snap.facts["contact.first_name"].value, "Jane");
        assert_eq!(snap.facts["contact.company"].value, "Acme Corp");
    }

    #[test]
    fn ids_and_times_may_be_strings_or_numbers_but_must_be_ids() {
        let mut v: Value = serde_json::from_slice(V2).unwrap();
        v["data"]["stage_id"] = json!("5");
        v["meta"]["entity_id"] = json!(1432);
        v["meta"]["timestamp"] = json!(1732183512);
        let p = parse(v.to_string().as_bytes()).unwrap();
        assert_eq!(p.events[0].kind, stage("5"));
        assert_eq!(p.events[0].deal, DealRef::new(CRM, "1432"));
        for bad in [json!(-3), json!(0), json!("abc")] {
            v["meta"]["entity_id"] = bad.clone();
            let err = parse(v.to_string().as_bytes()).unwrap_err().0;
            assert!(err.contains("is not an id"), "{bad}: {err}");
        }
    }

    fn lost_v2(reason: Value) -> Vec<u8> {
        json!({
            "meta": {"action": "change", "entity": "deal", "entity_id": "77", "id": "ev-lost",
                     "timestamp": "2024-11-22T09:00:00Z", "version": "2.0"},
            "data": {"id": 77, "title": "Globex", "stage_id": 4, "status": "lost",
                     "lost_time": "2024-11-22T08:59:00Z", "lost_reason": reason},
            "previous": {"status": "open"}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_lost_deal_closes_lost_and_keeps_its_reason() {
        let p = parse(&lost_v2(json!("Went with a cheaper agency"))).unwrap();
        assert_eq!(p.events[0].kind, stage("lost"));
        assert_eq!(
            p.events[1].kind,
            EventKind::ProspectDeclined {
                summary: "Deal lost: Went with a cheaper agency".into()
            }
        );
        assert_eq!(parse(&lost_v2(Value::Null)).unwrap().events.len(), 1);
    }

    fn activity(action: &str, data: Value, previous: Value) -> Parsed {
        parse(
            json!({
                "meta": {"action": action, "entity": "activity", "entity_id": "9001", "id": format!("ev-{action}"),
                         "timestamp": "2024-11-22T10:00:00Z", "version": "2.0"},
                "data": data, "previous": previous
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_call_marked_done_is_a_logged_call_and_an_open_one_is_the_next_step() {
        let done = activity(
            "change",
            json!({"id": 9001, "type": "call", "deal_id": 1432, "done": true, "subject": "Intro call",
                   "marked_as_done_time": "2024-11-22T09:58:00Z", "note": "Wants a quote by Friday"}),
            json!({"done": false}),
        );
        assert_eq!(done.events[0].deal, DealRef::new(CRM, "1432"));
        assert_eq!(done.events[0].occurred_at, t("2024-11-22T09:58:00Z"));
        assert_eq!(
            done.events[0].kind,
            EventKind::CallLogged {
                summary: "Call \"Intro call\" held — Wants a quote by Friday".into(),
                note: Some("Wants a quote by Friday".into()),
            }
        );
        let edited_later = activity(
            "change",
            json!({"id": 9001, "type": "call", "deal_id": 1432, "done": 1, "subject": "Intro call"}),
            json!({"subject": "Intro"}),
        );
        assert!(
            edited_later.events.is_empty(),
            "an edit of a done call logs nothing"
        );

        let booked = activity(
            "create",
            json!({"id": 9002, "type": "meeting", "deal_id": "1432", "done": false, "subject": "Demo",
                   "due_date": "2024-11-26", "due_time": "14:30"}),
            Value::Null,
        );
        assert_eq!(
            booked.events[0].kind,
            EventKind::MeetingBooked {
                summary: "Next step scheduled: meeting \"Demo\"".into(),
                starts_at: Some(t("2024-11-26T14:30:00Z")),
                meeting_id: Some("pipedrive-activity-9001".into()),
            }
        );
        let deleted = activity(
            "delete",
            Value::Null,
            json!({"id": 9001, "type": "meeting", "deal_id": 1432, "subject": "Demo"}),
        );
        assert!(matches!(
            deleted.events[0].kind,
            EventKind::MeetingCancelled { .. }
        ));
    }

    #[test]
    fn a_person_change_reaches_the_deals_that_have_them_as_contact() {
        let p = parse(
            br#"{"meta":{"action":"change","entity":"person","entity_id":"881","id":"ev-p","timestamp":"2024-11-22T10:00:00Z","version":"2.0"},
                 "data":{"id":881,"name":"Jane Doe","first_name":"Jane","last_name":"Doe",
                         "emails":[{"value":"old@acme.example","primary":false},{"value":"jane@acme.example","primary":true}]},
                 "previous":{"emails":[]}}"#,
        )
        .unwrap();
        assert!(p.events.is_empty());
        let r = &p.referenced[0];
        assert_eq!(r.link, "pipedrive:person:881");
        let snap = r.event.snapshot.as_ref().unwrap();
        assert_eq!(snap.contact_email.as_deref(), Some("jane@acme.example"));
        assert_eq!(snap.facts["contact.first_name"].value, "Jane");
        // Deals carry the link, so the person's events find them.
        let deal: Value = serde_json::from_slice(V2).unwrap();
        let links = deal_snapshot("1432", deal["data"].as_object().unwrap()).links;
        assert_eq!(links, vec!["pipedrive:person:881".to_string()]);
    }

    #[test]
    fn tasks_and_unlinked_activities_are_ignored_with_the_reason() {
        let task = activity(
            "create",
            json!({"id": 1, "type": "task", "deal_id": 1432, "done": false}),
            Value::Null,
        );
        assert!(task.events.is_empty() && task.ignored[0].contains("not a call or a meeting"));
        let loose = activity(
            "create",
            json!({"id": 1, "type": "call", "done": true}),
            Value::Null,
        );
        assert!(loose.ignored[0].contains("not linked to a deal"));
        let product = parse(
            br#"{"meta":{"action":"change","entity":"product","entity_id":"5","id":"e","timestamp":"2024-11-22T10:00:00Z"},"data":{"id":5}}"#,
        )
        .unwrap();
        assert!(product.events.is_empty() && product.ignored.len() == 1);
    }

    #[test]
    fn basic_auth_must_carry_the_configured_credentials() {
        let (user, pass) = (Secret::new("draftgate"), Secret::new("s3cr3t-pass"));
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(verify_basic(&user, &pass, Some(&header("draftgate", "s3cr3t-pass"))).is_ok());
        assert_eq!(
            verify_basic(&user, &pass, Some(&header("draftgate", "wrong"))),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_basic(&user, &pass, None),
            Err(SignatureError::Missing("Authorization"))
        );
        assert!(matches!(
            verify_basic(&user, &pass, Some("Basic !!!")),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify_basic(&user, &pass, Some("Bearer abc")),
            Err(SignatureError::Malformed(_))
        ));
    }
}
