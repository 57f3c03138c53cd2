//! Salesforce: outbound messages (SOAP) for Opportunity changes, and Change Data Capture events
//! delivered to the stack's EventBridge bus (AppFlow or Event Relay).
//!
//! Outbound messages carry no signature: the endpoint is `POST /webhooks/salesforce/<token>`
//! with a secret path token, and the message's `OrganizationId` must be the org's. A message is
//! answered with the SOAP `Ack` only once every notification is recorded; anything else (a
//! refusal, a transient failure) is a SOAP fault, so Salesforce retries it.

use std::sync::Arc;

use jiff::Timestamp;
use subtle::ConstantTimeEq;

use crate::domain::{DealEvent, DealRef, DealSnapshot, EventKind, Fact};
use crate::error::Chain;
use crate::http::{self, ApiError, Response};
use crate::providers::{Incoming, ParseError, Parsed, Provider, ProviderSpec, SecretSpec, Summary};
use crate::secret::Secret;
use crate::signing::SignatureError;

pub const CRM: &str = "salesforce";
const OUTBOUND_NS: &str = "http://soap.sforce.com/2005/09/outbound";
/// Salesforce sends at most 100 notifications per message.
const MAX_NOTIFICATIONS: usize = 100;

pub const SPEC: ProviderSpec = ProviderSpec {
    name: CRM,
    kind: super::SourceKind::Crm,
    secrets: &[
        SecretSpec {
            env: "SALESFORCE_PATH_TOKEN",
            dev: "dev-salesforce-path-token",
        },
        SecretSpec {
            env: "SALESFORCE_ORG_ID",
            dev: "00D000000000000AAA",
        },
    ],
    build: webhook,
    document_deal_key: None,
    writes_back: true,
    numeric_ids: false,
    #[cfg(feature = "http-client")]
    api: Some(api),
    #[cfg(feature = "http-client")]
    connect: None,
};

/// The CRM's API from its settings.
#[cfg(feature = "http-client")]
fn api(get: &dyn Fn(&str) -> Option<String>) -> Option<super::CrmApi> {
    let (instance, id, secret) = (
        get("SALESFORCE_INSTANCE_URL")?,
        get("SALESFORCE_CLIENT_ID")?,
        get("SALESFORCE_CLIENT_SECRET")?,
    );
    Some(super::CrmApi::of(Arc::new(SalesforceApi::new(
        &instance,
        Secret::new(id),
        Secret::new(secret),
    ))))
}

fn webhook(secrets: Vec<Secret>) -> Arc<dyn Provider> {
    let mut s = secrets.into_iter();
    Arc::new(Webhook {
        path_token: s.next().expect("path token"),
        org_id: s.next().expect("org id"),
    })
}

/// `POST /webhooks/salesforce/<token>`.
pub struct Webhook {
    path_token: Secret,
    org_id: Secret,
}

/// Salesforce ids are 15 characters, case-sensitive, or 18 with a checksum suffix.
fn same_org(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    a.len() >= 15 && b.len() >= 15 && a[..15] == b[..15]
}

impl Provider for Webhook {
    fn name(&self) -> &'static str {
        CRM
    }

    fn media_type(&self) -> &'static str {
        "text/xml"
    }

    fn verify(&self, incoming: &Incoming<'_>) -> Result<(), SignatureError> {
        let path = incoming.request.uri().path();
        let token = path
            .trim_end_matches('/')
            .strip_prefix("/webhooks/salesforce/")
            .map(str::to_string)
            .or_else(|| incoming.query("token"))
            .ok_or(SignatureError::Missing(
                "path token (/webhooks/salesforce/<token>)",
            ))?;
        let expected = self.path_token.expose().as_bytes();
        if !(token.len() == expected.len() && bool::from(token.as_bytes().ct_eq(expected))) {
            return Err(SignatureError::Mismatch);
        }
        // The path token proved the sender; a body that is not an outbound message is then
        // malformed input (400 from `parse`), not a forgery.
        match Message::parse(incoming.body()) {
            Ok(message) if !same_org(&message.organization_id, self.org_id.expose()) => {
                Err(SignatureError::Mismatch)
            }
            _ => Ok(()),
        }
    }

    fn parse(&self, incoming: &Incoming<'_>) -> Result<Parsed, ParseError> {
        Message::parse(incoming.body())?.events()
    }

    fn accepted(&self, _summary: &Summary) -> Response {
        soap(http::StatusCode::OK, ACK)
    }

    fn refused(&self, error: ApiError) -> Response {
        let status = error.status();
        let reason = match &error {
            ApiError::Transient(_) => "temporarily unavailable, retry later".to_string(),
            other => other.to_string(),
        };
        if let ApiError::Transient(_) = &error {
            tracing::warn!(error = %Chain(&error), "transient failure; Salesforce will retry");
        }
        soap(status, &fault(&reason))
    }
}

