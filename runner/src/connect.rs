//! The founder's mailbox on the runner: the grants `draftgate connect gmail|outlook` saves
//! (a file with 0600 permissions in the data directory, or the deployment's secrets), the
//! consent flow itself (PKCE on a loopback redirect), and the sender that records every
//! approved message in the outbox after the mailbox API sent it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use shared::adapters::embedded::Outbox;
use shared::adapters::mailbox::oauth::OAuthApp;
use shared::domain::{OutboundEmail, SentReceipt};
use shared::ports::{SendError, Sender, SentLookup};
use shared::secret::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Refresh tokens (and other mailbox settings) saved by `draftgate connect`, by setting name.
#[derive(Default)]
pub struct TokenFile {
    values: BTreeMap<String, String>,
}

impl TokenFile {
    pub fn path(data: &Path) -> PathBuf {
        data.join("mailbox-grants.json")
    }

    pub fn load(data: &Path) -> Result<TokenFile, String> {
        let path = Self::path(data);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(|values| TokenFile { values })
                .map_err(|e| format!("{} is not a grants file: {e}", path.display())),
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Merge `values` in and write the file readable by its owner only.
    pub fn save(data: &Path, values: &[(String, String)]) -> Result<PathBuf, String> {
        let mut file = Self::load(data)?;
        for (k, v) in values {
            file.values.insert(k.clone(), v.clone());
        }
        std::fs::create_dir_all(data).map_err(|e| e.to_string())?;
        let path = Self::path(data);
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            #[cfg(unix)]
            use std::os::unix::fs::OpenOptionsExt;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            options.mode(0o600);
            let mut f = options
                .open(&tmp)
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            let doc = serde_json::to_vec_pretty(&file.values).expect("a map serialises");
            f.write_all(&doc).map_err(|e| e.to_string())?;
            f.sync_all().map_err(|e| e.to_string())?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
        Ok(path)
    }
}

/// The runner's sender with `MAIL_SENDER=gmail|outlook`: the mailbox API sends, the outbox
/// records what left, so `/dev/outbox` shows it as with the outbox alone.
pub struct Recorded {
    pub mailbox: Arc<dyn Sender>,
    pub outbox: Arc<Outbox>,
}

#[async_trait]
impl Sender for Recorded {
    async fn send(&self, email: &OutboundEmail) -> Result<SentReceipt, SendError> {
        let receipt = self.mailbox.send(email).await?;
        if let Err(e) = self.outbox.record_sent(email, &receipt) {
            tracing::warn!(error = %shared::error::Chain(&*e), "sent, but the outbox did not record it");
        }
        Ok(receipt)
    }

    fn finds_sent(&self) -> bool {
        true
    }

    async fn find_sent(&self, email: &OutboundEmail) -> Result<SentLookup, SendError> {
        let found = self.mailbox.find_sent(email).await?;
        if let SentLookup::Found(receipt) = &found {
            let recorded = self
                .outbox
                .sent_for(&email.draft_id)
                .map_err(SendError::Unavailable)?;
            if recorded.is_none() {
                let _ = self.outbox.record_sent(email, receipt);
            }
        }
        Ok(found)
    }
}

/// One grant to ask for: what it is for, and its scopes.
pub struct Grant {
    pub purpose: &'static str,
    /// The setting the refresh token is saved under.
    pub setting: &'static str,
    pub scopes: Vec<&'static str>,
}

/// Where a consent's redirect lands: a one-shot HTTP listener on 127.0.0.1.
pub struct Loopback {
    listener: tokio::net::TcpListener,
}

impl Loopback {
    pub async fn bind(port: u16) -> Result<Loopback, String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        Ok(Loopback { listener })
    }

    pub fn redirect_uri(&self) -> String {
        let port = self.listener.local_addr().map(|a| a.port()).unwrap_or(0);
        format!("http://127.0.0.1:{port}/callback")
    }

