//! The runner's process: the deployed routes plus the dev routes, every queue consumer as an
//! in-process worker, and the sweep on a timer, all on one embedded store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::json;
use shared::adapters::clock::OffsetClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::review::Review;
use shared::app::sweep::Sweeper;
use shared::app::sync::Syncer;
use shared::config::Config;
use shared::http::{self, ApiError, Request, Response, StatusCode};
use shared::ports::{AuditReader, Clock};
use shared::providers::intake::Intake;
use shared::providers::mail_intake::MailIntake;

use crate::sample::Sample;
use crate::workers::{WorkQueue, Workers};

pub const CLOCK_OFFSET_KEY: &str = "clock_offset_ms";
pub const SIGNING_KEY_KEY: &str = "dev_signing_key";
/// The address the last `serve` on this data directory gave its links.
pub const PUBLIC_BASE_URL_KEY: &str = "public_base_url";
/// The scheduled sweep's period on the runner (EventBridge runs it every 15 minutes in AWS).
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub struct Runner {
    /// The data directory's store: the clock offset, the dev signing key, the outbox and the
    /// bus's record; on the embedded backend also the pipeline, audit log and queues.
    pub store: Arc<EmbeddedStore>,
    /// The audit log the dev routes read (the embedded store's, or DynamoDB's with `--aws`).
    pub audit: Arc<dyn AuditReader>,
    pub clock: Arc<OffsetClock>,
    pub intake: Intake,
    pub mail: MailIntake,
    pub sweeper: Sweeper,
    pub syncer: Syncer,
    pub workers: Workers,
    pub review: Review,
    pub sample: Sample,
    /// Whether `/dev/*` is served (a loopback address, or `--dev-routes`).
    pub dev_routes: bool,
    /// The sample CRM API's bearer token, known only to this runner.
    pub sample_token: Option<String>,
    /// Host names the runner answers to besides IP addresses and `localhost`: the one in
    /// `PUBLIC_BASE_URL` (any other name is a DNS-rebinding page or a mistake).
    pub own_host: Option<String>,
}

/// Where the runner keeps the pipeline: the embedded store, or AWS services (`--aws`).
pub(crate) struct Backend {
    /// The tables, queues and bus as the services' ports.
    pub(crate) adapters: shared::assembly::Adapters,
    pub(crate) audit: Arc<dyn AuditReader>,
    /// The same queues as the workers read them.
    pub(crate) evaluate_q: Arc<dyn WorkQueue>,
    pub(crate) draft_q: Arc<dyn WorkQueue>,
    pub(crate) writes_q: Arc<dyn WorkQueue>,
}

pub(crate) fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    let result = match path {
        Some(p) => Config::from_file(p),
        None => Config::bundled(),
    };
    result.map_err(|problems| {
        let mut msg = String::from("refusing to start: the config has problems\n");
        for p in &problems {
            msg.push_str(&format!("  {p}\n"));
        }
        msg
    })
}

/// The runner's clock: real time plus the offset `POST /dev/clock` keeps in the store.
pub fn runner_clock(store: &EmbeddedStore) -> Arc<OffsetClock> {
    let offset_ms: i64 = store
        .meta_get(CLOCK_OFFSET_KEY)
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Arc::new(OffsetClock::new(SignedDuration::from_millis(offset_ms)))
}

pub(crate) async fn dispatch(
    State(runner): State<Arc<Runner>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, http::MAX_BODY + 1).await {
        Ok(b) if b.len() <= http::MAX_BODY => b,
        _ => {
            return ApiError::TooLarge
                .into_response()
                .map(axum::body::Body::from)
        }
    };
    let resp = runner.route(Request::from_parts(parts, bytes)).await;
    resp.map(axum::body::Body::from)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockMove {
    advance_secs: Option<i64>,
    now: Option<String>,
}

const DEV_CRM_REQUESTS: &str = "dev:crm-requests";

fn ok_json(v: serde_json::Value) -> Response {
    http::json_response(StatusCode::OK, &v)
}