/// The answer Salesforce needs to stop retrying.
pub const ACK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">
   <Ack>true</Ack>
  </notificationsResponse>
 </soapenv:Body>
</soapenv:Envelope>
"#;

fn fault(reason: &str) -> String {
    let reason = html_escape(reason);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <soapenv:Fault>
   <faultcode>soapenv:Server</faultcode>
   <faultstring>{reason}</faultstring>
  </soapenv:Fault>
 </soapenv:Body>
</soapenv:Envelope>
"#
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn soap(status: http::StatusCode, body: &str) -> Response {
    ::http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(bytes::Bytes::from(body.to_string()))
        .expect("static response parts")
}

/// An Opportunity as an outbound message or a change event carries it (field name -> value).
type Fields = std::collections::BTreeMap<String, String>;

/// An outbound message, read.
pub struct Message {
    pub organization_id: String,
    /// (notification id, the object's type, its fields)
    pub notifications: Vec<(String, String, Fields)>,
}

impl Message {
    pub fn parse(body: &[u8]) -> Result<Message, ParseError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| ParseError("the outbound message is not UTF-8".into()))?;
        let doc = roxmltree::Document::parse(text)
            .map_err(|e| ParseError(format!("the outbound message is not XML: {e}")))?;
        let notifications = doc
            .descendants()
            .find(|n| n.has_tag_name((OUTBOUND_NS, "notifications")))
            .ok_or_else(|| {
                ParseError("no <notifications> element (Salesforce outbound message)".into())
            })?;
        let child_text = |parent: roxmltree::Node<'_, '_>, name: &str| {
            parent
                .children()
                .find(|c| c.is_element() && c.tag_name().name() == name)
                .and_then(|c| c.text())
                .map(|t| t.trim().to_string())
        };
        let organization_id = child_text(notifications, "OrganizationId")
            .ok_or_else(|| ParseError("OrganizationId is missing".into()))?;
        let mut list = Vec::new();
        for n in notifications
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "Notification")
        {
            let id =
                child_text(n, "Id").ok_or_else(|| ParseError("a Notification has no Id".into()))?;
            let object = n
                .children()
                .find(|c| c.is_element() && c.tag_name().name() == "sObject")
                .ok_or_else(|| ParseError(format!("notification {id}: no sObject")))?;
            let kind = object
                .attributes()
                .find(|a| a.name() == "type")
                .map(|a| a.value().rsplit(':').next().unwrap_or_default().to_string())
                .unwrap_or_default();
            let fields: Fields = object
                .children()
                .filter(roxmltree::Node::is_element)
                .filter_map(|c| {
                    Some((
                        c.tag_name().name().to_string(),
                        c.text()?.trim().to_string(),
                    ))
                })
                .collect();
            list.push((id, kind, fields));
        }
        if list.len() > MAX_NOTIFICATIONS {
            return Err(ParseError(format!(
                "{} notifications exceed Salesforce's maximum of {MAX_NOTIFICATIONS}",
                list.len()
            )));
        }
        Ok(Message {
            organization_id,
            notifications: list,
        })
    }

    fn events(&self) -> Result<Parsed, ParseError> {
        let mut parsed = Parsed::default();
        for (id, kind, fields) in &self.notifications {
            if kind != "Opportunity" {
                parsed
                    .ignored
                    .push(format!("notification {id}: a {kind}, not an Opportunity"));
                continue;
            }
            let event_id = format!("salesforce:{}:{id}", &self.organization_id);
            parsed
                .events
                .push(opportunity_event(&event_id, fields, None)?);
        }
        Ok(parsed)
    }
}

