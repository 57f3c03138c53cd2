//! Webhook intake: verify, parse into canonical events, record each event durably (deduplicated)
//! before answering 2xx. Transient failures answer 503 so the provider retries; already-recorded
//! events of a retried batch count as duplicates. Every provider goes through the same path; what
//! differs (authentication, format, the answer's form) is the provider's [`Provider`] impl.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::json;
use tracing::Instrument;

use crate::app::{record_event, Core};
use crate::domain::{AuditKind, DealEvent, DealRef};
use crate::http::{self, ApiError, Request, Response};
use crate::ports::{CrmClient, CrmError, Recorded, StoreError};
use crate::providers::{Incoming, Lookup, Provider, Providers};
use crate::signing::SignatureError;

pub use crate::providers::Summary;

pub struct Intake {
    pub core: Core,
    /// The webhook sources this deployment serves.
    pub providers: Providers,
    /// CRM API clients by CRM name, to read deal details a webhook does not carry.
    pub crm: HashMap<String, Arc<dyn CrmClient>>,
    /// The public URL the providers call (HubSpot signs the full URI).
    pub public_base_url: String,
    /// Where won and lost deals are announced (`deal.won`, `deal.lost`).
    pub events: Arc<dyn crate::ports::EventPublisher>,
}

/// Deals of one webhook batch recorded at the same time.
const DEALS_AT_ONCE: usize = 16;

fn sig_error(provider: &str, e: &SignatureError) -> ApiError {
    tracing::info!(provider, reason = %e, "webhook signature rejected");
    ApiError::Unauthorized(format!("{provider} signature rejected: {e}"))
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Transient(e.into())
}

impl Intake {
    /// `POST /webhooks/{provider}`.
    pub async fn handle(&self, req: Request) -> Response {
        // `/webhooks/{provider}`, or `/webhooks/{provider}/{path token}` (Salesforce).
        let name = req
            .uri()
            .path()
            .strip_prefix("/webhooks/")
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let span = tracing::info_span!("webhook", provider = %name);
        async {
            let provider = match self.provider(&name, &req) {
                Ok(p) => p,
                Err(e) => return self.refused(None, e),
            };
            match self.accept(&*provider, &req).await {
                Ok(summary) => {
                    tracing::info!(
                        accepted = summary.accepted,
                        duplicates = summary.duplicates,
                        ignored = summary.ignored,
                        "webhook recorded"
                    );
                    provider.accepted(&summary)
                }
                Err(e) => self.refused(Some(&*provider), e),
            }
        }
        .instrument(span)
        .await
    }

    fn refused(&self, provider: Option<&dyn Provider>, e: ApiError) -> Response {
        if !e.status().is_server_error() {
            tracing::info!(status = e.status().as_u16(), error = %e.log_summary(), "webhook refused");
        }
        match provider {
            Some(p) => p.refused(e),
            None => e.into_response(),
        }
    }

    /// The route's provider, after the checks that need no provider: method, size, known name.
    fn provider(&self, name: &str, req: &Request) -> Result<Arc<dyn Provider>, ApiError> {
        let path = req.uri().path();
        if !path.starts_with("/webhooks/") {
            return Err(ApiError::NotFound(format!("no route for {path}")));
        }
        if req.method() != http::Method::POST {
            return Err(ApiError::MethodNotAllowed(format!(
                "{} {path}: webhooks accept POST only",
                req.method()
            )));
        }
        http::check_size(req.body())?;
        match self.providers.get(name) {
            Lookup::Enabled(p) => Ok(p),
            Lookup::NotConfigured => Err(sig_error(name, &SignatureError::NotConfigured)),
            Lookup::Unknown => Err(ApiError::BadRequest {
                message: format!("unknown provider `{name}`"),
                detail: json!({ "known_providers": self.providers.names() }),
            }),
        }
    }

