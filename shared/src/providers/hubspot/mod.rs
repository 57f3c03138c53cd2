//! HubSpot: webhook events (a JSON array of up to 100) and the CRM API v3 client.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;

use crate::domain::{DealEvent, DealRef, EventKind};
use crate::providers::signature;
use crate::providers::{Incoming, ParseError, Parsed, Provider, ProviderSpec, SecretSpec};
use crate::secret::Secret;
use crate::signing::SignatureError;

pub const CRM: &str = "hubspot";

pub const SPEC: ProviderSpec = ProviderSpec {
    name: CRM,
    kind: super::SourceKind::Crm,
    secrets: &[SecretSpec {
        env: "HUBSPOT_CLIENT_SECRET",
        dev: "dev-hubspot-client-secret",
    }],
    build: webhook,
    document_deal_key: Some("hubspot_deal_id"),
    writes_back: true,
    numeric_ids: true,
    #[cfg(feature = "http-client")]
    api: Some(api),
    #[cfg(feature = "http-client")]
    connect: None,
};

/// The CRM's API from its settings.
#[cfg(feature = "http-client")]
fn api(get: &dyn Fn(&str) -> Option<String>) -> Option<super::CrmApi> {
    let token = get("HUBSPOT_ACCESS_TOKEN")?;
    let base = get("HUBSPOT_API_BASE_URL").unwrap_or_else(|| "https://api.hubapi.com".into());
    Some(super::CrmApi::of(Arc::new(HubSpotClient::new(
        &base,
        Secret::new(token),
    ))))
}

fn webhook(secrets: Vec<Secret>) -> Arc<dyn Provider> {
    Arc::new(Webhook {
        client_secret: super::one_secret(secrets),
    })
}

/// `POST /webhooks/hubspot`: the app's Webhooks API, signed with the app's client secret (v3).
pub struct Webhook {
    client_secret: Secret,
}

impl Provider for Webhook {
    fn name(&self) -> &'static str {
        CRM
    }

    fn verify(&self, incoming: &Incoming<'_>) -> Result<(), SignatureError> {
        signature::verify_hubspot_v3(
            &self.client_secret,
            incoming.request.method().as_str(),
            &incoming.url,
            incoming.body(),
            incoming.header("x-hubspot-signature-v3"),
            incoming.header("x-hubspot-request-timestamp"),
            incoming.now,
        )
    }

    fn parse(&self, incoming: &Incoming<'_>) -> Result<Parsed, ParseError> {
        let mut parsed = parse_batch(incoming.body())?;
        // HubSpot does not deliver a batch in order.
        parsed.events.sort_by_key(|e| e.occurred_at);
        Ok(parsed)
    }
}

pub const MAX_BATCH: usize = 100;

/// One event of a batch, its strings borrowed from the body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent<'a> {
    pub event_id: i64,
    pub subscription_id: i64,
    pub portal_id: i64,
    pub occurred_at: i64,
    #[serde(borrow)]
    pub subscription_type: Cow<'a, str>,
    #[serde(default)]
    pub attempt_number: Option<i64>,
    pub object_id: i64,
    #[serde(default, borrow)]
    pub property_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub property_value: Option<Cow<'a, str>>,
}

impl WebhookEvent<'_> {
    /// HubSpot's idempotency key: (portal, subscription, event).
    pub fn id(&self) -> String {
        format!(
            "hubspot:{}:{}:{}",
            self.portal_id, self.subscription_id, self.event_id
        )
    }
}

/// Why a batch did not parse, naming the event at fault: the slow second pass, only for a
/// batch the single pass refused.
fn explain(body: &[u8], error: &serde_json::Error) -> ParseError {
    let values: Vec<serde_json::Value> = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return ParseError(format!("body is not a JSON array of HubSpot events: {e}")),
    };
    for (i, value) in values.iter().enumerate() {
        if let Err(e) = WebhookEvent::deserialize(value) {
            return ParseError(format!("event {i}: {e}"));
        }
    }
    ParseError(format!(
        "body is not a JSON array of HubSpot events: {error}"
    ))
}

