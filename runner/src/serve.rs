//! `draftgate serve`: settle the settings (refusing an exposed start on published secrets), open
//! the store, build the services on the chosen backend, print what runs where, then serve and
//! work the queues until stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use shared::adapters::clock::OffsetClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::assembly::{Adapters, Services, Settings as AssembledSettings};
use shared::config::settings::Env;
use shared::config::Config;
use shared::http;
use shared::ports::{Clock, EventPublisher, Notifier, PipelineStore, Sender};
use shared::providers::hubspot::HubSpotClient;
use shared::providers::{CrmApis, Providers};
use shared::secret::Secret;
use shared::tokens::TokenSigner;

use crate::sample::Sample;
use crate::server::{
    dispatch, load_config, runner_clock, Backend, Runner, PUBLIC_BASE_URL_KEY, SIGNING_KEY_KEY,
    SWEEP_EVERY,
};
use crate::workers::Workers;

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

/// What the start-up banner says about settings left to their development values.
type Notes = Vec<String>;

pub async fn serve(options: ServeOptions) -> Result<(), String> {
    let config = Arc::new(load_config(options.config_path.as_ref())?);
    let env = Env::new();
    let mut notes = Notes::new();
    // Reachable from other machines: the development secrets the README prints would let
    // anyone post webhooks, and the dev routes would hand out every review link.
    let exposed = !options.addr.ip().is_loopback();
    let dev_routes = options.dev_routes || !exposed;
    let providers = webhook_providers(options.addr, exposed, &mut notes)?;
    let store = EmbeddedStore::open(&options.data)
        .map_err(|e| format!("cannot open the store in {}: {e}", options.data.display()))?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let clock = runner_clock(&store);
    let signing_key = signing_key(&env, &store, &mut notes)?;
    let public_base_url = public_base_url(&env, addr, &mut notes);
    // `draftgate link --data …` names this runner's address, whatever port it listens on.
    if let Err(e) = store.meta_set(PUBLIC_BASE_URL_KEY, &public_base_url) {
        tracing::warn!(error = %e, "the runner's address is not kept for `draftgate link`");
    }
    let settings = Settings {
        env,
        addr,
        dev_routes,
        public_base_url,
        tokens: TokenSigner::new(signing_key),
    };
    let runner = Arc::new(
        build_runner(
            &settings, &options, config, providers, store, clock, &mut notes,
        )
        .await?,
    );

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

    let loaded = if options.load_sample {
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
    print_banner(&runner, &settings, &options, &notes, loaded, exposed).await;
    work_in_background(&runner);

    tokio::select! {
        r = server => r.map_err(|e| e.to_string())?.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => {
            println!("draftgate runner stopped");
            Ok(())
        }
    }
}

/// What every service of the runner is built with.
struct Settings {
    env: Env,
    /// The address the runner listens on (the port chosen, if 0 was asked).
    addr: SocketAddr,
    dev_routes: bool,
    public_base_url: String,
    tokens: TokenSigner,
}

/// Every webhook source, each with its secret from the environment. On a loopback address an
/// unset secret is the development value the README prints; on any other address a secret unset
/// or set to that value refuses the start, and one set empty turns its source off.
fn webhook_providers(
    addr: SocketAddr,
    exposed: bool,
    notes: &mut Notes,
) -> Result<Providers, String> {
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
                notes.push(format!("{} not set: using a development value", spec.env));
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
    Ok(providers)
}

/// `DRAFTGATE_SIGNING_KEY`, else a development key kept in the data directory (so review links
/// stay valid across restarts of the same data directory).
fn signing_key(env: &Env, store: &EmbeddedStore, notes: &mut Notes) -> Result<Secret, String> {
    if let Some(k) = env.optional("DRAFTGATE_SIGNING_KEY") {
        return Ok(Secret::new(k));
    }
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
    notes.push(
        "DRAFTGATE_SIGNING_KEY not set: using a development key kept in the data directory".into(),
    );
    Ok(Secret::new(key))
}

/// `PUBLIC_BASE_URL`, else the address the runner listens on.
fn public_base_url(env: &Env, addr: SocketAddr, notes: &mut Notes) -> String {
    env.optional("PUBLIC_BASE_URL").unwrap_or_else(|| {
        if addr.ip().is_unspecified() {
            notes.push(format!(
                "PUBLIC_BASE_URL not set: links name http://{addr}, which other devices cannot \
                 open; set it to the address they use (e.g. http://192.168.1.20:{})",
                addr.port()
            ));
        }
        format!("http://{addr}")
    })
}

/// HubSpot's API: `HUBSPOT_ACCESS_TOKEN` (and `HUBSPOT_API_BASE_URL`), else the sample pipeline's
/// API on the runner itself, with a token only this runner knows (the third value): with the dev
/// routes off, only the runner reads (and writes) the sample pipeline.
fn hubspot_api(settings: &Settings, notes: &mut Notes) -> (String, Secret, Option<String>) {
    let env = &settings.env;
    match (
        env.optional("HUBSPOT_API_BASE_URL"),
        env.optional("HUBSPOT_ACCESS_TOKEN"),
    ) {
        (base, Some(token)) => (
            base.unwrap_or_else(|| "https://api.hubapi.com".into()),
            Secret::new(token),
            None,
        ),
        (Some(base), None) => (base, Secret::new("dev-token"), None),
        (None, None) => {
            let sample_token = format!("{}{}", ulid::Ulid::new(), ulid::Ulid::new());
            notes.push(if settings.dev_routes {
                "HUBSPOT_ACCESS_TOKEN not set: deal details come from the sample pipeline at /dev/hubspot".into()
            } else {
                "HUBSPOT_ACCESS_TOKEN not set: deal details come from the sample pipeline (read by the runner itself)".into()
            });
            // The runner's own address, over loopback: PUBLIC_BASE_URL may name a tunnel or a
            // proxy in front, and an exposed runner answers /dev/hubspot to loopback only.
            let addr = settings.addr;
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
                Some(sample_token),
            )
        }
    }
}

