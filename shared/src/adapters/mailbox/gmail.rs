//! Gmail: reply detection through `users.watch` → Pub/Sub push → `POST /webhooks/gmail`, then
//! `users.history.list` from the stored position (a position too old to list falls back to a
//! bounded look at the newest messages); sending as the founder with `users.messages.send`.
//!
//! Reading needs only the `gmail.metadata` scope (headers, labels, snippet; never bodies), so
//! nothing here uses the search parameter `q`, which that scope does not allow.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

use super::api::MailApi;
use crate::domain::mail::{self, MailMessage, MailThread};
use crate::domain::{OutboundEmail, SentReceipt};
use crate::http::{self, ApiError};
use crate::ports::{PipelineStore, SendError, Sender, SentLookup};
use crate::providers::mailbox::{MailBatch, MailError, MailboxSource, Notice};
use crate::providers::Incoming;
use crate::secret::Secret;

pub const NAME: &str = "gmail";
/// The scope reading needs: headers and labels, never message bodies.
pub const READ_SCOPE: &str = "https://www.googleapis.com/auth/gmail.metadata";
/// The scopes sending needs: send, and metadata to look in Sent before sending again.
pub const SEND_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/gmail.send",
    "https://www.googleapis.com/auth/gmail.metadata",
];
pub const DEFAULT_API: &str = "https://gmail.googleapis.com";
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";

const HISTORY: &str = "mailbox:gmail:history";
const CHECKED: &str = "mailbox:gmail:checked_at";
const WATCH_EXPIRES: &str = "mailbox:gmail:watch_expires";
/// Messages read when the stored position is too old to list history from.
pub const CATCH_UP_LIMIT: usize = 100;
/// History pages read per notification (500 records each); the rest on the next one.
const MAX_HISTORY_PAGES: usize = 20;
/// A watch lasts 7 days; renew it when less than this is left.
const RENEW_BEFORE: SignedDuration = SignedDuration::from_hours(48);
/// Sent messages looked through for an interrupted send (newest first).
const SENT_LOOKBACK: usize = 25;
const HEADERS: [&str; 12] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "X-Autoreply",
    "X-Autorespond",
    "Precedence",
    mail::DRAFT_HEADER,
];

fn metadata_query() -> Vec<(&'static str, String)> {
    let mut q = vec![("format", "metadata".to_string())];
    q.extend(
        HEADERS
            .iter()
            .map(|h| ("metadataHeaders", (*h).to_string())),
    );
    q
}

