//! A mailbox draftgate reads (Gmail, Outlook): the port each mailbox implements, and how its
//! messages become deal events on the deals they belong to.
//!
//! A message belongs to a deal when one of its addresses (the sender of a received message,
//! the recipients of a sent one) is a contact of the deal, when it is in a conversation already
//! on the deal (e.g. one draftgate sent into), or, failing both, when the address's company
//! domain is the deal's contact's. Received automatic answers are recorded as such and stop
//! nothing; mail the founder wrote outside draftgate is an outbound touch; messages that match
//! no deal are ignored and counted.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::domain::mail::{
    address, auto_reply_signal, company_domain, thread_link, MailMessage, DRAFT_HEADER,
};
use crate::domain::{DealEvent, DealRef, DealSnapshot, EventKind};
use crate::http::{ApiError, Response};
use crate::ports::{PipelineStore, StoreError};
use crate::providers::Incoming;

/// What a mailbox notification asks for.
pub enum Notice {
    /// Answer this at once and read nothing (Graph's validation handshake).
    Answer(Response),
    /// Read the mailbox: what the provider said changed, in its own terms.
    Read(serde_json::Value),
}

/// What a read found, and the positions to store once all of it is recorded.
#[derive(Debug, Default)]
pub struct MailBatch {
    pub messages: Vec<MailMessage>,
    /// Markers (name, value) to store after the messages are recorded: a failure before then
    /// reads the same messages again (recorded ones count as duplicates), never skips any.
    pub positions: Vec<(String, String)>,
    /// Messages or notifications passed over, with why (counted in the answer).
    pub skipped: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The API failed or throttled: answer 5xx so the push is retried.
    #[error("mailbox API unavailable")]
    Unavailable(#[source] crate::error::Cause),
    /// The item is not there (a history position too old, a deleted message).
    #[error("not found: {0}")]
    NotFound(String),
    /// The founder revoked draftgate's access, or the grant expired: connect again.
    #[error("mailbox access revoked: {0}")]
    Revoked(String),
    #[error("mailbox API answered unexpectedly: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A mailbox draftgate reads: authenticates its provider's notifications, reads what changed,
/// and keeps its subscription alive.
#[async_trait]
pub trait MailboxSource: Send + Sync {
    /// `gmail` or `outlook`: the route is `/webhooks/{name}`.
    fn name(&self) -> &'static str;

    /// Authenticate a notification and read its body. `Err` with 401 (bad token, signature or
    /// `clientState`) or 400 (malformed); nothing is read from the mailbox then.
    async fn open(&self, incoming: &Incoming<'_>) -> Result<Notice, ApiError>;

    /// The messages that arrived since the stored position.
    async fn read(
        &self,
        store: &dyn PipelineStore,
        notice: serde_json::Value,
        now: Timestamp,
    ) -> Result<MailBatch, MailError>;

    /// Renew the watch or subscription when it is close to expiring (scheduled); a summary.
    async fn upkeep(
        &self,
        store: &dyn PipelineStore,
        now: Timestamp,
    ) -> Result<serde_json::Value, MailError>;
}

/// What one message means for the deals it belongs to.
#[derive(Debug, Default)]
pub struct Matched {
    pub events: Vec<DealEvent>,
    /// Messages that belong to no deal (or need no recording), with why.
    pub ignored: Vec<String>,
}

/// Find the deals of each message and the events to record on them.
pub async fn match_messages(
    store: &dyn PipelineStore,
    messages: &[MailMessage],
    founder_addresses: &[String],
) -> Result<Matched, StoreError> {
    let mut out = Matched::default();
    for m in messages {
        if m.is_draft {
            out.ignored.push(format!("{} {}: a draft", m.mailbox, m.id));
            continue;
        }
        if let Some(draft) = m.header(DRAFT_HEADER) {
            // draftgate's own follow-up: the approval already recorded it.
            out.ignored.push(format!(
                "{} {}: sent by draftgate (draft {draft})",
                m.mailbox, m.id
            ));
            continue;
        }
        let sender = m.from.as_deref().and_then(address);
        let founder = m.sent_by_founder
            || sender
                .as_ref()
                .is_some_and(|s| founder_addresses.iter().any(|f| f == s));
        let counterparts: Vec<String> = if founder {
            m.to.iter()
                .chain(&m.cc)
                .filter_map(|a| address(a))
                .filter(|a| !founder_addresses.contains(a))
                .collect()
        } else {
            sender.clone().into_iter().collect()
        };
        let deals = deals_of(store, m, &counterparts).await?;
        if deals.is_empty() {
            out.ignored.push(format!(
                "{} {}: {} matches no deal",
                m.mailbox,
                m.id,
                if founder {
                    "no recipient"
                } else {
                    "the sender"
                }
            ));
            continue;
        }
        let subject = crate::domain::checks::excerpt(&m.subject, 200);
        let quoted = match m
            .snippet
            .as_deref()
            .map(|s| crate::domain::checks::excerpt(s, 160))
        {
            Some(s) if !s.is_empty() => format!("\"{subject}\" — {s}"),
            _ => format!("\"{subject}\""),
        };
        let who = counterparts.first().cloned().unwrap_or_default();
        let kind = if founder {
            EventKind::OutboundSent {
                summary: format!("Email to {who}: \"{subject}\""),
            }
        } else if let Some(signal) = auto_reply_signal(None, &m.headers, &m.subject) {
            tracing::debug!(?signal, message = %m.id, "automatic reply");
            EventKind::AutoReplyReceived {
                summary: format!("Automatic reply from {who}: {quoted}"),
            }
        } else {
            EventKind::ProspectReplied {
                summary: format!("Reply from {who}: {quoted}"),
            }
        };
        // Automatic answers do not become the conversation a follow-up continues.
        let conversation =
            (!matches!(kind, EventKind::AutoReplyReceived { .. })).then(|| m.thread());
        let many = deals.len() > 1;
        for deal in deals {
            let id = if many {
                format!("{}:{}@{deal}", m.mailbox, m.id)
            } else {
                format!("{}:{}", m.mailbox, m.id)
            };
            out.events.push(DealEvent {
                id,
                deal,
                occurred_at: m.at,
                source: m.mailbox.to_string(),
                kind: kind.clone(),
                snapshot: Some(DealSnapshot {
                    links: vec![thread_link(m.mailbox, &m.thread_id)],
                    conversation: conversation.clone(),
                    ..DealSnapshot::default()
                }),
            });
        }
    }
    Ok(out)
}

/// The deals of a message: by a counterpart's address, else by its conversation, else by a
/// counterpart's company domain. Deleted deals are left out.
async fn deals_of(
    store: &dyn PipelineStore,
    m: &MailMessage,
    counterparts: &[String],
) -> Result<Vec<DealRef>, StoreError> {
    let mut found = Vec::new();
    for a in counterparts {
        found.extend(store.linked(&format!("email:{a}")).await?);
    }
    if found.is_empty() && !m.thread_id.is_empty() {
        found.extend(store.linked(&thread_link(m.mailbox, &m.thread_id)).await?);
    }
    if found.is_empty() {
        for domain in counterparts.iter().filter_map(|a| company_domain(a)) {
            found.extend(store.linked(&format!("domain:{domain}")).await?);
        }
    }
    found.sort();
    found.dedup();
    let mut live = Vec::new();
    for deal in found {
        if store.get_deal(&deal).await?.is_some_and(|d| !d.deleted) {
            live.push(deal);
        }
    }
    Ok(live)
}