    /// Wait for the browser's redirect to `/callback`; answer it; its code, once `state`
    /// matches. Other requests (a favicon) get 404 and the wait goes on.
    pub async fn code(&self, state: &str) -> Result<String, String> {
        loop {
            let (mut sock, _) = self.listener.accept().await.map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 8192];
            let n = sock.read(&mut buf).await.map_err(|e| e.to_string())?;
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let target = head
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("")
                .to_string();
            let Some(query) = target.strip_prefix("/callback?") else {
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
                continue;
            };
            let q = |name: &str| shared::http::query_param(Some(query), name);
            let (status, page, result) = match (q("state"), q("code"), q("error")) {
                (_, _, Some(err)) => (
                    "400 Bad Request",
                    format!("draftgate was not given access: {err}. You can close this tab."),
                    Err(format!("the consent was refused: {err}")),
                ),
                (Some(s), Some(code), None) if s == state => (
                    "200 OK",
                    "draftgate is connected. You can close this tab.".to_string(),
                    Ok(code),
                ),
                _ => (
                    "400 Bad Request",
                    "This redirect does not belong to the consent draftgate started.".to_string(),
                    Err("a redirect with a wrong or missing state was refused".to_string()),
                ),
            };
            let html = format!(
                "<!doctype html><meta name=viewport content=\"width=device-width\"><title>draftgate</title><p>{page}</p>"
            );
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            return result;
        }
    }
}

/// Run each grant's consent in turn on `loopback`; the refresh tokens by setting name.
/// `show` is told each consent URL to open.
pub async fn consent_all(
    app: &OAuthApp,
    grants: &[Grant],
    extra: &[(&str, &str)],
    loopback: &Loopback,
    show: &(dyn Fn(&Grant, &str) + Sync),
) -> Result<Vec<(String, Secret)>, String> {
    let mut out = Vec::new();
    for grant in grants {
        let consent = app
            .consent(&loopback.redirect_uri(), &grant.scopes, extra)
            .map_err(|e| e.to_string())?;
        show(grant, &consent.url);
        let code = loopback.code(&consent.state).await?;
        let token = app
            .exchange(consent, &code)
            .await
            .map_err(|e| shared::error::Chain(&e).to_string())?;
        out.push((grant.setting.to_string(), token));
    }
    Ok(out)
}

/// Which mailbox `draftgate connect` sets up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailboxKind {
    Gmail,
    Outlook,
}

/// Where the grants go.
pub enum Destination {
    /// The runner's data directory (a 0600 file).
    Local(PathBuf),
    /// A deployment's two secrets (stack outputs `MailboxReadSecretArn`, `MailboxSendSecretArn`):
    /// the webhook and sync functions can read the first, only the approval function the second.
    Deployment { read: String, send: String },
}