/// A message resource in `format=metadata`, in draftgate's terms.
pub fn message_from(v: &Value) -> Result<MailMessage, MailError> {
    let bad = |what: &str| MailError::Invalid(format!("Gmail message without {what}"));
    let id = v["id"].as_str().ok_or_else(|| bad("an id"))?.to_string();
    let labels: Vec<&str> = v["labelIds"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let millis: i64 = v["internalDate"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("an internalDate"))?;
    let at = Timestamp::from_millisecond(millis).map_err(|_| bad("a valid internalDate"))?;
    let mut headers = BTreeMap::new();
    for h in v["payload"]["headers"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (h["name"].as_str(), h["value"].as_str()) {
            headers
                .entry(name.to_string())
                .and_modify(|old: &mut String| {
                    old.push_str(", ");
                    old.push_str(value);
                })
                .or_insert_with(|| value.to_string());
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    Ok(MailMessage {
        mailbox: NAME,
        thread_id: v["threadId"].as_str().unwrap_or_default().to_string(),
        at,
        sent_by_founder: labels.contains(&"SENT"),
        is_draft: labels.contains(&"DRAFT"),
        from: get("From"),
        to: get("To").map(|t| mail::addresses(&t)).unwrap_or_default(),
        cc: get("Cc").map(|t| mail::addresses(&t)).unwrap_or_default(),
        subject: get("Subject").unwrap_or_default(),
        snippet: v["snippet"].as_str().map(str::to_string),
        headers,
        id,
    })
}

/// A message's metadata (`format=metadata`), or `None` when it was deleted since it arrived.
async fn metadata(api: &MailApi, id: &str) -> Result<Option<MailMessage>, MailError> {
    match api
        .get(
            &format!("/gmail/v1/users/me/messages/{id}"),
            &metadata_query(),
        )
        .await
    {
        Ok(v) => message_from(&v).map(Some),
        Err(MailError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The newest messages' ids (up to `limit`, optionally of one label): a catch-up for a
/// position too old to list history from, and the look into Sent before sending again.
async fn newest(
    api: &MailApi,
    limit: usize,
    labels: Option<&str>,
) -> Result<Vec<String>, MailError> {
    let mut q = vec![("maxResults", limit.to_string())];
    if let Some(l) = labels {
        q.push(("labelIds", l.to_string()));
    }
    let v = api.get("/gmail/v1/users/me/messages", &q).await?;
    Ok(v["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect())
}

/// Google's signing keys for push JWTs, fetched on first use and kept an hour.
struct Jwks {
    url: String,
    cached: Mutex<Option<(jsonwebtoken::jwk::JwkSet, Instant)>>,
}

impl Jwks {
    async fn key(&self, kid: &str) -> Result<jsonwebtoken::DecodingKey, String> {
        let mut cached = self.cached.lock().await;
        for refresh in [false, true] {
            let fresh = cached
                .as_ref()
                .is_some_and(|(_, at)| at.elapsed() < Duration::from_secs(3600));
            if refresh || !fresh {
                let set = crate::providers::api::shared_http()
                    .get(&self.url)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| format!("Google's keys unavailable: {}", e.without_url()))?
                    .json::<jsonwebtoken::jwk::JwkSet>()
                    .await
                    .map_err(|e| format!("Google's keys unreadable: {}", e.without_url()))?;
                *cached = Some((set, Instant::now()));
            }
            if let Some(jwk) = cached.as_ref().and_then(|(set, _)| set.find(kid)) {
                return jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string());
            }
        }
        Err(format!("no Google key `{kid}`"))
    }
}

/// How pushes prove they come from the founder's Pub/Sub subscription.
pub struct PushAuth {
    /// `?token=` on the push endpoint's URL.
    pub token: Option<Secret>,
    /// Google-signed OIDC JWTs (`Authorization: Bearer`), checked against these keys.
    pub jwks_url: Option<String>,
    /// The service account the push subscription signs as, if it must be one in particular.
    pub service_account: Option<String>,
}

pub struct GmailMailbox {
    api: MailApi,
    auth: PushAuth,
    jwks: Option<Jwks>,
    /// `projects/<project>/topics/<topic>`: what `users.watch` publishes to.
    topic: Option<String>,
}

impl GmailMailbox {
    pub fn new(api: MailApi, auth: PushAuth, topic: Option<String>) -> Self {
        let jwks = auth.jwks_url.clone().map(|url| Jwks {
            url,
            cached: Mutex::new(None),
        });
        GmailMailbox {
            api,
            auth,
            jwks,
            topic,
        }
    }

    async fn verify(&self, incoming: &Incoming<'_>) -> Result<(), String> {
        if self.auth.token.is_none() && self.jwks.is_none() {
            return Err("no push token or JWT keys are configured".into());
        }
        if let Some(expected) = &self.auth.token {
            let given = http::query_param(incoming.request.uri().query(), "token")
                .ok_or("the push token is missing")?;
            let expected = expected.expose().as_bytes();
            if !(given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected))) {
                return Err("the push token is wrong".into());
            }
        }
        if let Some(jwks) = &self.jwks {
            let bearer = incoming
                .header("authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .ok_or("the push carries no bearer JWT")?;
            let header = jsonwebtoken::decode_header(bearer).map_err(|e| format!("JWT: {e}"))?;
            let kid = header.kid.ok_or("the JWT names no key")?;
            let key = jwks.key(&kid).await?;
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            // Pub/Sub's default audience is the push endpoint's URL as configured.
            let bare = incoming
                .url
                .split('?')
                .next()
                .unwrap_or_default()
                .to_string();
            v.set_audience(&[incoming.url.clone(), bare]);
            v.set_issuer(&["accounts.google.com", "https://accounts.google.com"]);
            let claims = jsonwebtoken::decode::<Value>(bearer, &key, &v)
                .map_err(|e| format!("JWT rejected: {e}"))?
                .claims;
            if let Some(account) = &self.auth.service_account {
                if claims["email"].as_str() != Some(account.as_str())
                    || claims["email_verified"] != json!(true)
                {
                    return Err("the JWT is not the push subscription's service account".into());
                }
            }
        }
        Ok(())
    }

    /// Message ids added since `start`, and the newest history id seen; `NotFound` when
    /// `start` is too old.
    async fn history(&self, start: &str) -> Result<(Vec<String>, Option<u64>), MailError> {
        let mut ids: Vec<String> = Vec::new();
        let mut newest = None;
        let mut page: Option<String> = None;
        for _ in 0..MAX_HISTORY_PAGES {
            let mut q = vec![
                ("startHistoryId", start.to_string()),
                ("historyTypes", "messageAdded".to_string()),
                ("maxResults", "500".to_string()),
            ];
            if let Some(p) = &page {
                q.push(("pageToken", p.clone()));
            }
            let v = self.api.get("/gmail/v1/users/me/history", &q).await?;
            newest = newest.max(history_id(&v["historyId"]));
            for h in v["history"].as_array().into_iter().flatten() {
                for added in h["messagesAdded"].as_array().into_iter().flatten() {
                    if let Some(id) = added["message"]["id"].as_str() {
                        if !ids.iter().any(|x| x == id) {
                            ids.push(id.to_string());
                        }
                    }
                }
            }
            match v["nextPageToken"].as_str() {
                Some(p) => page = Some(p.to_string()),
                None => return Ok((ids, newest)),
            }
        }
        Ok((ids, newest))
    }

    /// Start (or renew) the watch on the inbox and sent mail; its history id and expiry.
    pub async fn watch(&self) -> Result<(Option<u64>, Option<Timestamp>), MailError> {
        let topic = self.topic.as_ref().ok_or_else(|| {
            MailError::Invalid("GMAIL_PUBSUB_TOPIC is not set: nothing to watch into".into())
        })?;
        let v = self
            .api
            .post(
                "/gmail/v1/users/me/watch",
                &json!({ "topicName": topic, "labelIds": ["INBOX", "SENT"], "labelFilterBehavior": "include" }),
            )
            .await?;
        let expires = v["expiration"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|ms| Timestamp::from_millisecond(ms).ok());
        Ok((history_id(&v["historyId"]), expires))
    }
}

/// Gmail gives history ids as decimal strings (JSON uint64).
fn history_id(v: &Value) -> Option<u64> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
}

#[async_trait]
impl MailboxSource for GmailMailbox {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn open(&self, incoming: &Incoming<'_>) -> Result<Notice, ApiError> {
        http::require_media_type(incoming.request.headers(), "application/json")?;
        if let Err(why) = self.verify(incoming).await {
            tracing::info!(reason = %why, "Gmail push rejected");
            return Err(ApiError::Unauthorized(format!(
                "gmail push rejected: {why}"
            )));
        }
        http::require_unique_json_keys(incoming.request.body())?;
        let body: Value = serde_json::from_slice(incoming.request.body())
            .map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
        let data = body["message"]["data"].as_str().ok_or_else(|| {
            ApiError::bad_request("not a Pub/Sub push: `message.data` is missing")
        })?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data))
            .map_err(|e| ApiError::bad_request(format!("`message.data` is not base64: {e}")))?;
        http::require_unique_json_keys(&decoded)?;
        let notice: Value = serde_json::from_slice(&decoded).map_err(|e| {
            ApiError::bad_request(format!("`message.data` is not a Gmail notification: {e}"))
        })?;
        if history_id(&notice["historyId"]).is_none() || !notice["emailAddress"].is_string() {
            return Err(ApiError::bad_request(
                "a Gmail notification needs `emailAddress` and `historyId`",
            ));
        }
        Ok(Notice::Read(notice))
    }

    async fn read(
        &self,
        store: &dyn PipelineStore,
        notice: Value,
        now: Timestamp,
    ) -> Result<MailBatch, MailError> {
        let pushed = history_id(&notice["historyId"]).unwrap_or_default();
        let mut batch = MailBatch::default();
        let checked = store
            .marker(CHECKED)
            .await?
            .and_then(|s| s.parse::<Timestamp>().ok());
        let Some(start) = store.marker(HISTORY).await? else {
            // The first notification sets the position: mail from here on is read.
            batch.positions.push((HISTORY.into(), pushed.to_string()));
            batch.positions.push((CHECKED.into(), now.to_string()));
            batch
                .skipped
                .push("first notification: reading starts from here".into());
            return Ok(batch);
        };
        let (ids, newest, since) = match self.history(&start).await {
            Ok((ids, newest)) => (ids, newest, None),
            Err(MailError::NotFound(_)) => {
                tracing::warn!(
                    "Gmail history position too old; catching up on the newest messages"
                );
                batch.skipped.push(format!(
                    "history position {start} too old to list: read the {CATCH_UP_LIMIT} newest messages"
                ));
                (
                    newest(&self.api, CATCH_UP_LIMIT, None).await?,
                    None,
                    checked,
                )
            }
            Err(e) => return Err(e),
        };
        for id in ids {
            match metadata(&self.api, &id).await? {
                Some(m) if since.is_none_or(|s| m.at >= s) => batch.messages.push(m),
                Some(_) => {}
                None => batch
                    .skipped
                    .push(format!("gmail {id}: deleted before it was read")),
            }
        }
        let stored: u64 = start.parse().unwrap_or_default();
        let position = [Some(pushed), newest, Some(stored)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(pushed);
        batch.positions.push((HISTORY.into(), position.to_string()));
        batch.positions.push((CHECKED.into(), now.to_string()));
        Ok(batch)
    }

    async fn upkeep(&self, store: &dyn PipelineStore, now: Timestamp) -> Result<Value, MailError> {
        let expires = store
            .marker(WATCH_EXPIRES)
            .await?
            .and_then(|s| s.parse::<Timestamp>().ok());
        if expires.is_some_and(|e| e - RENEW_BEFORE > now) {
            return Ok(json!({ "mailbox": NAME, "watch": "current", "expires": expires }));
        }
        let (history, expires) = self.watch().await?;
        if let Some(e) = expires {
            store.set_marker(WATCH_EXPIRES, &e.to_string()).await?;
        }
        if let (Some(h), None) = (history, store.marker(HISTORY).await?) {
            store.set_marker(HISTORY, &h.to_string()).await?;
            store.set_marker(CHECKED, &now.to_string()).await?;
        }
        tracing::info!(expires = ?expires, "Gmail watch renewed");
        Ok(json!({ "mailbox": NAME, "watch": "renewed", "expires": expires }))
    }
}

/// The RFC 5322 message of an approved follow-up: from the founder, in the conversation's
/// thread when it continues one, with draftgate's draft header and a `Message-ID` derived
/// from the draft. Every header comes from [`OutboundEmail::headers`], the one encoder.
pub fn rfc5322(email: &OutboundEmail, date: Timestamp) -> Result<String, SendError> {
    use mail_builder::headers::address::Address;
    use mail_builder::headers::message_id::MessageId;
    use mail_builder::headers::raw::Raw;
    use mail_builder::MessageBuilder;

    let h = email
        .headers()
        .map_err(|e| SendError::Rejected(Box::new(e)))?;
    let address = |m: &crate::domain::headers::Mailbox| {
        Address::new_address(m.name.clone(), m.address.clone())
    };
    let bare = |id: &str| id.trim_start_matches('<').trim_end_matches('>').to_string();
    let mut m = MessageBuilder::new()
        .from(address(&h.from))
        .to(address(&h.to))
        .subject(h.subject.clone())
        .message_id(bare(&h.message_id))
        .date(date.as_second())
        .header(mail::DRAFT_HEADER, Raw::new(h.draft_id.clone()))
        .text_body(email.body.clone());
    if let Some(r) = &h.reply_to {
        m = m.reply_to(address(r));
    }
    if let Some(parent) = &h.in_reply_to {
        m = m.in_reply_to(MessageId::new(bare(parent)));
    }
    if !h.references.is_empty() {
        m = m.references(MessageId::from(
            h.references.iter().map(|r| bare(r)).collect::<Vec<_>>(),
        ));
    }
    m.write_to_string()
        .map_err(|e| SendError::Rejected(Box::new(e)))
}

/// Sends approved mail from the founder's Gmail, in the conversation's thread.
pub struct GmailSender {
    pub api: MailApi,
}

pub(crate) fn send_error(provider: &str, e: MailError) -> SendError {
    match e {
        MailError::Revoked(why) => SendError::Rejected(
            format!("{why}: run `draftgate connect {provider}` to grant access again").into(),
        ),
        MailError::Invalid(why) => SendError::Rejected(why.into()),
        other => SendError::Unavailable(Box::new(other)),
    }
}

impl GmailSender {
    fn conversation(&self, email: &OutboundEmail, id: &str, thread_id: &str) -> MailThread {
        MailThread::after_sent(email, NAME, thread_id, id)
    }
}

#[async_trait]
impl Sender for GmailSender {
    async fn send(&self, email: &OutboundEmail) -> Result<SentReceipt, SendError> {
        let raw = rfc5322(email, Timestamp::now())?;
        let mut body = json!({
            "raw": base64::engine::general_purpose::URL_SAFE.encode(raw.as_bytes()),
        });
        if let Some(t) = email.thread.as_ref().filter(|t| t.mailbox == NAME) {
            body["threadId"] = json!(t.thread_id);
        }
        let v = self
            .api
            .post("/gmail/v1/users/me/messages/send", &body)
            .await
            .map_err(|e| send_error(NAME, e))?;
        let id = v["id"]
            .as_str()
            .ok_or_else(|| SendError::Unavailable("Gmail sent without a message id".into()))?;
        let thread = v["threadId"].as_str().unwrap_or(id);
        Ok(SentReceipt {
            id: id.to_string(),
            conversation: Some(self.conversation(email, id, thread)),
        })
    }

    fn finds_sent(&self) -> bool {
        true
    }

    async fn find_sent(&self, email: &OutboundEmail) -> Result<SentLookup, SendError> {
        let ids = newest(&self.api, SENT_LOOKBACK, Some("SENT"))
            .await
            .map_err(|e| send_error(NAME, e))?;
        let own = email.message_id();
        for id in ids {
            let Some(m) = metadata(&self.api, &id)
                .await
                .map_err(|e| send_error(NAME, e))?
            else {
                continue;
            };
            if m.header(mail::DRAFT_HEADER) == Some(email.draft_id.as_str())
                || m.header("Message-ID") == Some(own.as_str())
            {
                return Ok(SentLookup::Found(SentReceipt {
                    conversation: Some(self.conversation(email, &m.id, &m.thread_id)),
                    id: m.id,
                }));
            }
        }
        Ok(SentLookup::NotFound)
    }
}

/// The pieces a Gmail deployment needs, read from settings.
pub fn token_app(get: &dyn Fn(&str) -> Option<String>) -> Option<super::oauth::OAuthApp> {
    Some(super::oauth::OAuthApp {
        provider: "Google",
        client_id: get("GOOGLE_CLIENT_ID")?,
        client_secret: Secret::new(get("GOOGLE_CLIENT_SECRET")?),
        auth_url: get("GOOGLE_AUTH_URL").unwrap_or_else(|| DEFAULT_AUTH_URL.into()),
        token_url: get("GOOGLE_TOKEN_URL").unwrap_or_else(|| DEFAULT_TOKEN_URL.into()),
    })
}

pub fn api(get: &dyn Fn(&str) -> Option<String>, refresh: Secret) -> Option<MailApi> {
    let app = token_app(get)?;
    Some(MailApi::new(
        "Gmail",
        &get("GMAIL_API_BASE_URL").unwrap_or_else(|| DEFAULT_API.into()),
        Arc::new(super::oauth::TokenSource::new(app, refresh)),
    ))
}