fn flag(fields: &Fields, name: &str) -> Option<bool> {
    fields.get(name).map(|v| v == "true")
}

/// An Opportunity's stage: `won` / `lost` when closed, else its `StageName` (mapped in
/// `[stages.salesforce]`).
fn raw_stage(fields: &Fields) -> Option<String> {
    match (flag(fields, "IsClosed"), flag(fields, "IsWon")) {
        (Some(true), Some(true)) => Some("won".into()),
        (Some(true), _) => Some("lost".into()),
        _ => fields.get("StageName").cloned(),
    }
}

/// The Opportunity's snapshot and its stage as one event. `at` defaults to `LastModifiedDate`.
fn opportunity_event(
    event_id: &str,
    fields: &Fields,
    at: Option<Timestamp>,
) -> Result<DealEvent, ParseError> {
    let id = fields
        .get("Id")
        .cloned()
        .ok_or_else(|| ParseError(format!("{event_id}: the Opportunity has no Id")))?;
    if !(id.len() == 15 || id.len() == 18) || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ParseError(format!(
            "{event_id}: `{id}` is not a Salesforce id"
        )));
    }
    let modified = match fields.get("LastModifiedDate") {
        Some(t) => Some(t.parse::<Timestamp>().map_err(|_| {
            ParseError(format!("{event_id}: LastModifiedDate `{t}` is not a time"))
        })?),
        None => None,
    };
    let occurred_at = at
        .or(modified)
        .ok_or_else(|| ParseError(format!("{event_id}: LastModifiedDate is missing")))?;
    let source = |field: &str| format!("Salesforce Opportunity {id} {field}");
    let mut snap = DealSnapshot {
        name: fields.get("Name").cloned(),
        raw_stage: raw_stage(fields),
        amount: fields.get("Amount").and_then(|a| a.parse().ok()),
        currency: fields.get("CurrencyIsoCode").cloned(),
        deal_type: fields.get("Type").cloned(),
        ..Default::default()
    };
    if let Some(name) = &snap.name {
        snap.facts
            .insert("deal.name".into(), Fact::new(name, source("Name")));
    }
    if let Some(amount) = fields.get("Amount") {
        let text = match &snap.currency {
            Some(c) => format!("{amount} {c}"),
            None => amount.clone(),
        };
        snap.facts
            .insert("deal.amount".into(), Fact::new(text, source("Amount")));
    }
    if let Some(date) = fields.get("CloseDate") {
        snap.facts.insert(
            "deal.close_date".into(),
            Fact::new(date, source("CloseDate")),
        );
    }
    if let Some(step) = fields.get("NextStep") {
        snap.facts
            .insert("deal.next_step".into(), Fact::new(step, source("NextStep")));
    }
    let kind = match raw_stage(fields) {
        Some(stage) => EventKind::StageChanged { raw_stage: stage },
        None => EventKind::DealUpdated,
    };
    Ok(DealEvent {
        id: event_id.to_string(),
        deal: DealRef::new(CRM, id),
        occurred_at,
        source: CRM.into(),
        kind,
        snapshot: Some(snap),
    })
}

