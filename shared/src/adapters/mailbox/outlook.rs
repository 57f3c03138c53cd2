//! Outlook / Microsoft 365 through Microsoft Graph: a subscription on the founder's messages
//! calls `POST /webhooks/outlook` (validation handshake, `clientState` on every notification,
//! lifecycle notifications); each new message is read by id, and a missed stretch is caught up
//! with delta queries on the inbox and sent items. Approved mail is created as a draft — a reply
//! in the conversation when the deal has one — carrying draftgate's `Message-ID` and draft
//! header, then sent, so it lands in Sent Items and a retried send can find it there.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::api::MailApi;
use super::gmail::send_error;
use crate::domain::mail::{self, MailMessage, MailThread};
use crate::domain::{OutboundEmail, SentReceipt};
use crate::http::{self, ApiError, StatusCode};
use crate::ports::{PipelineStore, SendError, Sender, SentLookup};
use crate::providers::mailbox::{MailBatch, MailError, MailboxSource, Notice};
use crate::providers::Incoming;
use crate::secret::Secret;

pub const NAME: &str = "outlook";
pub const READ_SCOPES: [&str; 2] = ["offline_access", "https://graph.microsoft.com/Mail.Read"];
pub const SEND_SCOPES: [&str; 3] = [
    "offline_access",
    "https://graph.microsoft.com/Mail.Send",
    "https://graph.microsoft.com/Mail.ReadWrite",
];
pub const DEFAULT_API: &str = "https://graph.microsoft.com/v1.0";

const SUBSCRIPTION: &str = "mailbox:outlook:subscription";
const CHECKED: &str = "mailbox:outlook:checked_at";
const FOLDERS: [&str; 2] = ["inbox", "sentitems"];
/// How long a new or renewed subscription lasts (Graph allows a little under 7 days for
/// Outlook messages; 3 days leaves room for a missed renewal).
const LIFETIME: SignedDuration = SignedDuration::from_hours(72);
const RENEW_BEFORE: SignedDuration = SignedDuration::from_hours(36);
/// Messages read per folder when catching up.
const CATCH_UP_PAGES: usize = 10;
const SELECT: &str = "id,conversationId,internetMessageId,internetMessageHeaders,subject,bodyPreview,from,toRecipients,ccRecipients,receivedDateTime,sentDateTime,isDraft";

fn delta_marker(folder: &str) -> String {
    format!("mailbox:outlook:delta:{folder}")
}

fn recipients(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["emailAddress"]["address"].as_str())
        .filter_map(mail::address)
        .collect()
}

/// A Graph message resource in draftgate's terms.
pub fn message_from(v: &Value) -> Result<MailMessage, MailError> {
    let id = v["id"]
        .as_str()
        .ok_or_else(|| MailError::Invalid("Graph message without an id".into()))?;
    let at = v["receivedDateTime"]
        .as_str()
        .or(v["sentDateTime"].as_str())
        .and_then(|s| s.parse::<Timestamp>().ok())
        .ok_or_else(|| MailError::Invalid(format!("Graph message {id} without a time")))?;
    let mut headers = BTreeMap::new();
    for h in v["internetMessageHeaders"].as_array().into_iter().flatten() {
        if let (Some(n), Some(val)) = (h["name"].as_str(), h["value"].as_str()) {
            headers.insert(n.to_string(), val.to_string());
        }
    }
    if let Some(mid) = v["internetMessageId"].as_str() {
        headers.insert("Message-ID".into(), mid.to_string());
    }
    let from = v["from"]["emailAddress"]["address"].as_str().map(|a| {
        match v["from"]["emailAddress"]["name"].as_str() {
            Some(n) if !n.is_empty() => format!("{n} <{a}>"),
            _ => a.to_string(),
        }
    });
    Ok(MailMessage {
        mailbox: NAME,
        id: id.to_string(),
        thread_id: v["conversationId"].as_str().unwrap_or_default().to_string(),
        at,
        sent_by_founder: false,
        from,
        to: recipients(&v["toRecipients"]),
        cc: recipients(&v["ccRecipients"]),
        subject: v["subject"].as_str().unwrap_or_default().to_string(),
        snippet: v["bodyPreview"].as_str().map(str::to_string),
        headers,
        is_draft: v["isDraft"].as_bool().unwrap_or(false),
    })
}