impl Runner {
    async fn route(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        if let Some(refused) = self.foreign_host(&req) {
            return refused;
        }
        // Off on an exposed runner, but for the sample CRM API the runner itself reads.
        if path.starts_with("/dev/") && !self.dev_routes && !self.is_own_sample_call(&req, &path) {
            return ApiError::NotFound(format!(
                "{path} is not served: the dev routes are off on a non-loopback address \
                 (start the runner with --dev-routes to serve them)"
            ))
            .into_response();
        }
        if MailIntake::is_mailbox_route(&path) {
            return self.mail.handle(&self.intake, req).await;
        }
        if path.starts_with("/webhooks/") {
            return self.intake.handle(req).await;
        }
        if path == "/slack/interactivity" {
            return self.review.slack(req).await;
        }
        if path == "/review" || path.starts_with("/review/") || path == "/summary" {
            return self.review.handle(req).await;
        }
        if let Some(rest) = path.strip_prefix("/dev/hubspot") {
            if req.method() != ::http::Method::GET {
                if !self.is_own_sample_call(&req, &path) {
                    if let Err(e) =
                        http::require_own_origin(req.headers(), &self.review.public_base_url)
                    {
                        return e.into_response();
                    }
                }
                return self.dev_crm_write(&req, rest);
            }
            return self.sample.hubspot_api(rest);
        }
        if path.starts_with("/dev/") {
            return self.dev(req).await.unwrap_or_else(ApiError::into_response);
        }
        if path == "/" {
            return ::http::Response::builder()
                .status(StatusCode::FOUND)
                .header(http::header::LOCATION, self.review.queue_url())
                .body(Bytes::new())
                .expect("static response");
        }
        ApiError::NotFound(format!("no route for {path}")).into_response()
    }