/// A Change Data Capture event for Opportunity, as AppFlow or Event Relay puts it on an
/// EventBridge bus: `detail-type` `OpportunityChangeEvent`; the change event under `detail`
/// (AppFlow) or `detail.payload` (Event Relay).
pub fn parse_change_event(event: &serde_json::Value) -> Result<Parsed, ParseError> {
    let detail_type = event
        .get("detail-type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let detail = event
        .get("detail")
        .ok_or_else(|| ParseError("the EventBridge event has no detail".into()))?;
    let change = detail.get("payload").unwrap_or(detail);
    let header = change.get("ChangeEventHeader").ok_or_else(|| {
        ParseError("no ChangeEventHeader: not a Change Data Capture event".into())
    })?;
    let entity = header
        .get("entityName")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(detail_type.trim_end_matches("ChangeEvent"));
    let mut parsed = Parsed::default();
    if entity != "Opportunity" {
        parsed
            .ignored
            .push(format!("{entity} change: not an Opportunity"));
        return Ok(parsed);
    }
    let change_type = header
        .get("changeType")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let commit_ms = header
        .get("commitTimestamp")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| ParseError("ChangeEventHeader.commitTimestamp is missing".into()))?;
    let at = Timestamp::from_millisecond(commit_ms)
        .map_err(|_| ParseError(format!("commitTimestamp {commit_ms} is not a time")))?;
    let transaction = header
        .get("transactionKey")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let sequence = header
        .get("sequenceNumber")
        .map(ToString::to_string)
        .unwrap_or_default();
    let ids: Vec<String> = header
        .get("recordIds")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(ParseError("ChangeEventHeader.recordIds is empty".into()));
    }
    let mut fields = Fields::new();
    if let Some(obj) = change.as_object() {
        for (k, v) in obj {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => continue,
            };
            fields.insert(k.clone(), text);
        }
    }
    for id in ids {
        let event_id = format!("salesforce:cdc:{transaction}:{sequence}:{id}");
        match change_type {
            "DELETE" => parsed.events.push(DealEvent {
                id: event_id,
                deal: DealRef::new(CRM, id),
                occurred_at: at,
                source: CRM.into(),
                kind: EventKind::DealDeleted,
                snapshot: None,
            }),
            "CREATE" | "UPDATE" | "UNDELETE" => {
                let mut f = fields.clone();
                f.insert("Id".into(), id.clone());
                parsed
                    .events
                    .push(opportunity_event(&event_id, &f, Some(at))?);
            }
            other => parsed.ignored.push(format!(
                "Opportunity {id}: change type {other} (the sync heals gaps)"
            )),
        }
    }
    Ok(parsed)
}

#[cfg(feature = "http-client")]
pub use client::SalesforceApi;
#[cfg(feature = "http-client")]
pub(crate) use client::API;