/// The pipeline, audit log, queues and bus: the embedded store, or DynamoDB, SQS and
/// EventBridge (`--aws`).
async fn backend(
    aws: bool,
    env: &Env,
    clock: Arc<dyn Clock>,
    store: &Arc<EmbeddedStore>,
    notes: &mut Notes,
) -> Result<Backend, String> {
    if !aws {
        let (evaluate_q, draft_q, writes_q) = (
            store.queue("evaluate"),
            store.queue("drafts"),
            store.queue("crm-writes"),
        );
        return Ok(Backend {
            adapters: Adapters::embedded(store, clock),
            audit: store.clone(),
            evaluate_q,
            draft_q,
            writes_q,
        });
    }
    let b = crate::aws::backend(|name| env.optional(name)).await?;
    for note in &b.notes {
        notes.push(format!("AWS: {note}"));
    }
    let events: Arc<dyn EventPublisher> = Arc::new(crate::aws::Published {
        bus: b.bus,
        local: store.clone(),
    });
    Ok(Backend {
        adapters: Adapters {
            evaluate_queue: Some(b.evaluate_q.clone()),
            draft_queue: Some(b.draft_q.clone()),
            crm_writes: Some(b.writes_q.clone()),
            events: Some(events),
            ..Adapters::new(b.store, b.audit.clone(), clock)
        },
        audit: b.audit,
        evaluate_q: b.evaluate_q,
        draft_q: b.draft_q,
        writes_q: b.writes_q,
    })
}

/// The CRM APIs configured in the environment (Pipedrive, …), HubSpot's always (the sample
/// pipeline's data when no token is set): readers by CRM name, and the same APIs as writers of
/// approved changes (HubSpot's sample API records them at GET /dev/crm-requests).
fn crm_apis(env: &Env, hubspot_base: &str, hubspot_token: Secret, notes: &mut Notes) -> CrmApis {
    let mut apis = CrmApis::from_settings(|name| env.optional(name));
    for source in &apis.sources {
        notes.push(format!(
            "{} API configured: POST /dev/sync reads its deals",
            source.crm()
        ));
    }
    let hubspot = Arc::new(HubSpotClient::new(hubspot_base, hubspot_token));
    apis.clients.insert("hubspot".into(), hubspot.clone());
    apis.writers.insert("hubspot".into(), hubspot);
    apis
}

