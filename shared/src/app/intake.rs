//! Webhook intake: verify, parse into canonical events, record each event durably (deduplicated)
//! before answering 2xx. Transient failures answer 503 so the provider retries; already-recorded
//! events of a retried batch count as duplicates.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};
use tracing::Instrument;

use super::{record_event, Core};
use crate::domain::{DealEvent, DealRef};
use crate::http::{self, ApiError, Request, Response};
use crate::ports::{CrmClient, CrmError, Recorded, StoreError};
use crate::providers::signature::{self, SignatureError};
use crate::providers::{generic, hubspot, inbox, pandadoc, ParseError};
use crate::secret::Secret;

/// Providers this service knows. Each route answers 401 unless its secret is configured.
pub const PROVIDERS: [&str; 4] = ["hubspot", "pandadoc", "inbox", "generic"];

#[derive(Clone, Default)]
pub struct WebhookSecrets {
    pub hubspot_client_secret: Option<Secret>,
    pub pandadoc_key: Option<Secret>,
    /// draftgate HMAC secret of `POST /webhooks/inbox`.
    pub inbox_secret: Option<Secret>,
    /// draftgate HMAC secret of `POST /webhooks/generic`.
    pub generic_secret: Option<Secret>,
}

pub struct Intake {
    pub core: Core,
    pub secrets: WebhookSecrets,
    /// CRM API clients by CRM name, to read deal details a webhook does not carry.
    pub crm: HashMap<String, Arc<dyn CrmClient>>,
    /// The public URL the providers call (HubSpot signs the full URI).
    pub public_base_url: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub accepted: usize,
    pub duplicates: usize,
    pub ignored: usize,
}

fn sig_error(provider: &str, e: SignatureError) -> ApiError {
    tracing::info!(provider, reason = %e, "webhook signature rejected");
    ApiError::Unauthorized(format!("{provider} signature rejected: {e}"))
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Transient(e.into())
}