#[cfg(feature = "http-client")]
mod client;
#[cfg(feature = "http-client")]
mod writer;

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::config::Config;

    const OUTBOUND: &[u8] = include_bytes!(
        "../../../../tests/fixtures/payloads/salesforce-outbound-message-opportunity.xml"
    );
    const ACK_FIXTURE: &str = include_str!(
        "../../../../tests/fixtures/payloads/salesforce-outbound-message-ack-response.xml"
    );
    const APPFLOW: &str = include_str!(
        "../../../../tests/fixtures/payloads/salesforce-cdc-opportunity-eventbridge-appflow.json"
    );
    const RELAY: &str = include_str!(
        "../../../../tests/fixtures/payloads/salesforce-cdc-opportunity-eventbridge-eventrelay.UNVERIFIED.json"
    );

    fn provider() -> Arc<dyn Provider> {
        webhook(vec![
            Secret::new("9f2c7e1a4b"),
            // The 15-character form of the fixture's 18-character org id.
            Secret::new("00D5g000004ABCD"),
        ])
    }

    fn check(path: &str, body: &[u8]) -> Result<(), SignatureError> {
        let config = Config::bundled().unwrap();
        let req = ::http::Request::post(path)
            .header("content-type", "text/xml; charset=utf-8")
            .body(Bytes::copy_from_slice(body))
            .unwrap();
        provider().verify(&Incoming {
            request: &req,
            url: format!("https://hooks.example{path}"),
            now: Timestamp::UNIX_EPOCH,
            config: &config,
        })
    }

    #[test]
    fn the_path_token_and_the_organization_id_must_both_match() {
        assert!(check("/webhooks/salesforce/9f2c7e1a4b", OUTBOUND).is_ok());
        assert_eq!(
            check("/webhooks/salesforce/wrong", OUTBOUND),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            check("/webhooks/salesforce", OUTBOUND),
            Err(SignatureError::Missing(_))
        ));
        let other_org = String::from_utf8(OUTBOUND.to_vec())
            .unwrap()
            .replace("00D5g000004ABCDEA4", "00D5g000009ZZZZEA4");
        assert_eq!(
            check("/webhooks/salesforce/9f2c7e1a4b", other_org.as_bytes()),
            Err(SignatureError::Mismatch)
        );
        // With the right token, a body that is not an outbound message is malformed input
        // for `parse` (400), not a forgery (401).
        assert_eq!(check("/webhooks/salesforce/9f2c7e1a4b", b"not xml"), Ok(()));
        assert!(Message::parse(b"not xml").is_err());
        assert_eq!(
            check("/webhooks/salesforce/wrong", b"not xml"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_outbound_message_becomes_the_opportunitys_stage_with_its_details() {
        let p = Message::parse(OUTBOUND).unwrap().events().unwrap();
        let e = &p.events[0];
        assert_eq!(e.id, "salesforce:00D5g000004ABCDEA4:04l5g00000AbCdEAAV");
        assert_eq!(e.deal, DealRef::new(CRM, "0065g00000XyZabAAF"));
        assert_eq!(
            e.kind,
            EventKind::StageChanged {
                raw_stage: "won".into()
            }
        );
        assert_eq!(e.occurred_at, "2024-11-21T10:05:12Z".parse().unwrap());
        let snap = e.snapshot.as_ref().unwrap();
        assert_eq!(snap.name.as_deref(), Some("Acme Corp - 50 seats"));
        assert_eq!(snap.amount, Some(24000.0));
        assert_eq!(snap.facts["deal.close_date"].value, "2024-11-21");
    }

    #[test]
    fn an_open_opportunity_keeps_its_stage_name() {
        let open = String::from_utf8(OUTBOUND.to_vec())
            .unwrap()
            .replace(
                "<sf:IsClosed>true</sf:IsClosed>",
                "<sf:IsClosed>false</sf:IsClosed>",
            )
            .replace("<sf:IsWon>true</sf:IsWon>", "<sf:IsWon>false</sf:IsWon>")
            .replace("Closed Won", "Proposal/Price Quote");
        let p = Message::parse(open.as_bytes()).unwrap().events().unwrap();
        assert_eq!(
            p.events[0].kind,
            EventKind::StageChanged {
                raw_stage: "Proposal/Price Quote".into()
            }
        );
    }

    #[test]
    fn the_answer_is_the_soap_ack_and_a_refusal_is_a_fault_not_an_ack() {
        let norm = |s: &str| s.split_whitespace().collect::<String>();
        let ok = provider().accepted(&Summary::default());
        assert_eq!(ok.status(), 200);
        assert_eq!(
            norm(std::str::from_utf8(ok.body()).unwrap()),
            norm(ACK_FIXTURE)
        );
        let refused = provider().refused(ApiError::Transient("down".into()));
        assert_eq!(refused.status(), 503);
        let body = std::str::from_utf8(refused.body()).unwrap();
        assert!(
            body.contains("soapenv:Fault") && !body.contains("Ack"),
            "{body}"
        );
    }

    #[test]
    fn change_events_from_appflow_and_event_relay_become_the_same_stage_change() {
        for raw in [APPFLOW, RELAY] {
            let v: serde_json::Value = serde_json::from_str(raw).unwrap();
            let p = parse_change_event(&v).unwrap();
            assert_eq!(p.events.len(), 1, "{raw}");
            let e = &p.events[0];
            assert_eq!(e.deal, DealRef::new(CRM, "0065g00000XyZabAAF"));
            assert_eq!(
                e.kind,
                EventKind::StageChanged {
                    raw_stage: "won".into()
                }
            );
            assert_eq!(
                e.occurred_at,
                Timestamp::from_millisecond(1732183512000).unwrap()
            );
        }
        let account: serde_json::Value = serde_json::json!({
            "detail-type": "AccountChangeEvent",
            "detail": {"ChangeEventHeader": {"entityName": "Account", "changeType": "UPDATE",
                       "commitTimestamp": 1, "recordIds": ["0015g00000QwErTAAZ"]}}
        });
        assert_eq!(parse_change_event(&account).unwrap().ignored.len(), 1);
    }
}