    async fn accept(&self, provider: &dyn Provider, req: &Request) -> Result<Summary, ApiError> {
        http::require_media_type(req.headers(), provider.media_type())?;
        let incoming = Incoming {
            request: req,
            url: http::request_url(&self.public_base_url, req),
            now: self.core.clock.now(),
            config: &self.core.config,
        };
        provider
            .verify(&incoming)
            .map_err(|e| sig_error(provider.name(), &e))?;
        if provider.media_type() == "application/json" {
            http::require_unique_json_keys(req.body())?;
        }
        let mut parsed = provider
            .parse(&incoming)
            .map_err(|e| ApiError::bad_request(e.0))?;
        // One deal, one id: `00123` on one route is `123` on another.
        for e in &mut parsed.events {
            super::canonical_id(&mut e.deal);
        }
        // The same checks whatever the provider: ids, times and amounts a deal can hold.
        use crate::domain::checks::{event_problem, values_problem};
        let all = parsed
            .events
            .iter()
            .map(|e| event_problem(e, incoming.now, super::numeric_ids(&e.deal.crm)))
            .chain(
                parsed
                    .referenced
                    .iter()
                    .map(|r| values_problem(&r.event, incoming.now)),
            );
        for (i, problem) in all.enumerate() {
            if let Some(problem) = problem {
                return Err(ApiError::BadRequest {
                    message: format!("event {i}: {problem}"),
                    detail: json!({ "event": i }),
                });
            }
        }
        for why in &parsed.ignored {
            tracing::info!(%why, "notification ignored");
        }
        self.record_parsed(parsed).await
    }

    /// Record a provider's parsed events (a webhook's, or a change event from the bus).
    pub async fn record_parsed(
        &self,
        parsed: crate::providers::Parsed,
    ) -> Result<Summary, ApiError> {
        let mut summary = Summary {
            ignored: parsed.ignored.len(),
            ..Default::default()
        };
        let mut events = parsed.events;
        for r in parsed.referenced {
            let deals = self.core.store.linked(&r.link).await.map_err(store_error)?;
            if deals.is_empty() {
                tracing::info!(link = %r.link, "notification ignored: no deal known for it yet");
                summary.ignored += 1;
            }
            for deal in deals {
                let mut e = r.event.clone();
                e.id = format!("{}@{deal}", e.id);
                e.deal = deal;
                events.push(e);
            }
        }
        self.record_by_deal(events, &mut summary).await?;
        Ok(summary)
    }

    /// Record events deal by deal, each deal's in the provider's order. Before a deal's first
    /// new event, its details are read from its CRM's API when a client is configured (one
    /// read per deal, and none for a batch of duplicates, which are checked first).
    async fn record_by_deal(
        &self,
        events: Vec<DealEvent>,
        summary: &mut Summary,
    ) -> Result<(), ApiError> {
        let mut by_deal: BTreeMap<DealRef, Vec<DealEvent>> = BTreeMap::new();
        for e in events {
            by_deal.entry(e.deal.clone()).or_default().push(e);
        }
        let mut to_record = Vec::new();
        for (deal, events) in by_deal {
            let client = self.crm.get(&deal.crm);
            // With a CRM client, redelivered events are set aside before its API is called for
            // them. Without one, recording finds them itself (the timeline entry keyed by the
            // event id is the claim), so the read is saved.
            let mut fresh = Vec::new();
            for e in events {
                if client.is_some()
                    && self
                        .core
                        .store
                        .is_duplicate(&e.deal, &e.id)
                        .await
                        .map_err(store_error)?
                {
                    summary.duplicates += 1;
                    // The first delivery may have stopped between the event and its audit
                    // entry: the redelivery writes it (once, by the event's id).
                    let c = &self.core;
                    crate::app::audit_accepted(&*c.audit, &e, &e.source, c.clock.now())
                        .await
                        .map_err(store_error)?;
                    // A redelivered closing event announces again: the first attempt may have
                    // recorded it and then failed to publish.
                    self.announce_outcome(&e).await?;
                } else {
                    fresh.push(e);
                }
            }
            if let Some(client) = client {
                // Stage ids as the config maps them (closed stages by their outcome).
                for e in &mut fresh {
                    if let crate::domain::EventKind::StageChanged { raw_stage } = &mut e.kind {
                        *raw_stage = client
                            .resolve_stage(raw_stage)
                            .await
                            .map_err(|e| ApiError::Transient(e.into()))?;
                    }
                }
            }
            let Some(first) = fresh.first_mut() else {
                continue;
            };
            if let Some(client) = client {
                match client.fetch_deal(&deal.id).await {
                    Ok(snap) => {
                        // The CRM's current view, over what the webhook itself carried.
                        let mut merged = first.snapshot.take().unwrap_or_default();
                        merged.merge(snap);
                        first.snapshot = Some(merged);
                    }
                    // Unknown to the CRM (deleted since, or never there): record what the webhook
                    // said, and say so.
                    Err(CrmError::NotFound(_)) => {
                        tracing::warn!(deal = %deal, "the CRM does not know this deal");
                        let entry = crate::domain::AuditEntry {
                            // One entry per event, however often the provider retries it.
                            id: format!("unknown-{}", crate::app::short_hash(&[&first.id])),
                            ..crate::domain::AuditEntry::new(
                                first.occurred_at,
                                AuditKind::DealUnknownInCrm,
                                &first.source,
                                json!({ "event_id": first.id, "problem": format!("{} answered 404 for deal {}; recorded what the webhook said", deal.crm, deal.id) }),
                            )
                            .deal(&deal)
                        };
                        crate::app::audit(&*self.core.audit, entry)
                            .await
                            .map_err(store_error)?;
                    }
                    Err(e) => return Err(ApiError::Transient(e.into())),
                }
            }
            to_record.append(&mut fresh);
        }
        // Different deals concurrently, each deal's events in order.
        self.record_all(to_record, summary).await
    }

