//! `draftgate`: the local runner. Every function's handler in one process, on an embedded
//! durable store, with in-process queues, a movable clock and an outbox instead of SES.

// A command-line tool: printing to the terminal and exit codes are its interface.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod aws;
mod connect;
mod explain;
mod import;
mod link;
mod replay;
mod sample;
mod serve;
mod server;
mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "draftgate",
    version,
    about = "draftgate local runner and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webhook, review and dev routes, on an embedded store (or, with --aws, on
    /// DynamoDB, SQS and EventBridge).
    Serve {
        /// The address to listen on; on a loopback address the dev routes are served too.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Directory of the embedded store (survives restarts).
        #[arg(long, default_value = ".draftgate")]
        data: PathBuf,
        /// Config file (templates are read relative to it). Default: config/draftgate.toml if
        /// present, else the config compiled into the binary.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Do not load the sample pipeline into an empty store.
        #[arg(long)]
        no_sample: bool,
        /// Run on DynamoDB, SQS and EventBridge through the standard AWS settings
        /// (`AWS_ENDPOINT_URL` for an emulator, or a real account) instead of the embedded
        /// store. Tables, queues and bus come from PIPELINE_TABLE, AUDIT_TABLE,
        /// EVALUATE_QUEUE_URL, DRAFT_QUEUE_URL, CRM_WRITE_QUEUE_URL and EVENT_BUS_NAME; any not
        /// set is created when absent from template.yaml's definitions, named
        /// `$DRAFTGATE_AWS_PREFIX-…` (default `draftgate-local`).
        #[arg(long)]
        aws: bool,
        /// Serve the development routes (`/dev/*`: the outbox with every review link, the
        /// clock) on a non-loopback address too. On a loopback address they always are.
        #[arg(long)]
        dev_routes: bool,
    },
    /// Validate a config file and its templates; print each problem with its location.
    /// `[drafting]` is checked as the environment completes it (DRAFTING_ENGINE,
    /// DRAFTING_MODEL, OPENAI_BASE_URL, DRAFTING_*), the way `serve` and the drafting function
    /// read it.
    CheckConfig {
        /// The config file (default: config/draftgate.toml if present, else the config
        /// compiled into the binary, as `serve` reads it).
        file: Option<PathBuf>,
    },
    /// A deployment's config: `draftgate config push FILE --to s3://BUCKET/KEY`.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// A deal's timeline and each trigger: fired, will fire (when), or will not (why).
    Explain {
        /// `crm:id`, e.g. `hubspot:9001` (a bare id means HubSpot).
        deal: String,
        /// The runner's data directory.
        #[arg(long, default_value = ".draftgate")]
        data: PathBuf,
        /// Config file (default: config/draftgate.toml if present, else the bundled one).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Read the deal from DynamoDB (a deployment, or `serve --aws`): PIPELINE_TABLE and
        /// AUDIT_TABLE, or the tables `serve --aws` made under `$DRAFTGATE_AWS_PREFIX`.
        #[arg(long)]
        aws: bool,
    },
    /// Read every open deal (first run) or what changed since the last run from each CRM API
    /// configured in the environment (`PIPEDRIVE_API_TOKEN`, …) into the store; prints a JSON
    /// summary. A second run over unchanged CRMs records nothing.
    Import {
        /// The runner's data directory.
        #[arg(long, default_value = ".draftgate")]
        data: PathBuf,
        /// Config file (default: config/draftgate.toml if present, else the bundled one).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Connect a CRM or the founder's mailbox. CRMs (for a deployment): check the API
    /// credentials, create the webhook subscriptions draftgate reads (unless they exist), and
    /// list the stage ids to map. Mailboxes: run the consent in the browser (PKCE, loopback
    /// redirect) for a read grant and a send grant, save them (the runner's data directory, or
    /// the deployment's secrets), and start the watch.
    Connect {
        /// A CRM whose registry entry has a connect step (pipedrive, close), or a mailbox
        /// (gmail, outlook).
        #[arg(value_parser = connect_targets())]
        crm: String,
        /// CRMs: the webhook URL, the stack output `PipedriveWebhookUrl` or `CloseWebhookUrl`.
        #[arg(long)]
        url: Option<String>,
        /// Mailboxes: the runner's data directory the grants are saved in (mode 0600).
        #[arg(long, default_value = ".draftgate")]
        data: PathBuf,
        /// Mailboxes: the loopback port of the consent redirect (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Mailboxes, for a deployment: the read grant's secret (stack output
        /// `MailboxReadSecretArn`); needs --send-secret too.
        #[arg(long, requires = "send_secret")]
        read_secret: Option<String>,
        /// Mailboxes, for a deployment: the send grant's secret (`MailboxSendSecretArn`).
        #[arg(long, requires = "read_secret")]
        send_secret: Option<String>,
    },
    /// Print a fresh link to the review queue for an approver (the first one by default):
    /// for the local runner (its key in --data), or a deployment (--secret, the stack's
    /// `SecretsName`, or DRAFTGATE_SIGNING_KEY; --base-url or PUBLIC_BASE_URL).
    Link {
        /// The approver the link is for (an email of the config's approvers).
        #[arg(long)]
        approver: Option<String>,
        /// A deployment: the stack's secret (output `SecretsName`) holding the signing key.
        #[arg(long)]
        secret: Option<String>,
        /// Where the link points (default: PUBLIC_BASE_URL, else the address the runner on
        /// --data last served on, else http://127.0.0.1:8080).
        #[arg(long)]
        base_url: Option<String>,
        /// The runner's data directory (its signing key and address).
        #[arg(long, default_value = ".draftgate")]
        data: PathBuf,
        /// Config file (default: config/draftgate.toml if present, else the bundled one).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run a scenario (deals and events over weeks) on a virtual clock and report.
    Replay {
        /// The scenario file (JSON; see examples/scenarios/).
        scenario: PathBuf,
        /// Config file (default: config/draftgate.toml if present, else the bundled one).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What `draftgate connect` takes: each CRM the provider registry can connect (with the
/// settings it needs), and the two mailboxes.
fn connect_targets() -> clap::builder::PossibleValuesParser {
    use clap::builder::PossibleValue;
    let mut targets: Vec<PossibleValue> = shared::providers::connectable()
        .map(|(name, step)| PossibleValue::new(name).help(step.help))
        .collect();
    targets.push(PossibleValue::new("gmail").help(
        "GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET (a Desktop-app OAuth client); GMAIL_PUBSUB_TOPIC and GMAIL_PUSH_TOKEN to start the watch",
    ));
    targets.push(PossibleValue::new("outlook").help(
        "MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET, MICROSOFT_TENANT_ID; OUTLOOK_CLIENT_STATE and PUBLIC_BASE_URL to subscribe",
    ));
    clap::builder::PossibleValuesParser::new(targets)
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate FILE exactly as check-config does and, only if it is valid, upload it with its
    /// templates as one bundle to the deployment's config object. Warm functions take it within
    /// a minute (DRAFTGATE_CONFIG_REFRESH_SECONDS); new ones at start.
    Push {
        #[arg(default_value = "config/draftgate.toml")]
        file: PathBuf,
        /// The config object, `s3://BUCKET/KEY`: the stack output `ConfigObjectUri`.
        #[arg(long, env = "DRAFTGATE_CONFIG_S3_URI")]
        to: String,
    },
}

fn print_problems(problems: &[shared::config::ConfigError]) {
    for p in problems {
        println!("{p}");
    }
    println!("{} problem(s)", problems.len());
}

fn config_push(file: &std::path::Path, to: &str) -> ExitCode {
    use shared::adapters::s3_config;
    if let Err(e) = s3_config::parse_s3_uri(to) {
        eprintln!("draftgate config push: {e}");
        return ExitCode::from(2);
    }
    let (config, bundle) = match shared::config::ConfigBundle::from_file(file) {
        Ok(ok) => ok,
        Err(problems) => {
            print_problems(&problems);
            println!("nothing uploaded");
            return ExitCode::from(1);
        }
    };
    let size = bundle.to_json().len();
    let result = runtime().block_on(async {
        let client = s3_config::client().await;
        s3_config::push(&client, to, &bundle).await
    });
    match result {
        Ok(etag) => {
            println!(
                "{}: ok ({} provider stage maps, {} templates)",
                file.display(),
                config.stages.len(),
                config.templates.all().count()
            );
            println!(
                "uploaded {to} ({} files, {size} bytes, etag {})",
                bundle.files.len(),
                etag.as_deref().unwrap_or("-")
            );
            println!("warm functions switch within their refresh interval (default 60 s); new ones load it at start");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "draftgate config push: upload to {to} failed: {}",
                shared::error::Chain(&*e)
            );
            ExitCode::from(1)
        }
    }
}

/// Whether `url` can be given to a CRM as draftgate's webhook: https (http only to this
/// machine), a host, no credentials or fragment, and the CRM's own route.
fn webhook_url_problem(crm: &str, url: &str) -> Result<(), String> {
    if url.len() > 2048 || url.chars().any(char::is_control) {
        return Err(
            "must be one URL of at most 2048 characters, without control characters".into(),
        );
    }
    let parsed = url::Url::parse(url)
        .map_err(|e| format!("must be the webhook's full URL (a stack output): {e}"))?;
    let loopback = parsed.host_str() == Some("localhost")
        || parsed
            .host_str()
            .and_then(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(
                "must be https (the CRM would send its webhook credentials in the clear)".into(),
            )
        }
        other => return Err(format!("must be https, not {other}")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("names no host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if parsed.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    let route = format!("/webhooks/{crm}");
    if !parsed.path().ends_with(&route) {
        return Err(format!("must be {crm}'s webhook URL, ending in {route}"));
    }
    Ok(())
}

fn connect(crm: &str, url: &str) -> ExitCode {
    let env = shared::config::settings::Env::new();
    let Some((_, step)) = shared::providers::connectable().find(|(name, _)| *name == crm) else {
        eprintln!("draftgate connect: {crm} has no connect step");
        return ExitCode::from(2);
    };
    if let Err(why) = webhook_url_problem(crm, url) {
        eprintln!("draftgate connect: --url {why}");
        return ExitCode::from(2);
    }
    let get = |name: &str| env.optional(name);
    match runtime().block_on(step.run_with(&get, url)) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("draftgate connect: {e}");
            ExitCode::from(1)
        }
    }
}

/// `draftgate check-config [FILE]`: the config as `serve` would read it, `[drafting]` as this
/// environment completes it; each problem with its file and line.
fn check_config(file: Option<PathBuf>) -> ExitCode {
    let file = file.or_else(|| {
        let default = PathBuf::from("config/draftgate.toml");
        default.exists().then_some(default)
    });
    let (name, parsed, text) = match &file {
        Some(f) => (
            f.display().to_string(),
            shared::config::Config::from_file(f),
            std::fs::read_to_string(f).unwrap_or_default(),
        ),
        None => (
            "the bundled config".to_string(),
            shared::config::Config::bundled(),
            String::new(),
        ),
    };
    let c = match parsed {
        Ok(c) => c,
        Err(problems) => {
            print_problems(&problems);
            return ExitCode::from(1);
        }
    };
    let drafting = match c.drafting.with_env(&|name| std::env::var(name).ok()) {
        Ok(d) => d,
        Err(problems) => {
            let problems: Vec<_> = problems
                .into_iter()
                .map(|p| shared::config::ConfigError {
                    file: name.clone(),
                    line: shared::config::drafting_line(&text, p.key),
                    message: p.message,
                })
                .collect();
            print_problems(&problems);
            return ExitCode::from(1);
        }
    };
    let templates = c.templates.all().count();
    println!(
        "{name}: ok ({} provider stage maps, {templates} templates; drafts written by {})",
        c.stages.len(),
        match &drafting.model {
            Some(m) if drafting.engine != shared::config::Engine::Template =>
                format!("the model {m} ({})", drafting.engine.name()),
            _ => "the templates".into(),
        }
    );
    ExitCode::SUCCESS
}

fn config_or_exit(path: Option<PathBuf>) -> shared::config::Config {
    let path = path.or_else(|| {
        let default = PathBuf::from("config/draftgate.toml");
        default.exists().then_some(default)
    });
    let result = match &path {
        Some(p) => shared::config::Config::from_file(p),
        None => shared::config::Config::bundled(),
    };
    result.unwrap_or_else(|problems| {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("{} config problem(s)", problems.len());
        std::process::exit(78)
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => check_config(file),
        Command::Config(ConfigCommand::Push { file, to }) => config_push(&file, &to),
        Command::Link {
            approver,
            secret,
            base_url,
            data,
            config,
        } => {
            let config = config_or_exit(config);
            let args = link::LinkArgs {
                approver: approver.as_deref(),
                secret: secret.as_deref(),
                base_url: base_url.as_deref(),
                data: &data,
            };
            match runtime().block_on(link::run(&config, args)) {
                Ok(url) => {
                    println!("{url}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("draftgate link: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Explain {
            deal,
            data,
            config,
            aws,
        } => {
            let config = config_or_exit(config);
            match runtime().block_on(explain::run(&data, &config, &deal, aws)) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("draftgate explain: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Connect {
            crm,
            url,
            data,
            port,
            read_secret,
            send_secret,
        } => connect_command(crm, url, data, port, read_secret, send_secret),
        Command::Import { data, config } => import_command(&data, config),
        Command::Replay {
            scenario,
            config,
            json,
        } => replay_command(&scenario, config, json),
        Command::Serve {
            addr,
            data,
            config,
            no_sample,
            aws,
            dev_routes,
        } => serve_command(serve::ServeOptions {
            addr,
            data,
            config_path: config,
            load_sample: !no_sample,
            aws,
            dev_routes,
        }),
    }
}

/// `draftgate connect`: a mailbox's grant (Gmail, Outlook), or a CRM's webhook.
fn connect_command(
    crm: String,
    url: Option<String>,
    data: PathBuf,
    port: u16,
    read_secret: Option<String>,
    send_secret: Option<String>,
) -> ExitCode {
    match crm.as_str() {
        "gmail" | "outlook" => {
            let kind = if crm == "gmail" {
                connect::MailboxKind::Gmail
            } else {
                connect::MailboxKind::Outlook
            };
            let dest = match (read_secret, send_secret) {
                (Some(read), Some(send)) => connect::Destination::Deployment { read, send },
                _ => connect::Destination::Local(data),
            };
            let env = shared::config::settings::Env::new();
            let get = |n: &str| env.optional(n);
            match runtime().block_on(connect::mailbox(kind, port, dest, &get)) {
                Ok(lines) => {
                    for l in lines {
                        println!("{l}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("draftgate connect: {e}");
                    ExitCode::from(1)
                }
            }
        }
        _ => {
            match url {
                Some(url) => connect(&crm, &url),
                None => {
                    eprintln!("draftgate connect: --url is required for a CRM (the webhook's stack output)");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// `draftgate import`: every configured CRM's open deals, once.
fn import_command(data: &std::path::Path, config: Option<PathBuf>) -> ExitCode {
    let config = std::sync::Arc::new(config_or_exit(config));
    match runtime().block_on(import::run(data, config)) {
        Ok(summary) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).expect("serialisable")
            );
            if summary.crms.iter().any(|c| c.error.is_some()) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("draftgate import: {e}");
            ExitCode::from(2)
        }
    }
}

/// `draftgate replay`: a scenario through the engine on a simulated clock.
fn replay_command(scenario: &std::path::Path, config: Option<PathBuf>, json: bool) -> ExitCode {
    let config = std::sync::Arc::new(config_or_exit(config));
    let result =
        replay::load(scenario).and_then(|s| runtime().block_on(replay::replay(&s, config)));
    match result {
        Ok(report) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serialisable")
            );
            ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", replay::render(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("draftgate replay: {e}");
            ExitCode::from(1)
        }
    }
}

/// `draftgate serve`: text logs on stderr, the banner on stdout, exit 78 on a refused start.
fn serve_command(options: serve::ServeOptions) -> ExitCode {
    // Readable text logs on stderr; stdout carries only the start-up banner.
    tracing_subscriber::fmt()
        .with_env_filter(
            // The SDK's own probes (IMDS for a region or credentials a laptop does not have)
            // say what draftgate says better, once, in words.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=error".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config_path = options.config_path.or_else(|| {
        let default = PathBuf::from("config/draftgate.toml");
        default.exists().then_some(default)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let options = serve::ServeOptions {
        config_path,
        ..options
    };
    match runtime.block_on(serve::serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("draftgate: {e}");
            ExitCode::from(78)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::webhook_url_problem;

    #[test]
    fn a_webhook_url_is_the_crms_own_route_over_https_with_nothing_hidden_in_it() {
        let ok = "https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/pipedrive";
        assert_eq!(webhook_url_problem("pipedrive", ok), Ok(()));
        assert_eq!(
            webhook_url_problem("close", "http://127.0.0.1:8080/webhooks/close"),
            Ok(())
        );
        for (bad, why) in [
            ("http://hooks.example/webhooks/pipedrive", "must be https"),
            (
                "ftp://hooks.example/webhooks/pipedrive",
                "must be https, not ftp",
            ),
            (
                "https://alice:s3cret@hooks.example/webhooks/pipedrive",
                "user name or password",
            ),
            ("https://hooks.example/webhooks/pipedrive#x", "#fragment"),
            (
                "https://hooks.example/webhooks/close",
                "ending in /webhooks/pipedrive",
            ),
            (
                "https://hooks.example/webhooks/pipedrive\r\nX-Evil: 1",
                "control characters",
            ),
            ("hooks.example/webhooks/pipedrive", "full URL"),
        ] {
            let err = webhook_url_problem("pipedrive", bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