/// The mail sender: the outbox, or with `MAIL_SENDER` the founder's mailbox (each message also
/// recorded in the outbox).
fn mail_sender(
    env: &Env,
    mail_setting: &dyn Fn(&str) -> Option<String>,
    outbox: Arc<shared::adapters::embedded::Outbox>,
    notes: &mut Notes,
) -> Result<Arc<dyn Sender>, String> {
    let Some(kind) = env.optional("MAIL_SENDER") else {
        return Ok(outbox);
    };
    let kind = shared::adapters::mailbox::MailSender::parse(&kind)?;
    Ok(
        match shared::adapters::mailbox::sender(kind, mail_setting)? {
            None => outbox,
            Some(mailbox) => {
                notes.push(format!(
                "MAIL_SENDER={kind:?}: approved mail is sent through the mailbox API and recorded in the outbox"
            ));
                Arc::new(crate::connect::Recorded { mailbox, outbox })
            }
        },
    )
}

/// The founder hears through the outbox, and through draftgate's Slack bot when
/// `SLACK_BOT_TOKEN` and `SLACK_CHANNEL` are set (its buttons answer at /slack/interactivity).
fn notifier(
    env: &Env,
    store: Arc<dyn PipelineStore>,
    outbox: Arc<shared::adapters::embedded::Outbox>,
    notes: &mut Notes,
) -> Arc<dyn Notifier> {
    let (Some(token), Some(channel)) = (
        env.optional("SLACK_BOT_TOKEN"),
        env.optional("SLACK_CHANNEL"),
    ) else {
        return outbox;
    };
    notes.push(format!(
        "Slack bot posts drafts to {channel}; buttons answer at POST /slack/interactivity"
    ));
    let bot = shared::adapters::slack::SlackBot::new(
        &env.optional("SLACK_API_BASE_URL")
            .unwrap_or_else(|| shared::adapters::slack::SLACK_API.into()),
        Secret::new(token),
        channel,
        store,
    );
    Arc::new(shared::adapters::fanout::Fanout(vec![
        outbox,
        Arc::new(bot),
    ]))
}