impl Intake {
    /// `POST /webhooks/{provider}`.
    pub async fn handle(&self, req: Request) -> Response {
        let provider = req
            .uri()
            .path()
            .strip_prefix("/webhooks/")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        let span = tracing::info_span!("webhook", provider = %provider);
        async {
            match self.route(req).await {
                Ok(v) => {
                    tracing::info!(
                        accepted = v["accepted"].as_u64(),
                        duplicates = v["duplicates"].as_u64(),
                        ignored = v["ignored"].as_u64(),
                        "webhook recorded"
                    );
                    http::json_response(http::StatusCode::OK, &v)
                }
                Err(e) => {
                    if !e.status().is_server_error() {
                        tracing::info!(status = e.status().as_u16(), error = %e.log_summary(), "webhook refused");
                    }
                    e.into_response()
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn route(&self, req: Request) -> Result<Value, ApiError> {
        let path = req.uri().path().to_string();
        let Some(provider) = path
            .strip_prefix("/webhooks/")
            .map(|p| p.trim_end_matches('/'))
        else {
            return Err(ApiError::NotFound(format!("no route for {path}")));
        };
        if req.method() != http::Method::POST {
            return Err(ApiError::MethodNotAllowed(format!(
                "{} {path}: webhooks accept POST only",
                req.method()
            )));
        }
        http::check_size(req.body())?;
        if !PROVIDERS.contains(&provider) {
            return Err(ApiError::BadRequest {
                message: format!("unknown provider `{provider}`"),
                detail: json!({ "known_providers": PROVIDERS }),
            });
        }
        http::require_json(req.headers())?;
        let summary = match provider {
            "hubspot" => self.hubspot(&req).await?,
            "pandadoc" => self.pandadoc(&req).await?,
            "inbox" => {
                let secret = self.secrets.inbox_secret.as_ref();
                self.draftgate_signed("inbox", secret, &req, inbox::parse)
                    .await?
            }
            "generic" => {
                let secret = self.secrets.generic_secret.as_ref();
                let config = &self.core.config;
                self.draftgate_signed("generic", secret, &req, |body| {
                    generic::parse_batch(body, config)
                })
                .await?
            }
            _ => unreachable!("checked against PROVIDERS"),
        };
        Ok(
            json!({ "provider": provider, "accepted": summary.accepted, "duplicates": summary.duplicates, "ignored": summary.ignored }),
        )
    }

    async fn hubspot(&self, req: &Request) -> Result<Summary, ApiError> {
        let secret = self
            .secrets
            .hubspot_client_secret
            .as_ref()
            .ok_or_else(|| sig_error("hubspot", SignatureError::NotConfigured))?;
        let uri = format!(
            "{}{}",
            self.public_base_url.trim_end_matches('/'),
            req.uri()
                .path_and_query()
                .map(::http::uri::PathAndQuery::as_str)
                .unwrap_or("/webhooks/hubspot")
        );
        signature::verify_hubspot_v3(
            secret,
            req.method().as_str(),
            &uri,
            req.body(),
            http::header(req.headers(), "x-hubspot-signature-v3"),
            http::header(req.headers(), "x-hubspot-request-timestamp"),
            self.core.clock.now(),
        )
        .map_err(|e| sig_error("hubspot", e))?;
        let batch = hubspot::parse_batch(req.body()).map_err(|e| ApiError::bad_request(e.0))?;
        let mut summary = Summary {
            ignored: batch.ignored,
            ..Default::default()
        };

        // One CRM read per deal, only for deals with events not seen before.
        let mut by_deal: BTreeMap<DealRef, Vec<DealEvent>> = BTreeMap::new();
        for e in batch.events {
            by_deal.entry(e.deal.clone()).or_default().push(e);
        }
        for (deal, mut events) in by_deal {
            events.sort_by_key(|e| e.occurred_at);
            let mut fresh = Vec::new();
            for e in events {
                if self
                    .core
                    .store
                    .is_duplicate(&e.id)
                    .await
                    .map_err(store_error)?
                {
                    summary.duplicates += 1;
                } else {
                    fresh.push(e);
                }
            }
            if fresh.is_empty() {
                continue;
            }
            if let Some(client) = self.crm.get(&deal.crm) {
                match client.fetch_deal(&deal.id).await {
                    Ok(snap) => fresh[0].snapshot = Some(snap),
                    // Deleted in the CRM since the event: record what the webhook said.
                    Err(CrmError::NotFound(_)) => {}
                    Err(e) => return Err(ApiError::Transient(e.into())),
                }
            }
            self.record_all(fresh, &mut summary).await?;
        }
        Ok(summary)
    }

    async fn pandadoc(&self, req: &Request) -> Result<Summary, ApiError> {
        let secret = self
            .secrets
            .pandadoc_key
            .as_ref()
            .ok_or_else(|| sig_error("pandadoc", SignatureError::NotConfigured))?;
        let sig = http::query_param(req.uri().query(), "signature");
        signature::verify_pandadoc(secret, req.body(), sig.as_deref())
            .map_err(|e| sig_error("pandadoc", e))?;
        let batch = pandadoc::parse_batch(req.body(), self.core.clock.now())
            .map_err(|e| ApiError::bad_request(e.0))?;
        for why in &batch.ignored {
            tracing::info!(%why, "pandadoc notification ignored");
        }
        let mut summary = Summary {
            ignored: batch.ignored.len(),
            ..Default::default()
        };
        self.record_all(batch.events, &mut summary).await?;
        Ok(summary)
    }

    /// The inbox and generic webhooks: draftgate's own HMAC, then every event of the request
    /// parsed (one bad event refuses them all) before any is recorded.
    async fn draftgate_signed(
        &self,
        provider: &str,
        secret: Option<&Secret>,
        req: &Request,
        parse: impl FnOnce(&[u8]) -> Result<Vec<DealEvent>, ParseError>,
    ) -> Result<Summary, ApiError> {
        let secret = secret.ok_or_else(|| sig_error(provider, SignatureError::NotConfigured))?;
        signature::verify_draftgate(
            secret,
            req.body(),
            http::header(req.headers(), "x-draftgate-signature"),
            http::header(req.headers(), "x-draftgate-timestamp"),
            self.core.clock.now(),
        )
        .map_err(|e| sig_error(provider, e))?;
        let events = parse(req.body()).map_err(|e| ApiError::bad_request(e.0))?;
        let mut summary = Summary::default();
        self.record_all(events, &mut summary).await?;
        Ok(summary)
    }

    /// Record events in order; any failure stops here with 503 and the provider's retry
    /// re-delivers the rest (the recorded ones then count as duplicates).
    pub async fn record_all(
        &self,
        events: Vec<DealEvent>,
        summary: &mut Summary,
    ) -> Result<(), ApiError> {
        let c = &self.core;
        for event in events {
            let span = tracing::info_span!("deal", deal = %event.deal, event_id = %event.id);
            match record_event(
                &*c.store,
                &*c.audit,
                &c.config,
                &*c.clock,
                &event,
                &event.source,
            )
            .instrument(span)
            .await
            {
                Ok(Recorded::Applied) => summary.accepted += 1,
                Ok(Recorded::Duplicate) => summary.duplicates += 1,
                Err(e) => return Err(store_error(e)),
            }
        }
        Ok(())
    }
}