/// A batch: canonical deal events, and the events that are not about deals.
pub fn parse_batch(body: &[u8]) -> Result<Parsed, ParseError> {
    // One pass into borrowed events; the common case allocates only what the events keep.
    let raw: Vec<WebhookEvent<'_>> = serde_json::from_slice(body).map_err(|e| explain(body, &e))?;
    if raw.len() > MAX_BATCH {
        return Err(ParseError(format!(
            "batch of {} events exceeds HubSpot's maximum of {MAX_BATCH}",
            raw.len()
        )));
    }
    let mut events = Vec::with_capacity(raw.len());
    let mut ignored = Vec::new();
    for (i, ev) in raw.into_iter().enumerate() {
        if ev.object_id <= 0 {
            return Err(ParseError(format!(
                "event {i}: objectId {} is not an id (a positive integer)",
                ev.object_id
            )));
        }
        let occurred_at = jiff::Timestamp::from_millisecond(ev.occurred_at).map_err(|_| {
            ParseError(format!(
                "event {i}: occurredAt {} is not a valid time",
                ev.occurred_at
            ))
        })?;
        let kind = match &*ev.subscription_type {
            "deal.creation" => EventKind::DealCreated,
            "deal.deletion" => EventKind::DealDeleted,
            "deal.propertyChange" => match (ev.property_name.as_deref(), &ev.property_value) {
                (Some("dealstage"), Some(v)) => EventKind::StageChanged {
                    raw_stage: v.to_string(),
                },
                (Some(name), Some(v)) => EventKind::PropertyChanged {
                    name: name.to_string(),
                    value: v.to_string(),
                },
                _ => {
                    return Err(ParseError(format!(
                        "event {i}: deal.propertyChange without propertyName/propertyValue"
                    )))
                }
            },
            other => {
                ignored.push(format!("event {i}: subscription type {other}"));
                continue;
            }
        };
        events.push(DealEvent {
            id: ev.id(),
            deal: DealRef::new(CRM, ev.object_id.to_string()),
            occurred_at,
            source: CRM.into(),
            kind,
            snapshot: None,
        });
    }
    Ok(Parsed {
        events,
        ignored,
        ..Parsed::default()
    })
}

#[cfg(feature = "http-client")]
pub use client::HubSpotClient;

#[cfg(feature = "http-client")]
mod client;
#[cfg(feature = "http-client")]
mod writer;

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &[u8] =
        include_bytes!("../../../../tests/fixtures/payloads/hubspot-webhooks-deal-events.json");

    #[test]
    fn the_reference_batch_maps_onto_canonical_events() {
        let b = parse_batch(PAYLOAD).unwrap();
        assert!(b.ignored.is_empty());
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.events[0].id, "hubspot:44556677:2465712:3816279340");
        assert_eq!(b.events[0].deal, DealRef::new("hubspot", "18544521873"));
        assert_eq!(
            b.events[0].kind,
            EventKind::StageChanged {
                raw_stage: "closedwon".into()
            }
        );
        assert_eq!(b.events[0].occurred_at.as_millisecond(), 1732183512345);
        assert_eq!(b.events[1].kind, EventKind::DealCreated);
    }

    #[test]
    fn contact_events_are_counted_as_ignored() {
        let body = br#"[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"contact.creation","objectId":9}]"#;
        let b = parse_batch(body).unwrap();
        assert_eq!((b.events.len(), b.ignored.len()), (0, 1));
    }

    #[test]
    fn a_batch_over_100_events_or_a_non_array_is_rejected() {
        let one = r#"{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"deal.creation","objectId":9}"#;
        let body = format!("[{}]", vec![one; 101].join(","));
        assert!(parse_batch(body.as_bytes())
            .unwrap_err()
            .0
            .contains("exceeds"));
        assert!(parse_batch(b"{\"a\":1}").is_err());
        assert!(parse_batch(br#"[{"eventId":"x"}]"#)
            .unwrap_err()
            .0
            .starts_with("event 0"));
    }

    #[test]
    fn an_object_id_that_cannot_be_an_id_is_refused() {
        for bad in ["0", "-18544521873"] {
            let body = format!(
                r#"[{{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1732183512345,"subscriptionType":"deal.creation","objectId":{bad}}}]"#
            );
            let err = parse_batch(body.as_bytes()).unwrap_err().0;
            assert!(err.contains("is not an id"), "{bad}: {err}");
        }
    }
}
