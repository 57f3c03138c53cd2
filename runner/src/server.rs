//! The runner's process: the deployed routes plus the dev routes, every queue consumer as an
//! in-process worker, and the sweep on a timer, all on one embedded store.

use std::collections::HashMap;
use std::net::SocketAddr;
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
use shared::app::drafts::Drafter;
use shared::app::evaluate::Evaluator;
use shared::app::review::Review;
use shared::app::sweep::Sweeper;
use shared::app::sync::Syncer;
use shared::app::Core;
use shared::config::settings::Env;
use shared::config::Config;
use shared::http::{self, ApiError, Request, Response, StatusCode};
use shared::ports::{AuditReader, Clock, CrmClient};
use shared::providers::hubspot::HubSpotClient;
use shared::providers::intake::Intake;
use shared::providers::mail_intake::MailIntake;
use shared::providers::Providers;
use shared::secret::Secret;
use shared::tokens::TokenSigner;

use crate::sample::Sample;
use crate::workers::{WorkQueue, Workers};

pub const CLOCK_OFFSET_KEY: &str = "clock_offset_ms";
pub const SIGNING_KEY_KEY: &str = "dev_signing_key";
/// The scheduled sweep's period on the runner (EventBridge runs it every 15 minutes in AWS).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

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
struct Backend {
    core: Core,
    audit: Arc<dyn AuditReader>,
    evaluate_q: Arc<dyn WorkQueue>,
    draft_q: Arc<dyn WorkQueue>,
    writes_q: Arc<dyn WorkQueue>,
    events: Arc<dyn shared::ports::EventPublisher>,
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
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

/// How `draftgate serve` was asked to run.
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub data: PathBuf,
    pub config_path: Option<PathBuf>,
    pub load_sample: bool,
    pub aws: bool,
    /// Serve `/dev/*` on a non-loopback address too.
    pub dev_routes: bool,
}