pub struct OutlookMailbox {
    api: MailApi,
    client_state: Secret,
    /// Where Graph calls: `{PUBLIC_BASE_URL}/webhooks/outlook`.
    notification_url: String,
}

impl OutlookMailbox {
    pub fn new(api: MailApi, client_state: Secret, notification_url: String) -> Self {
        OutlookMailbox {
            api,
            client_state,
            notification_url,
        }
    }

    async fn message(&self, id: &str) -> Result<Option<MailMessage>, MailError> {
        match self
            .api
            .get(
                &format!("/me/messages/{id}"),
                &[("$select", SELECT.to_string())],
            )
            .await
        {
            Ok(v) => message_from(&v).map(Some),
            Err(MailError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Catch up on both folders with delta queries from their stored links (or, the first
    /// time, from the last check): the messages, and the new links to store.
    async fn catch_up(
        &self,
        store: &dyn PipelineStore,
        batch: &mut MailBatch,
        now: Timestamp,
    ) -> Result<(), MailError> {
        let since = store
            .marker(CHECKED)
            .await?
            .and_then(|s| s.parse::<Timestamp>().ok())
            .unwrap_or(now - SignedDuration::from_hours(24));
        for folder in FOLDERS {
            let mut link = store.marker(&delta_marker(folder)).await?;
            let mut first = true;
            for _ in 0..CATCH_UP_PAGES {
                let v = match (&link, first) {
                    (Some(l), _) => self.api.get(l, &[]).await,
                    (None, _) => {
                        self.api
                            .get(
                                &format!("/me/mailFolders/{folder}/messages/delta"),
                                &[
                                    ("$select", SELECT.to_string()),
                                    (
                                        "$filter",
                                        format!(
                                            "receivedDateTime ge {}",
                                            since.strftime("%Y-%m-%dT%H:%M:%SZ")
                                        ),
                                    ),
                                ],
                            )
                            .await
                    }
                };
                first = false;
                let v = match v {
                    Ok(v) => v,
                    // An expired delta link: start again from the last check.
                    Err(MailError::NotFound(_)) if link.is_some() => {
                        link = None;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for m in v["value"].as_array().into_iter().flatten() {
                    if m.get("@removed").is_some() {
                        continue;
                    }
                    // Delta gives only some fields: read the message itself.
                    if let Some(id) = m["id"].as_str() {
                        if let Some(msg) = self.message(id).await? {
                            batch.messages.push(msg);
                        }
                    }
                }
                if let Some(next) = v["@odata.nextLink"].as_str() {
                    link = Some(next.to_string());
                    continue;
                }
                if let Some(delta) = v["@odata.deltaLink"].as_str() {
                    batch
                        .positions
                        .push((delta_marker(folder), delta.to_string()));
                }
                break;
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        store: &dyn PipelineStore,
        now: Timestamp,
    ) -> Result<Value, MailError> {
        let expires = now + LIFETIME;
        let v = self
            .api
            .post(
                "/subscriptions",
                &json!({
                    "changeType": "created",
                    "notificationUrl": self.notification_url,
                    "lifecycleNotificationUrl": self.notification_url,
                    "resource": "me/messages",
                    "expirationDateTime": expires.to_string(),
                    "clientState": self.client_state.expose(),
                }),
            )
            .await?;
        let id = v["id"].as_str().ok_or_else(|| {
            MailError::Invalid("Graph created a subscription without an id".into())
        })?;
        store
            .set_marker(
                SUBSCRIPTION,
                &json!({ "id": id, "expires": expires }).to_string(),
            )
            .await?;
        Ok(json!({ "mailbox": NAME, "subscription": "created", "expires": expires }))
    }

    async fn renew(
        &self,
        store: &dyn PipelineStore,
        id: &str,
        now: Timestamp,
    ) -> Result<Value, MailError> {
        let expires = now + LIFETIME;
        match self
            .api
            .patch(
                &format!("/subscriptions/{id}"),
                &json!({ "expirationDateTime": expires.to_string() }),
            )
            .await
        {
            Ok(_) => {
                store
                    .set_marker(
                        SUBSCRIPTION,
                        &json!({ "id": id, "expires": expires }).to_string(),
                    )
                    .await?;
                Ok(json!({ "mailbox": NAME, "subscription": "renewed", "expires": expires }))
            }
            // Gone (expired or removed): subscribe again.
            Err(MailError::NotFound(_)) => self.subscribe(store, now).await,
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl MailboxSource for OutlookMailbox {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn open(&self, incoming: &Incoming<'_>) -> Result<Notice, ApiError> {
        // Graph checks the endpoint before creating a subscription: echo the token at once.
        if let Some(token) = http::query_param(incoming.request.uri().query(), "validationToken") {
            let resp = ::http::Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(bytes::Bytes::from(token))
                .expect("static response");
            return Ok(Notice::Answer(resp));
        }
        http::require_media_type(incoming.request.headers(), "application/json")?;
        http::require_unique_json_keys(incoming.request.body())?;
        let body: Value = serde_json::from_slice(incoming.request.body())
            .map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
        let Some(items) = body["value"].as_array() else {
            return Err(ApiError::bad_request(
                "a Graph notification body is {\"value\": [...]}",
            ));
        };
        let expected = self.client_state.expose().as_bytes();
        for (i, n) in items.iter().enumerate() {
            let given = n["clientState"].as_str().unwrap_or_default().as_bytes();
            if !(given.len() == expected.len() && bool::from(given.ct_eq(expected))) {
                tracing::info!(index = i, "Graph notification with a wrong clientState");
                return Err(ApiError::Unauthorized(format!(
                    "outlook notification {i}: clientState does not match"
                )));
            }
            if n["lifecycleEvent"].is_null() && n["resourceData"]["id"].as_str().is_none() {
                return Err(ApiError::bad_request(format!(
                    "outlook notification {i}: neither a lifecycle event nor a message (`resourceData.id`)"
                )));
            }
        }
        Ok(Notice::Read(Value::Array(items.clone())))
    }

    async fn read(
        &self,
        store: &dyn PipelineStore,
        notice: Value,
        now: Timestamp,
    ) -> Result<MailBatch, MailError> {
        let mut batch = MailBatch::default();
        let mut catch_up = false;
        for n in notice.as_array().into_iter().flatten() {
            match n["lifecycleEvent"].as_str() {
                Some("reauthorizationRequired") => {
                    let id = n["subscriptionId"].as_str().unwrap_or_default();
                    let done = self.renew(store, id, now).await?;
                    batch
                        .skipped
                        .push(format!("lifecycle: reauthorized ({done})"));
                }
                Some("subscriptionRemoved") => {
                    self.subscribe(store, now).await?;
                    batch
                        .skipped
                        .push("lifecycle: subscription removed; subscribed again".into());
                    catch_up = true;
                }
                Some("missed") => {
                    batch
                        .skipped
                        .push("lifecycle: notifications missed; catching up".into());
                    catch_up = true;
                }
                Some(other) => batch.skipped.push(format!("lifecycle: {other}")),
                None => {
                    let id = n["resourceData"]["id"].as_str().unwrap_or_default();
                    match self.message(id).await? {
                        Some(m) => batch.messages.push(m),
                        None => batch
                            .skipped
                            .push(format!("outlook {id}: deleted before it was read")),
                    }
                }
            }
        }
        if catch_up {
            self.catch_up(store, &mut batch, now).await?;
        }
        batch.positions.push((CHECKED.into(), now.to_string()));
        Ok(batch)
    }

    async fn upkeep(&self, store: &dyn PipelineStore, now: Timestamp) -> Result<Value, MailError> {
        let current: Option<Value> = store
            .marker(SUBSCRIPTION)
            .await?
            .and_then(|s| serde_json::from_str(&s).ok());
        let Some(sub) = current else {
            return self.subscribe(store, now).await;
        };
        let id = sub["id"].as_str().unwrap_or_default().to_string();
        let expires = sub["expires"]
            .as_str()
            .and_then(|s| s.parse::<Timestamp>().ok());
        match expires {
            Some(e) if e - RENEW_BEFORE > now => {
                Ok(json!({ "mailbox": NAME, "subscription": "current", "expires": e }))
            }
            _ => self.renew(store, &id, now).await,
        }
    }
}

/// Sends approved mail from the founder's Outlook mailbox.
pub struct OutlookSender {
    pub api: MailApi,
}

fn graph_recipient(m: &crate::domain::headers::Mailbox) -> Value {
    match &m.name {
        Some(name) => json!({ "emailAddress": { "name": name, "address": m.address } }),
        None => json!({ "emailAddress": { "address": m.address } }),
    }
}

impl OutlookSender {
    fn receipt(&self, email: &OutboundEmail, id: &str, conversation: Option<&str>) -> SentReceipt {
        SentReceipt {
            id: id.to_string(),
            conversation: conversation.map(|c| MailThread::after_sent(email, NAME, c, id)),
        }
    }

    /// Messages (drafts included) carrying this draft's `Message-ID`.
    async fn by_message_id(&self, email: &OutboundEmail) -> Result<Vec<Value>, MailError> {
        let v = self
            .api
            .get(
                "/me/messages",
                &[
                    (
                        "$filter",
                        format!(
                            "internetMessageId eq '{}'",
                            email.message_id().replace('\'', "''")
                        ),
                    ),
                    ("$select", "id,isDraft,conversationId".to_string()),
                ],
            )
            .await?;
        Ok(v["value"].as_array().cloned().unwrap_or_default())
    }
}

#[async_trait]
impl Sender for OutlookSender {
    async fn send(&self, email: &OutboundEmail) -> Result<SentReceipt, SendError> {
        let err = |e| send_error(NAME, e);
        // Graph writes the headers from these fields; each comes from the one encoder.
        let h = email
            .headers()
            .map_err(|e| SendError::Rejected(Box::new(e)))?;
        let message = json!({
            "subject": h.subject,
            "body": { "contentType": "Text", "content": email.body },
            "toRecipients": [graph_recipient(&h.to)],
            "replyTo": h.reply_to.iter().map(graph_recipient).collect::<Vec<_>>(),
            "internetMessageId": h.message_id,
            "internetMessageHeaders": [{ "name": mail::DRAFT_HEADER, "value": h.draft_id }],
        });
        // A draft left by an interrupted send is sent rather than written again.
        let existing = self
            .by_message_id(email)
            .await
            .map_err(err)?
            .into_iter()
            .find(|m| m["isDraft"].as_bool() == Some(true));
        let draft = match existing {
            Some(d) => d,
            None => match email.thread.as_ref().filter(|t| t.mailbox == NAME) {
                // In the conversation: a reply to its newest message.
                Some(t) if t.provider_message_id.is_some() => {
                    let parent = t.provider_message_id.as_deref().unwrap_or_default();
                    self.api
                        .post(
                            &format!("/me/messages/{parent}/createReply"),
                            &json!({ "message": message }),
                        )
                        .await
                        .map_err(err)?
                }
                _ => self.api.post("/me/messages", &message).await.map_err(err)?,
            },
        };
        let id = draft["id"]
            .as_str()
            .ok_or_else(|| SendError::Unavailable("Graph created a draft without an id".into()))?
            .to_string();
        self.api
            .post(&format!("/me/messages/{id}/send"), &Value::Null)
            .await
            .map_err(err)?;
        Ok(self.receipt(email, &id, draft["conversationId"].as_str()))
    }

    fn finds_sent(&self) -> bool {
        true
    }

    async fn find_sent(&self, email: &OutboundEmail) -> Result<SentLookup, SendError> {
        let found = self
            .by_message_id(email)
            .await
            .map_err(|e| send_error(NAME, e))?
            .into_iter()
            .find(|m| m["isDraft"].as_bool() == Some(false));
        Ok(match found {
            Some(m) => SentLookup::Found(self.receipt(
                email,
                m["id"].as_str().unwrap_or_default(),
                m["conversationId"].as_str(),
            )),
            None => SentLookup::NotFound,
        })
    }
}

pub fn token_app(get: &dyn Fn(&str) -> Option<String>) -> Option<super::oauth::OAuthApp> {
    let tenant = get("MICROSOFT_TENANT_ID").unwrap_or_else(|| "common".into());
    Some(super::oauth::OAuthApp {
        provider: "Microsoft",
        client_id: get("MICROSOFT_CLIENT_ID")?,
        client_secret: Secret::new(get("MICROSOFT_CLIENT_SECRET")?),
        auth_url: get("MICROSOFT_AUTH_URL").unwrap_or_else(|| {
            format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize")
        }),
        token_url: get("MICROSOFT_TOKEN_URL").unwrap_or_else(|| {
            format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
        }),
    })
}

pub fn api(get: &dyn Fn(&str) -> Option<String>, refresh: Secret) -> Option<MailApi> {
    let app = token_app(get)?;
    Some(MailApi::new(
        "Microsoft Graph",
        &get("GRAPH_API_BASE_URL").unwrap_or_else(|| DEFAULT_API.into()),
        Arc::new(super::oauth::TokenSource::new(app, refresh)),
    ))
}