/// Every service of the runner on its backend, with the founder's mailbox (settings from the
/// environment, then the grants `draftgate connect` saved in the data directory).
async fn build_runner(
    settings: &Settings,
    options: &ServeOptions,
    config: Arc<Config>,
    providers: Providers,
    store: Arc<EmbeddedStore>,
    clock: Arc<OffsetClock>,
    notes: &mut Notes,
) -> Result<Runner, String> {
    let env = &settings.env;
    let public_base_url = &settings.public_base_url;
    let (hubspot_base, hubspot_token, sample_token) = hubspot_api(settings, notes);
    let clock_port: Arc<dyn Clock> = clock.clone();
    let Backend {
        adapters,
        audit,
        evaluate_q,
        draft_q,
        writes_q,
    } = backend(options.aws, env, clock_port.clone(), &store, notes).await?;
    let outbox = store.outbox(clock_port);
    let apis = crm_apis(env, &hubspot_base, hubspot_token, notes);
    let tokens_file = crate::connect::TokenFile::load(&options.data)?;
    if !tokens_file.is_empty() {
        notes.push(format!(
            "mailbox grants read from {}",
            crate::connect::TokenFile::path(&options.data).display()
        ));
    }
    let mail_setting = |name: &str| env.optional(name).or_else(|| tokens_file.get(name));
    let mailboxes = shared::adapters::mailbox::readers(&mail_setting, public_base_url);
    for m in &mailboxes {
        notes.push(format!(
            "{} mailbox connected: replies pushed to POST /webhooks/{} are read from its API",
            m.name(),
            m.name()
        ));
    }
    let drafting = shared::assembly::DraftingSetup::read(&config, &|name| env.optional(name))
        .map_err(|e| {
            format!("refusing to start: [drafting], with the environment's DRAFTING_* and OPENAI_BASE_URL: {e} (draftgate check-config shows each problem with its line)")
        })?;
    let writer = drafting.writer().await?;
    if let Some(base) = drafting.drafting.base_url.as_deref().filter(|b| {
        drafting.drafting.engine == shared::config::Engine::Openai
            && !b.trim_end_matches('/').ends_with("/v1")
    }) {
        notes.push(format!(
            "the model's endpoint {base} does not end in /v1: draftgate calls {}/chat/completions (Ollama, llama.cpp and vLLM serve it under /v1)",
            base.trim_end_matches('/')
        ));
    }
    if let Some(writer) = &writer {
        notes.push(format!(
            "drafts are written by the model {} (engine {}, at most {} model calls a day); every fact is checked, and the template's draft stands when one does not pass",
            writer.model(),
            drafting.drafting.engine.name(),
            drafting.drafting.daily_calls,
        ));
    }
    let events = adapters.events.clone().unwrap_or_else(|| store.clone());
    let adapters = Adapters {
        // Won and lost deals also go to the write-back queue, as the template's rule routes them.
        events: Some(Arc::new(crate::workers::Bus {
            events,
            crm_writes: writes_q.clone(),
        })),
        sender: Some(mail_sender(env, &mail_setting, outbox.clone(), notes)?),
        notifier: Some(notifier(env, adapters.store.clone(), outbox, notes)),
        mailboxes,
        writer,
        ..adapters.with_crm_apis(apis)
    };
    let services = Services::build(
        adapters,
        AssembledSettings {
            public_base_url: public_base_url.clone(),
            providers,
            tokens: Some(settings.tokens.clone()),
            slack_signing_secret: env.optional("SLACK_SIGNING_SECRET").map(Secret::new),
            drafting: drafting.drafting,
            ..AssembledSettings::new(config)
        },
    );
    Ok(Runner {
        mail: services.mail_intake(),
        intake: services.intake(),
        sweeper: services.sweeper(),
        syncer: services.syncer(),
        workers: Workers {
            evaluate_q,
            draft_q,
            evaluator: services.evaluator(),
            drafter: services.drafter(),
            writeback: Some((writes_q, services.writeback())),
        },
        review: services.review(),
        store,
        audit,
        clock,
        sample: Sample::bundled(),
        dev_routes: settings.dev_routes,
        sample_token,
        own_host: own_host(public_base_url),
    })
}

/// The host name `PUBLIC_BASE_URL` names (without port or IPv6 brackets).
fn own_host(public_base_url: &str) -> Option<String> {
    http::origin_of(public_base_url).map(|o| {
        let host = o.split("://").nth(1).unwrap_or_default();
        match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default().to_string(),
            None => host.split(':').next().unwrap_or_default().to_string(),
        }
    })
}

/// What runs where: the config, the data, the notes, the review queue and the dev routes.
async fn print_banner(
    runner: &Runner,
    settings: &Settings,
    options: &ServeOptions,
    notes: &Notes,
    loaded: usize,
    exposed: bool,
) {
    let addr = settings.addr;
    let public_base_url = &settings.public_base_url;
    println!("draftgate runner listening on http://{addr}");
    println!(
        "  config: {}",
        options
            .config_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "bundled config/draftgate.toml".into())
    );
    if options.aws {
        println!(
            "  data:   DynamoDB, SQS and EventBridge; {} keeps the outbox and dev settings",
            options.data.display()
        );
    } else {
        println!(
            "  data:   {} (embedded store; survives restarts)",
            options.data.display()
        );
    }
    for note in notes {
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
    } else if settings.dev_routes {
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
}

/// The queue workers, and the sweep and mailbox upkeep every minute.
fn work_in_background(runner: &Arc<Runner>) {
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
}
