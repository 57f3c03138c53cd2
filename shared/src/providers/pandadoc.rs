//! PandaDoc: `document_state_changed` notifications (sent, viewed, completed).

use std::sync::Arc;

use serde::Deserialize;

use crate::domain::{DealEvent, DealRef, DealSnapshot, EventKind, Fact};
use crate::providers::signature;
use crate::providers::{Incoming, ParseError, Parsed, Provider, ProviderSpec, SecretSpec};
use crate::secret::Secret;
use crate::signing::SignatureError;

pub const SOURCE: &str = "pandadoc";

pub const SPEC: ProviderSpec = ProviderSpec {
    name: SOURCE,
    kind: super::SourceKind::Proposal,
    secrets: &[SecretSpec {
        env: "PANDADOC_WEBHOOK_KEY",
        dev: "dev-pandadoc-key",
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
    Arc::new(Webhook {
        key: super::one_secret(secrets),
    })
}

/// `POST /webhooks/pandadoc`: document state changes, signed with `?signature=`.
pub struct Webhook {
    key: Secret,
}

impl Provider for Webhook {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn verify(&self, incoming: &Incoming<'_>) -> Result<(), SignatureError> {
        signature::verify_pandadoc(
            &self.key,
            incoming.body(),
            incoming.query("signature").as_deref(),
        )
    }

    fn parse(&self, incoming: &Incoming<'_>) -> Result<Parsed, ParseError> {
        parse_batch(incoming.body(), incoming.now)
    }
}

#[derive(Debug, Deserialize)]
struct Notification {
    event: String,
    data: Document,
}

#[derive(Debug, Deserialize)]
struct Document {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    date_modified: Option<String>,
    #[serde(default)]
    metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    recipients: Vec<Recipient>,
    #[serde(default)]
    grand_total: Option<Total>,
}

#[derive(Debug, Deserialize)]
struct Recipient {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    recipient_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Total {
    amount: Option<String>,
    currency: Option<String>,
}

fn meta_str(meta: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    match meta.get(key)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The deal a document belongs to, from its metadata: the key each CRM's registry entry names
/// (`hubspot_deal_id`, `pipedrive_deal_id`), or `draftgate_deal` = `<crm>:<id>`. Keys that name
/// different deals name none: the document is refused rather than filed on a guess.
fn deal_of(
    i: usize,
    meta: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<DealRef>, ParseError> {
    let mut deals = super::document_deals(|key| meta_str(meta, key));
    if let Some((crm, id)) = meta_str(meta, "draftgate_deal").and_then(|v| {
        v.split_once(':')
            .map(|(a, b)| (a.to_string(), b.to_string()))
    }) {
        let mut deal = DealRef::new(crm, id);
        super::canonical_id(&mut deal);
        deals.push(deal);
    }
    let mut unique: Vec<DealRef> = Vec::new();
    for d in deals {
        if !unique.contains(&d) {
            unique.push(d);
        }
    }
    match unique.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        several => Err(ParseError(format!(
            "notification {i}: metadata names {} different deals ({}); name one",
            several.len(),
            several
                .iter()
                .map(|d| format!("{}:{}", d.crm, d.id))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The grand total, when it is an amount.
fn total_ok(amount: &str) -> bool {
    amount
        .trim()
        .parse::<f64>()
        .is_ok_and(|a| (0.0..=crate::domain::checks::MAX_AMOUNT).contains(&a))
}

/// Notifications that are not document state changes draftgate acts on, or that name no deal,
/// are ignored with the reason.
pub fn parse_batch(body: &[u8], now: jiff::Timestamp) -> Result<Parsed, ParseError> {
    let raw: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
        ParseError(format!(
            "body is not a JSON array of PandaDoc notifications: {e}"
        ))
    })?;
    let mut batch = Parsed::default();
    for (i, value) in raw.into_iter().enumerate() {
        let n: Notification = serde_json::from_value(value)
            .map_err(|e| ParseError(format!("notification {i}: {e}")))?;
        let doc = n.data;
        if doc.id.trim().is_empty()
            || doc.id.len() > crate::domain::checks::MAX_ID_LEN
            || doc.id.chars().any(char::is_control)
        {
            return Err(ParseError(format!(
                "notification {i}: data.id must be a document id (1 to {} characters, no control characters)",
                crate::domain::checks::MAX_ID_LEN
            )));
        }
        if n.event != "document_state_changed" {
            batch.ignored.push(format!("{}: event {}", doc.id, n.event));
            continue;
        }
        let status = doc.status.clone().unwrap_or_default();
        let kind = match status.as_str() {
            "document.sent" => EventKind::ProposalSent {
                document_id: doc.id.clone(),
                name: doc.name.clone(),
            },
            "document.viewed" => EventKind::ProposalViewed {
                document_id: doc.id.clone(),
            },
            "document.completed" => EventKind::ProposalCompleted {
                document_id: doc.id.clone(),
            },
            other => {
                batch.ignored.push(format!("{}: status {other}", doc.id));
                continue;
            }
        };
        let Some(deal) = deal_of(i, &doc.metadata)? else {
            batch.ignored.push(format!(
                "{}: metadata names no deal (hubspot_deal_id, pipedrive_deal_id or draftgate_deal)",
                doc.id
            ));
            continue;
        };
        let occurred_at = match &doc.date_modified {
            Some(s) => s
                .parse()
                .ok()
                .filter(crate::domain::checks::plausible_time)
                .ok_or_else(|| {
                    ParseError(format!(
                        "notification {i}: date_modified `{s}` is not an RFC 3339 time between 1970 and 2199"
                    ))
                })?,
            None => now,
        };
        let mut snap = DealSnapshot::default();
        if let Some(name) = &doc.name {
            snap.facts.insert(
                "proposal.name".into(),
                Fact::new(name, format!("PandaDoc document {} name", doc.id)),
            );
        }
        if let Some(t) = &doc.grand_total {
            if let (Some(a), Some(c)) = (&t.amount, &t.currency) {
                if !total_ok(a) {
                    return Err(ParseError(format!(
                        "notification {i}: grand_total.amount must be an amount from 0 to {:.0}; got `{}`",
                        crate::domain::checks::MAX_AMOUNT,
                        crate::domain::headers::one_line(a).chars().take(40).collect::<String>()
                    )));
                }
                snap.facts.insert(
                    "proposal.total".into(),
                    Fact::new(
                        format!("{a} {c}"),
                        format!("PandaDoc document {} grand_total", doc.id),
                    ),
                );
            }
        }
        let signer = doc
            .recipients
            .iter()
            .find(|r| r.recipient_type.as_deref() == Some("SIGNER"))
            .or(doc.recipients.first());
        if let Some(r) = signer {
            snap.contact_email = r.email.clone().filter(|e| !e.is_empty());
            let source = format!("PandaDoc document {} recipient", doc.id);
            for (key, v) in [
                ("contact.email", &r.email),
                ("contact.first_name", &r.first_name),
                ("contact.last_name", &r.last_name),
            ] {
                if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                    snap.facts.insert(key.into(), Fact::new(v, source.clone()));
                }
            }
        }
        batch.events.push(DealEvent {
            id: format!(
                "pandadoc:{}:{}:{}",
                doc.id,
                status,
                doc.date_modified.as_deref().unwrap_or("")
            ),
            deal,
            occurred_at,
            source: SOURCE.into(),
            kind,
            snapshot: Some(snap),
        });
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &[u8] =
        include_bytes!("../../../tests/fixtures/payloads/pandadoc-document-state-changed.json");

    #[test]
    fn a_completed_document_becomes_a_signed_proposal_on_its_hubspot_deal() {
        let b = parse_batch(PAYLOAD, jiff::Timestamp::UNIX_EPOCH).unwrap();
        assert!(b.ignored.is_empty());
        let e = &b.events[0];
        assert_eq!(e.deal, DealRef::new("hubspot", "18544521873"));
        assert_eq!(
            e.kind,
            EventKind::ProposalCompleted {
                document_id: "cJkTvGrWA9CxFqzHX3eUeD".into()
            }
        );
        assert_eq!(
            e.occurred_at,
            "2024-11-21T10:04:58.017241Z".parse().unwrap()
        );
        let snap = e.snapshot.as_ref().unwrap();
        assert_eq!(snap.facts["contact.first_name"].value, "Jane");
        assert_eq!(snap.facts["proposal.total"].value, "24000.00 EUR");
    }

    #[test]
    fn a_document_without_a_deal_reference_is_ignored_with_the_reason() {
        let body = br#"[{"event":"document_state_changed","data":{"id":"d1","status":"document.sent","metadata":{}}}]"#;
        let b = parse_batch(body, jiff::Timestamp::UNIX_EPOCH).unwrap();
        assert!(b.events.is_empty());
        assert!(b.ignored[0].contains("names no deal"));
    }

    #[test]
    fn metadata_naming_two_different_deals_is_refused_and_one_deal_named_twice_is_fine() {
        let doc = |meta: &str| {
            format!(
                r#"[{{"event":"document_state_changed","data":{{"id":"d1","status":"document.sent","metadata":{meta}}}}}]"#
            )
        };
        let two = doc(r#"{"hubspot_deal_id":"7009","draftgate_deal":"hubspot:7010"}"#);
        let e = parse_batch(two.as_bytes(), jiff::Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(
            e.0.contains("names 2 different deals (hubspot:7009, hubspot:7010)"),
            "{e:?}"
        );
        let same = doc(r#"{"pipedrive_deal_id":"0042","draftgate_deal":"pipedrive:42"}"#);
        let b = parse_batch(same.as_bytes(), jiff::Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(b.events[0].deal, DealRef::new("pipedrive", "42"));
    }

    #[test]
    fn a_document_without_an_id_or_with_an_impossible_date_is_refused() {
        for (body, why) in [
            (
                r#"[{"event":"document_state_changed","data":{"id":"","status":"document.sent","metadata":{"hubspot_deal_id":"1"}}}]"#,
                "data.id",
            ),
            (
                r#"[{"event":"document_state_changed","data":{"id":"  ","status":"document.sent","metadata":{"hubspot_deal_id":"1"}}}]"#,
                "data.id",
            ),
            (
                r#"[{"event":"document_state_changed","data":{"id":"d1","status":"document.sent","date_modified":"0000-01-01T00:00:00Z","metadata":{"hubspot_deal_id":"1"}}}]"#,
                "date_modified",
            ),
        ] {
            let e = parse_batch(body.as_bytes(), jiff::Timestamp::UNIX_EPOCH).unwrap_err();
            assert!(e.0.contains(why), "{e:?}");
        }
    }
}