    /// A request for a host name that is not the runner's: a page that rebound its own DNS name
    /// to this address to read the outbox or decide drafts. Answered 421, nothing done.
    fn foreign_host(&self, req: &Request) -> Option<Response> {
        let host = http::header(req.headers(), "host")?
            .trim()
            .to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default().to_string(),
            None => host
                .rsplit_once(':')
                .map_or(host.as_str(), |(h, _)| h)
                .to_string(),
        };
        let known = name == "localhost"
            || name.parse::<std::net::IpAddr>().is_ok()
            || self.own_host.as_deref() == Some(name.as_str());
        if known {
            return None;
        }
        Some(http::json_response(
            StatusCode::MISDIRECTED_REQUEST,
            &serde_json::json!({ "error": format!(
                "this runner does not answer to the host name `{}`: open it at its own address, \
                 or set PUBLIC_BASE_URL to the name you use",
                name.chars().take(100).collect::<String>()
            ) }),
        ))
    }

    /// The runner's own call to its sample CRM API (with the token only it knows).
    fn is_own_sample_call(&self, req: &Request, path: &str) -> bool {
        let Some(token) = self.sample_token.as_deref() else {
            return false;
        };
        path.starts_with("/dev/hubspot")
            && http::header(req.headers(), "authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
                .is_some_and(|t| t == token)
    }

    async fn dev(&self, req: Request) -> Result<Response, ApiError> {
        // A page of another site cannot move the clock or run the sweep either.
        if req.method() == ::http::Method::POST {
            http::require_own_origin(req.headers(), &self.review.public_base_url)?;
        }
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        self.drain().await;
        match (method.as_str(), path.as_str()) {
            ("GET", "/dev/clock") => Ok(ok_json(json!({ "now": self.clock.now() }))),
            ("POST", "/dev/clock") => {
                let mv: ClockMove = serde_json::from_slice(req.body()).map_err(|e| {
                    ApiError::bad_request(format!(
                        "expected {{\"advance_secs\": N}} or {{\"now\": \"<RFC 3339>\"}}: {e}"
                    ))
                })?;
                let offset = match (mv.advance_secs, mv.now) {
                    (Some(secs), None) => self.clock.advance(SignedDuration::from_secs(secs)),
                    (None, Some(now)) => {
                        let to: Timestamp = now.parse().map_err(|e| {
                            ApiError::bad_request(format!("`now` is not an RFC 3339 time: {e}"))
                        })?;
                        self.clock.set(to)
                    }
                    _ => {
                        return Err(ApiError::bad_request(
                            "give exactly one of `advance_secs` or `now`",
                        ))
                    }
                };
                self.store
                    .meta_set(CLOCK_OFFSET_KEY, &offset.as_millis().to_string())
                    .map_err(|e| ApiError::Transient(e.into()))?;
                Ok(ok_json(json!({ "now": self.clock.now() })))
            }
            ("POST", "/dev/sweep") => {
                let summary = self
                    .sweeper
                    .run()
                    .await
                    .map_err(|e| ApiError::Transient(e.into()))?;
                self.drain().await;
                let pending = self.pending_drafts().await;
                Ok(ok_json(
                    json!({ "sweep": summary, "pending_drafts": pending }),
                ))
            }
            ("POST", "/dev/sync") => {
                let summary = self.syncer.run().await;
                let mailboxes = self.mail.upkeep(&self.intake).await;
                self.drain().await;
                Ok(ok_json(json!({ "sync": summary, "mailboxes": mailboxes })))
            }
            ("GET", "/dev/outbox") => {
                let entries = self
                    .store
                    .outbox_entries()
                    .map_err(|e| ApiError::Transient(e.into()))?;
                Ok(ok_json(
                    serde_json::to_value(entries).expect("serialisable"),
                ))
            }
            ("GET", "/dev/events") => {
                let events = self
                    .store
                    .published_events()
                    .map_err(|e| ApiError::Transient(e.into()))?;
                Ok(ok_json(serde_json::Value::Array(
                    events
                        .into_iter()
                        .map(|e| json!({ "detail-type": e.detail_type, "source": "draftgate", "detail": e.detail }))
                        .collect(),
                )))
            }
            ("GET", "/dev/crm-requests") => Ok(ok_json(self.dev_crm_requests())),
            ("GET", "/dev/audit") => {
                let entries = self
                    .audit
                    .entries(None)
                    .await
                    .map_err(|e| ApiError::Transient(e.into()))?;
                Ok(ok_json(
                    serde_json::to_value(entries).expect("serialisable"),
                ))
            }
            (
                _,
                "/dev/clock" | "/dev/sweep" | "/dev/sync" | "/dev/outbox" | "/dev/audit"
                | "/dev/events" | "/dev/crm-requests",
            ) => Err(ApiError::MethodNotAllowed(format!(
                "{method} {path} is not supported"
            ))),
            _ => Err(ApiError::NotFound(format!("no dev route {path}"))),
        }
    }

    /// The writes the sample's HubSpot API received (CRM write-back), oldest first.
    fn dev_crm_requests(&self) -> serde_json::Value {
        self.store
            .meta_get(DEV_CRM_REQUESTS)
            .ok()
            .flatten()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| json!([]))
    }

    /// The sample HubSpot API takes writes (PATCH a deal, POST a note, email or task) and
    /// records each, as a CRM would apply it.
    fn dev_crm_write(&self, req: &Request, path: &str) -> Response {
        let body: serde_json::Value = match serde_json::from_slice(req.body()) {
            Ok(v) => v,
            Err(e) => return ApiError::bad_request(format!("not JSON: {e}")).into_response(),
        };
        let mut all = self.dev_crm_requests();
        let list = all.as_array_mut().expect("an array");
        let id = format!("dev-{}", list.len() + 1);
        list.push(json!({ "method": req.method().as_str(), "path": format!("/crm/v3{}", path.trim_start_matches("/crm/v3")), "body": body }));
        if let Err(e) = self.store.meta_set(DEV_CRM_REQUESTS, &all.to_string()) {
            return ApiError::Transient(e.into()).into_response();
        }
        let answer =
            json!({ "id": id, "properties": body.get("properties").cloned().unwrap_or(json!({})) });
        http::json_response(StatusCode::OK, &answer)
    }

    pub async fn pending_drafts(&self) -> usize {
        self.intake
            .core
            .store
            .drafts_by_status(shared::domain::DraftStatus::Pending, None, 10_000)
            .await
            .map(|d| d.len())
            .unwrap_or(0)
    }

    pub async fn drain(&self) {
        self.workers.drain().await;
    }

    pub(crate) async fn load_sample_if_empty(&self) -> Result<usize, String> {
        let c = &self.intake.core;
        if !c
            .store
            .all_deals(1)
            .await
            .map_err(|e| e.to_string())?
            .is_empty()
        {
            return Ok(0);
        }
        let now = self.clock.now();
        let events = self.sample.events(now);
        for e in &events {
            shared::app::record_event(&*c.store, &*c.audit, &c.config, &*c.clock, e, "sample")
                .await
                .map_err(|err| format!("loading the sample pipeline failed: {err}"))?;
        }
        Ok(self.sample.deals.len())
    }
}