pub async fn serve(options: ServeOptions) -> Result<(), String> {
    let ServeOptions {
        addr,
        data,
        config_path,
        load_sample,
        aws,
        dev_routes,
    } = options;
    let config = Arc::new(load_config(config_path.as_ref())?);
    let env = Env::new();
    let mut dev_notes = Vec::new();
    // Reachable from other machines: the development secrets the README prints would let
    // anyone post webhooks, and the dev routes would hand out every review link.
    let exposed = !addr.ip().is_loopback();
    let dev_routes = dev_routes || !exposed;
    let mut published = Vec::new();
    let providers = Providers::build(&Providers::all_names(), |spec| {
        match std::env::var(spec.env) {
            // Set to the very value the README prints: as good as unset.
            Ok(v) if exposed && v.trim() == spec.dev => {
                published.push(spec.env);
                Some(Secret::new(v))
            }
            Ok(v) if !v.trim().is_empty() => Some(Secret::new(v)),
            // Set but empty: on an exposed runner that source is off (401 "not configured").
            Ok(_) if exposed => None,
            _ => {
                if exposed {
                    published.push(spec.env);
                }
                dev_notes.push(format!("{} not set: using a development value", spec.env));
                Some(Secret::new(spec.dev))
            }
        }
    });
    if !published.is_empty() {
        return Err(format!(
            "{addr} is not a loopback address, and these secrets are unset or hold the \
             development values the README prints: {}. Set each to your real secret, or set it \
             empty to turn that source off (e.g. `{}= draftgate serve --addr {addr}`), or serve \
             on 127.0.0.1",
            published.join(", "),
            published[0]
        ));
    }
    let store = EmbeddedStore::open(&data)
        .map_err(|e| format!("cannot open the store in {}: {e}", data.display()))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    let clock = runner_clock(&store);

    let signing_key = match env.optional("DRAFTGATE_SIGNING_KEY") {
        Some(k) => Secret::new(k),
        None => {
            // Persisted so review links stay valid across restarts of the same data directory.
            let key = match store.meta_get(SIGNING_KEY_KEY).map_err(|e| e.to_string())? {
                Some(k) => k,
                None => {
                    let k = format!("{}{}", ulid::Ulid::new(), ulid::Ulid::new());
                    store
                        .meta_set(SIGNING_KEY_KEY, &k)
                        .map_err(|e| e.to_string())?;
                    k
                }
            };
            dev_notes.push(
                "DRAFTGATE_SIGNING_KEY not set: using a development key kept in the data directory"
                    .into(),
            );
            Secret::new(key)
        }
    };
    let public_base_url = env.optional("PUBLIC_BASE_URL").unwrap_or_else(|| {
        if addr.ip().is_unspecified() {
            dev_notes.push(format!(
                "PUBLIC_BASE_URL not set: links name http://{addr}, which other devices cannot \
                 open; set it to the address they use (e.g. http://192.168.1.20:{})",
                addr.port()
            ));
        }
        format!("http://{addr}")
    });
    // The sample CRM API's token: only this runner knows it, so with the dev routes off only the
    // runner itself reads (and writes) the sample pipeline.
    let mut sample_token = None;
    let (hubspot_base, hubspot_token) = match (
        env.optional("HUBSPOT_API_BASE_URL"),
        env.optional("HUBSPOT_ACCESS_TOKEN"),
    ) {
        (base, Some(token)) => (
            base.unwrap_or_else(|| "https://api.hubapi.com".into()),
            Secret::new(token),
        ),
        (Some(base), None) => (base, Secret::new("dev-token")),
        (None, None) => {
            sample_token = Some(format!("{}{}", ulid::Ulid::new(), ulid::Ulid::new()));
            dev_notes.push(if dev_routes {
                "HUBSPOT_ACCESS_TOKEN not set: deal details come from the sample pipeline at /dev/hubspot".into()
            } else {
                "HUBSPOT_ACCESS_TOKEN not set: deal details come from the sample pipeline (read by the runner itself)".into()
            });
            // The runner's own address, over loopback: PUBLIC_BASE_URL may name a tunnel or a
            // proxy in front, and an exposed runner answers /dev/hubspot to loopback only.
            let own = SocketAddr::new(
                match addr.ip() {
                    std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
                        std::net::Ipv4Addr::LOCALHOST.into()
                    }
                    std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
                        std::net::Ipv6Addr::LOCALHOST.into()
                    }
                    ip => ip,
                },
                addr.port(),
            );
            (
                format!("http://{own}/dev/hubspot"),
                Secret::new("dev-token"),
            )
        }
    };

    let clock_port: Arc<dyn Clock> = clock.clone();
    // The pipeline, audit log, queues and bus: the embedded store, or DynamoDB, SQS and
    // EventBridge (`--aws`).
    let Backend {
        core,
        audit: audit_reader,
        evaluate_q,
        draft_q,
        writes_q,
        events,
    } = if aws {
        let b = crate::aws::backend(|name| env.optional(name)).await?;
        for note in &b.notes {
            dev_notes.push(format!("AWS: {note}"));
        }
        Backend {
            core: Core {
                config: config.clone(),
                store: b.store,
                audit: b.audit.clone(),
                clock: clock_port.clone(),
            },
            audit: b.audit,
            evaluate_q: b.evaluate_q,
            draft_q: b.draft_q,
            writes_q: b.writes_q,
            events: Arc::new(crate::aws::Published {
                bus: b.bus,
                local: store.clone(),
            }),
        }
    } else {
        Backend {
            core: Core {
                config: config.clone(),
                store: store.clone(),
                audit: store.clone(),
                clock: clock_port.clone(),
            },
            audit: store.clone(),
            evaluate_q: store.queue("evaluate"),
            draft_q: store.queue("drafts"),
            writes_q: store.queue("crm-writes"),
            events: store.clone(),
        }
    };
    let outbox = store.outbox(clock_port.clone());
    let tokens = TokenSigner::new(signing_key);
    // The CRM APIs configured in the environment (Pipedrive, …); HubSpot falls back to the
    // sample pipeline's data.
    let apis = shared::providers::CrmApis::from_settings(|name| env.optional(name));
    let mut crm: HashMap<String, Arc<dyn CrmClient>> = apis.clients.clone();
    let hubspot = Arc::new(HubSpotClient::new(&hubspot_base, hubspot_token));
    crm.insert("hubspot".into(), hubspot.clone());
    // Approved changes are written back through the same APIs (HubSpot: the sample's dev API,
    // which records them at GET /dev/crm-requests, unless a token is set).
    let mut writers = apis.writers.clone();
    writers.insert("hubspot".into(), hubspot);
    let bus: Arc<dyn shared::ports::EventPublisher> = Arc::new(crate::workers::Bus {
        events: events.clone(),
        crm_writes: writes_q.clone(),
    });
    for source in &apis.sources {
        dev_notes.push(format!(
            "{} API configured: POST /dev/sync reads its deals",
            source.crm()
        ));
    }

    // The founder's mailbox: settings from the environment, then the tokens `draftgate connect`
    // saved in the data directory.
    let tokens_file = crate::connect::TokenFile::load(&data)?;
    if !tokens_file.is_empty() {
        dev_notes.push(format!(
            "mailbox grants read from {}",
            crate::connect::TokenFile::path(&data).display()
        ));
    }
    let mail_setting = |name: &str| env.optional(name).or_else(|| tokens_file.get(name));
    let mailboxes = shared::adapters::mailbox::readers(&mail_setting, &public_base_url);
    for m in &mailboxes {
        dev_notes.push(format!(
            "{} mailbox connected: replies pushed to POST /webhooks/{} are read from its API",
            m.name(),
            m.name()
        ));
    }
    let sender: Arc<dyn shared::ports::Sender> = match env.optional("MAIL_SENDER") {
        None => outbox.clone(),
        Some(kind) => {
            let kind = shared::adapters::mailbox::MailSender::parse(&kind)?;
            match shared::adapters::mailbox::sender(kind, &mail_setting)? {
                None => outbox.clone(),
                Some(mailbox) => {
                    dev_notes.push(format!(
                        "MAIL_SENDER={kind:?}: approved mail is sent through the mailbox API and recorded in the outbox"
                    ));
                    Arc::new(crate::connect::Recorded {
                        mailbox,
                        outbox: outbox.clone(),
                    })
                }
            }
        }
    };

    // Slack: draftgate's bot posts drafts with buttons when SLACK_BOT_TOKEN and SLACK_CHANNEL
    // are set; its presses arrive at /slack/interactivity.
    let slack_signing_secret = env.optional("SLACK_SIGNING_SECRET").map(Secret::new);
    let notifier: Arc<dyn shared::ports::Notifier> = match (
        env.optional("SLACK_BOT_TOKEN"),
        env.optional("SLACK_CHANNEL"),
    ) {
        (Some(token), Some(channel)) => {
            dev_notes.push(format!(
                "Slack bot posts drafts to {channel}; buttons answer at POST /slack/interactivity"
            ));
            let bot = shared::adapters::slack::SlackBot::new(
                &env.optional("SLACK_API_BASE_URL")
                    .unwrap_or_else(|| "https://slack.com/api".into()),
                Secret::new(token),
                channel,
                core.store.clone(),
            );
            Arc::new(shared::adapters::fanout::Fanout(vec![
                outbox.clone(),
                Arc::new(bot),
            ]))
        }
        _ => outbox.clone(),
    };

    let runner = Arc::new(Runner {
        mail: MailIntake { mailboxes },
        intake: Intake {
            core: core.clone(),
            providers,
            crm,
            public_base_url: public_base_url.clone(),
            events: bus.clone(),
        },
        sweeper: Sweeper {
            core: core.clone(),
            evaluate_queue: evaluate_q.clone(),
            draft_queue: draft_q.clone(),
        },
        syncer: Syncer {
            core: core.clone(),
            sources: apis.sources,
            events: bus.clone(),
        },
        workers: Workers {
            evaluate_q: evaluate_q.clone(),
            draft_q: draft_q.clone(),
            evaluator: Evaluator {
                core: core.clone(),
                draft_queue: draft_q.clone(),
            },
            drafter: Drafter {
                core: core.clone(),
                notifier: notifier.clone(),
                crm_writes: writes_q.clone(),
                tokens: tokens.clone(),
                public_base_url: public_base_url.clone(),
            },
            writeback: Some((
                writes_q.clone(),
                shared::app::writeback::CrmWriteback {
                    core: core.clone(),
                    writers,
                },
            )),
        },
        review: Review {
            core,
            sender,
            notifier,
            slack_signing_secret,
            events,
            crm_writes: writes_q.clone(),
            tokens,
            public_base_url: public_base_url.clone(),
        },
        store,
        audit: audit_reader,
        clock,
        sample: Sample::bundled(),
        dev_routes,
        sample_token,
        own_host: http::origin_of(&public_base_url).map(|o| {
            let host = o.split("://").nth(1).unwrap_or_default();
            match host.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or_default().to_string(),
                None => host.split(':').next().unwrap_or_default().to_string(),
            }
        }),
    });

    let app = axum::Router::new()
        .fallback(dispatch)
        .with_state(runner.clone());
    // Start (or renew) the mailbox watches before taking requests, so the first push finds its
    // position; a mailbox API that does not answer is retried on the timer.
    if tokio::time::timeout(Duration::from_secs(15), runner.mail.upkeep(&runner.intake))
        .await
        .is_err()
    {
        tracing::warn!("mailbox watch not started yet: the API did not answer in time");
    }
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let loaded = if load_sample {
        runner.load_sample_if_empty().await?
    } else {
        0
    };
    runner
        .sweeper
        .run()
        .await
        .map_err(|e| format!("initial sweep failed: {e}"))?;

    runner.drain().await;

    println!("draftgate runner listening on http://{addr}");
    println!(
        "  config: {}",
        config_path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "bundled config/draftgate.toml".into())
    );
    if aws {
        println!(
            "  data:   DynamoDB, SQS and EventBridge; {} keeps the outbox and dev settings",
            data.display()
        );
    } else {
        println!(
            "  data:   {} (embedded store; survives restarts)",
            data.display()
        );
    }
    for note in &dev_notes {
        println!("  note:   {note}");
    }
    if loaded > 0 {
        println!("  loaded the sample pipeline: {loaded} deals");
    }
    let pending = runner.pending_drafts().await;
    println!("  drafts waiting for review: {pending}");
    println!("  review queue: {}", runner.review.queue_url());
    if !exposed {
        println!("  outbox:       {public_base_url}/dev/outbox");
        println!("  dev routes:   on (/dev/*, served on this loopback address only)");
    } else if dev_routes {
        println!("  outbox:       {public_base_url}/dev/outbox");
        println!(
            "  dev routes:   ON on {addr} (--dev-routes): anyone who reaches this address can \
             read every review link at /dev/outbox and move the clock"
        );
    } else {
        println!(
            "  dev routes:   off ({addr} is not a loopback address; --dev-routes serves them)"
        );
    }

    let worker = runner.clone();
    tokio::spawn(async move {
        loop {
            if worker.workers.process_once().await == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let sweeper = runner.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            if let Err(e) = sweeper.sweeper.run().await {
                tracing::warn!(error = %e, "scheduled sweep failed");
            }
            sweeper.mail.upkeep(&sweeper.intake).await;
        }
    });

    tokio::select! {
        r = server => r.map_err(|e| e.to_string())?.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => {
            println!("draftgate runner stopped");
            Ok(())
        }
    }
}

async fn dispatch(
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

    async fn load_sample_if_empty(&self) -> Result<usize, String> {
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