/// `draftgate connect gmail|outlook`: consent (twice: read, then send), store the grants,
/// start the watch or subscription where this machine can. Lines to print.
pub async fn mailbox(
    kind: MailboxKind,
    port: u16,
    dest: Destination,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    use shared::adapters::mailbox::{gmail, outlook};
    let (name, app, grants, extra): (_, _, Vec<Grant>, &[(&str, &str)]) = match kind {
        MailboxKind::Gmail => (
            "gmail",
            gmail::token_app(env).ok_or("set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET (an OAuth client of type Desktop app)")?,
            vec![
                Grant {
                    purpose: "read your mail's headers (who replied, out-of-office), never the text",
                    setting: "GMAIL_REFRESH_TOKEN",
                    scopes: vec![gmail::READ_SCOPE],
                },
                Grant {
                    purpose: "send the mail you approve, from your address",
                    setting: "GMAIL_SEND_REFRESH_TOKEN",
                    scopes: gmail::SEND_SCOPES.to_vec(),
                },
            ],
            // A refresh token, and a fresh one even if access was granted before.
            &[("access_type", "offline"), ("prompt", "consent")],
        ),
        MailboxKind::Outlook => (
            "outlook",
            outlook::token_app(env).ok_or("set MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET (and MICROSOFT_TENANT_ID) of an app registration")?,
            vec![
                Grant {
                    purpose: "read your mail (who replied, out-of-office)",
                    setting: "OUTLOOK_REFRESH_TOKEN",
                    scopes: outlook::READ_SCOPES.to_vec(),
                },
                Grant {
                    purpose: "send the mail you approve, from your address",
                    setting: "OUTLOOK_SEND_REFRESH_TOKEN",
                    scopes: outlook::SEND_SCOPES.to_vec(),
                },
            ],
            &[("prompt", "consent")],
        ),
    };
    let loopback = Loopback::bind(port).await?;
    println!(
        "Waiting for the consent redirect on {}",
        loopback.redirect_uri()
    );
    let tokens = consent_all(&app, &grants, extra, &loopback, &|grant, url| {
        println!("Open this link to let draftgate {}:", grant.purpose);
        println!("  {url}");
    })
    .await?;
    let value = |setting: &str| {
        tokens
            .iter()
            .find(|(k, _)| k == setting)
            .map(|(_, v)| v.expose().to_string())
            .unwrap_or_default()
    };
    let read_key = grants[0].setting;
    let send_key = grants[1].setting;
    let mut lines = Vec::new();
    match dest {
        Destination::Local(data) => {
            let path = TokenFile::save(
                &data,
                &[
                    (read_key.to_string(), value(read_key)),
                    (send_key.to_string(), value(send_key)),
                ],
            )?;
            lines.push(format!(
                "saved both grants to {} (owner read/write only)",
                path.display()
            ));
            lines.extend(start_local(name, &data, env).await);
        }
        Destination::Deployment { read, send } => {
            // Each function reads its grant under the same name, from its own secret.
            let client = secrets_client().await;
            let (app_keys, push_keys) = travelling_settings(kind);
            let mut read_values = vec![(read_key.to_string(), value(read_key))];
            let mut send_values = vec![(read_key.to_string(), value(send_key))];
            for k in app_keys {
                if let Some(v) = env(k) {
                    read_values.push(((*k).to_string(), v.clone()));
                    send_values.push(((*k).to_string(), v));
                }
            }
            for k in push_keys {
                if let Some(v) = env(k) {
                    read_values.push(((*k).to_string(), v));
                }
            }
            for (secret, values) in [(&read, &read_values), (&send, &send_values)] {
                shared::adapters::secrets::put_json_keys(&client, secret, values)
                    .await
                    .map_err(|e| format!("cannot write {secret}: {}", shared::error::Chain(&*e)))?;
            }
            lines.push(format!(
                "saved the read grant to {read} and the send grant to {send} as {read_key}"
            ));
            lines.push(format!(
                "the deployment's scheduled sync starts the {name} watch within its schedule (or run the CrmSyncFunction once)"
            ));
        }
    }
    Ok(lines)
}

/// Start the watch or subscription against the runner's own store, when the settings to
/// receive pushes are there.
async fn start_local(name: &str, data: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let file = match TokenFile::load(data) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    let get = |n: &str| env(n).or_else(|| file.get(n));
    let base = env("PUBLIC_BASE_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let Some(mailbox) = shared::adapters::mailbox::readers(&get, &base)
        .into_iter()
        .find(|m| m.name() == name)
    else {
        return vec![format!(
            "to receive pushes, set {} and start `draftgate serve`: it starts the watch",
            if name == "gmail" {
                "GMAIL_PUSH_TOKEN (or GOOGLE_JWKS_URL) and GMAIL_PUBSUB_TOPIC"
            } else {
                "OUTLOOK_CLIENT_STATE and PUBLIC_BASE_URL (a public HTTPS URL of the runner)"
            }
        )];
    };
    let store = match shared::adapters::embedded::EmbeddedStore::open(data) {
        Ok(s) => s,
        Err(e) => return vec![format!("cannot open the store in {}: {e}", data.display())],
    };
    match mailbox.upkeep(&*store, jiff::Timestamp::now()).await {
        Ok(v) => vec![format!("{name}: {v}")],
        Err(e) => vec![format!(
            "{name}: the watch did not start ({}); `draftgate serve` tries again",
            shared::error::Chain(&e)
        )],
    }
}

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let config = aws_config::load_from_env().await;
    aws_sdk_secretsmanager::Client::new(&config)
}

/// The OAuth client's settings and the push credentials, which travel with the grants to a
/// deployment: (both functions', the reader's only).
fn travelling_settings(kind: MailboxKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        MailboxKind::Gmail => (
            &["GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"],
            &["GMAIL_PUSH_TOKEN"],
        ),
        MailboxKind::Outlook => (
            &[
                "MICROSOFT_TENANT_ID",
                "MICROSOFT_CLIENT_ID",
                "MICROSOFT_CLIENT_SECRET",
            ],
            &["OUTLOOK_CLIENT_STATE"],
        ),
    }
}