    /// A stage change that closed the deal is announced on the bus (again on a redelivery: at
    /// least once); a bus that fails answers 503 so the provider retries.
    async fn announce_outcome(&self, event: &DealEvent) -> Result<(), ApiError> {
        if !matches!(event.kind, crate::domain::EventKind::StageChanged { .. }) {
            return Ok(());
        }
        let c = &self.core;
        let Some(deal) = c.store.get_deal(&event.deal).await.map_err(store_error)? else {
            return Ok(());
        };
        let Some(announcement) = crate::app::outcome::closing(&c.config, &deal, event) else {
            return Ok(());
        };
        self.events
            .publish(&announcement)
            .await
            .map_err(|e| ApiError::Transient(Box::new(e)))?;
        crate::app::audit(
            &*c.audit,
            crate::domain::AuditEntry {
                id: format!("outcome-{}", crate::app::short_hash(&[&event.id])),
                ..crate::domain::AuditEntry::new(
                    event.occurred_at,
                    AuditKind::parse(&announcement.detail_type),
                    &event.source,
                    announcement.detail.clone(),
                )
                .deal(&deal.key)
            },
        )
        .await
        .map_err(store_error)?;
        tracing::info!(outcome = %announcement.detail_type, "deal closed and announced");
        Ok(())
    }

    /// Record a batch: each deal's events in order, different deals concurrently (a HubSpot
    /// batch of 100 events over 30 deals must be answered well inside HubSpot's 5 s). A deal
    /// whose event fails stops at that event; the batch then answers 503 and the provider's
    /// retry re-delivers it (what was recorded counts as duplicates).
    pub async fn record_all(
        &self,
        events: Vec<DealEvent>,
        summary: &mut Summary,
    ) -> Result<(), ApiError> {
        use futures_util::stream::{self, StreamExt};

        let mut by_deal: Vec<Vec<DealEvent>> = Vec::new();
        let mut index: HashMap<DealRef, usize> = HashMap::new();
        for event in events {
            match index.get(&event.deal) {
                Some(&i) => by_deal[i].push(event),
                None => {
                    index.insert(event.deal.clone(), by_deal.len());
                    by_deal.push(vec![event]);
                }
            }
        }
        let results: Vec<(usize, usize, Result<(), ApiError>)> = stream::iter(by_deal)
            .map(|events| self.record_deal(events))
            .buffer_unordered(DEALS_AT_ONCE)
            .collect()
            .await;
        let mut first_error = None;
        for (accepted, duplicates, result) in results {
            summary.accepted += accepted;
            summary.duplicates += duplicates;
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// One deal's events, in order: (accepted, duplicates, how it ended).
    async fn record_deal(&self, events: Vec<DealEvent>) -> (usize, usize, Result<(), ApiError>) {
        let c = &self.core;
        let (mut accepted, mut duplicates) = (0, 0);
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
                Ok(Recorded::Applied) => accepted += 1,
                Ok(Recorded::Duplicate) => duplicates += 1,
                Err(e) => return (accepted, duplicates, Err(store_error(e))),
            }
            if let Err(e) = self.announce_outcome(&event).await {
                return (accepted, duplicates, Err(e));
            }
        }
        (accepted, duplicates, Ok(()))
    }
}
