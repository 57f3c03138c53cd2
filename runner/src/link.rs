//! `draftgate link`: a fresh review-queue link for an approver, for the local runner (its
//! signing key is in the data directory) or a deployment (the key from the stack's secret, or
//! `DRAFTGATE_SIGNING_KEY`).

use std::path::Path;

use jiff::SignedDuration;
use shared::config::Config;
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};

pub struct LinkArgs<'a> {
    pub approver: Option<&'a str>,
    /// The deployment's secret holding `DRAFTGATE_SIGNING_KEY` (the `SecretsName` parameter).
    pub secret: Option<&'a str>,
    pub base_url: Option<&'a str>,
    pub data: &'a Path,
}

/// The link, or why there is none.
pub async fn run(config: &Config, args: LinkArgs<'_>) -> Result<String, String> {
    let approver = match args.approver {
        Some(a) => config
            .approver(a)
            .ok_or_else(|| {
                format!(
                    "{a} is not an approver; the config names {}",
                    config
                        .approvers
                        .iter()
                        .map(|x| x.email.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?
            .email
            .clone(),
        None => config.approvers[0].email.clone(),
    };
    let env_key = std::env::var("DRAFTGATE_SIGNING_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    // The runner's clock (which `POST /dev/clock` may have moved), or the real one.
    let mut now = jiff::Timestamp::now();
    let key = match (args.secret, env_key) {
        (Some(secret), _) => {
            let sdk = aws_config::load_from_env().await;
            let client = aws_sdk_secretsmanager::Client::new(&sdk);
            shared::adapters::secrets::read_json(&client, secret)
                .await
                .map_err(|e| format!("cannot read {secret}: {}", shared::error::Chain(&*e)))?
                .remove("DRAFTGATE_SIGNING_KEY")
                .ok_or_else(|| format!("{secret} has no DRAFTGATE_SIGNING_KEY"))?
        }
        (None, Some(k)) => k,
        (None, None) => {
            let store = shared::adapters::embedded::EmbeddedStore::open(args.data)
                .map_err(|e| format!("cannot open {}: {e}", args.data.display()))?;
            now = shared::ports::Clock::now(&*crate::server::runner_clock(&store));
            store
                .meta_get(crate::server::SIGNING_KEY_KEY)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!(
                        "no signing key: start `draftgate serve --data {}` once, or pass --secret (a deployment) or DRAFTGATE_SIGNING_KEY",
                        args.data.display()
                    )
                })?
        }
    };
    // The address asked for, else the one the runner on this data directory last served on.
    let served = || {
        shared::adapters::embedded::EmbeddedStore::open(args.data)
            .ok()?
            .meta_get(crate::server::PUBLIC_BASE_URL_KEY)
            .ok()
            .flatten()
    };
    let base = args
        .base_url
        .map(str::to_string)
        .or_else(|| std::env::var("PUBLIC_BASE_URL").ok())
        .or_else(served)
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let ttl = SignedDuration::from_hours(config.review.token_ttl_hours as i64);
    let token = TokenSigner::new(Secret::new(key)).sign(Scope::Queue, &approver, now + ttl);
    Ok(format!(
        "{}/review?token={token}",
        base.trim_end_matches('/')
    ))
}
