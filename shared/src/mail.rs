//! Mail in the founder's mailbox, whichever provider holds it (Gmail, Outlook), in draftgate's
//! terms: a message's addresses and thread, turned into deal events on the deals it belongs to.
//!
//! A message belongs to a deal when one of its addresses (the sender of a received message,
//! the recipients of a sent one) is a contact of the deal, when it is in a conversation already
//! on the deal (e.g. one draftgate sent into), or, failing both, when the address's company
//! domain is the deal's contact's. Received automatic answers are recorded as such and stop
//! nothing; mail the founder wrote outside draftgate is an outbound touch; messages that match
//! no deal are ignored and counted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{DealEvent, DealRef, DealSnapshot, EventKind};
use crate::http::{ApiError, Response};
use crate::ports::{PipelineStore, StoreError};
use crate::providers::inbox::auto_reply_signal;
use crate::providers::Incoming;

/// The header every message draftgate sends carries, naming its draft: how a retried send
/// finds a message already in Sent, and how the reader skips draftgate's own mail.
pub const DRAFT_HEADER: &str = "X-Draftgate-Draft";

/// Mail services whose domains say nothing about the sender's company.
const FREE_MAIL: [&str; 22] = [
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "web.de",
    "mail.com",
    "zoho.com",
    "fastmail.com",
];

/// The conversation a deal's mail is in, so a follow-up continues it (same thread, `In-Reply-To`
/// and `References`) instead of arriving as a stranger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailThread {
    /// `gmail` or `outlook`: whose ids these are.
    pub mailbox: String,
    /// Gmail's `threadId`, or Outlook's `conversationId`.
    pub thread_id: String,
    /// The provider's id of the newest message (what Graph replies to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// The newest message's RFC 5322 `Message-ID`, with its angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The conversation's `References`, oldest first, ending with `message_id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// The conversation's subject without `Re:`/`Fwd:` prefixes.
    pub subject: String,
}

impl MailThread {
    /// The conversation once `email` was sent into it (or started it) as message `id`.
    pub fn after_sent(
        email: &crate::domain::OutboundEmail,
        mailbox: &str,
        thread_id: &str,
        id: &str,
    ) -> MailThread {
        let own = email.message_id();
        let mut references = email
            .thread
            .as_ref()
            .map(|t| t.references.clone())
            .unwrap_or_default();
        references.push(own.clone());
        MailThread {
            mailbox: mailbox.to_string(),
            thread_id: thread_id.to_string(),
            provider_message_id: Some(id.to_string()),
            message_id: Some(own),
            references,
            subject: base_subject(&email.subject),
        }
    }

    /// The subject a message continuing the conversation carries.
    pub fn reply_subject(&self) -> String {
        format!("Re: {}", self.subject)
    }
}

/// One message read from the founder's mailbox.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MailMessage {
    /// `gmail` or `outlook`.
    pub mailbox: &'static str,
    /// The provider's message id.
    pub id: String,
    pub thread_id: String,
    pub at: Timestamp,
    /// The founder sent it (Gmail's `SENT` label, Outlook's sender is the mailbox).
    pub sent_by_founder: bool,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub snippet: Option<String>,
    /// The headers read (`Message-ID`, `In-Reply-To`, `References`, `Auto-Submitted`, …).
    pub headers: BTreeMap<String, String>,
    /// A draft still being written (Outlook reports those too).
    pub is_draft: bool,
}

impl MailMessage {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// The conversation this message continues, as a deal keeps it.
    pub fn thread(&self) -> MailThread {
        let message_id = self.header("Message-ID").map(str::to_string);
        let mut references = message_ids(self.header("References").unwrap_or(""));
        if references.is_empty() {
            references = message_ids(self.header("In-Reply-To").unwrap_or(""));
        }
        if let Some(id) = &message_id {
            if !references.contains(id) {
                references.push(id.clone());
            }
        }
        // Long conversations: keep the first and the newest references (RFC 5322 §3.6.4).
        if references.len() > 20 {
            let tail = references.split_off(references.len() - 19);
            references.truncate(1);
            references.extend(tail);
        }
        MailThread {
            mailbox: self.mailbox.to_string(),
            thread_id: self.thread_id.clone(),
            provider_message_id: Some(self.id.clone()),
            message_id,
            references,
            subject: base_subject(&crate::headers::one_line(&self.subject)),
        }
    }
}

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

/// The address in `Name <a@b.c>` or `a@b.c`, lowercased; `None` if there is none, or more than
/// one. Comments (`(…)`) are not addresses; a second `<…>`, a comma or a group is not one
/// mailbox; the address itself must be one draftgate could write ([`crate::headers::addr_spec`]),
/// so what is read and what is sent agree.
pub fn address(text: &str) -> Option<String> {
    // Drop comments outside quotes: `a@b.c (Pat <x@y.z>)` is a@b.c.
    let mut plain = String::with_capacity(text.len());
    let (mut quoted, mut depth) = (false, 0usize);
    for c in text.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                plain.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => plain.push(c),
        }
    }
    let text = plain.trim();
    // Outside a quoted name, at most one `<…>`, and nothing after it.
    let mut unquoted = String::with_capacity(text.len());
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted {
            unquoted.push(c);
        }
    }
    if unquoted.matches('<').count() > 1 || unquoted.contains([',', ';']) {
        return None;
    }
    let inner = match (unquoted.find('<'), text.rfind('<')) {
        (Some(_), Some(open)) => text[open + 1..].strip_suffix('>')?,
        _ => text,
    };
    crate::headers::addr_spec(inner.trim()).map(|a| a.to_ascii_lowercase())
}

/// Every address of an address-list header (`To`, `Cc`), commas inside quotes respected.
pub fn addresses(header: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut angle = false;
    for ch in header.chars() {
        match ch {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.extend(address(&current));
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    out.extend(address(&current));
    out.dedup();
    out
}

/// The `<…>` ids of a `References` or `In-Reply-To` header, in order.
pub fn message_ids(header: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let id = &rest[open..open + close + 1];
        if id.len() > 2 && !out.iter().any(|x| x == id) {
            out.push(id.to_string());
        }
        rest = &rest[open + close + 1..];
    }
    out
}

/// A subject without its `Re:`, `Fwd:`, `AW:`, `WG:` … prefixes.
pub fn base_subject(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let prefix = ["re:", "fwd:", "fw:", "aw:", "wg:", "sv:", "antw:", "réf:"]
            .iter()
            .find(|p| lower.starts_with(*p));
        match prefix {
            Some(p) => s = s[p.len()..].trim_start(),
            None => return s.to_string(),
        }
    }
}

/// The company domain of an address, unless it is a free mail service's.
pub fn company_domain(address: &str) -> Option<String> {
    let domain = address.rsplit_once('@')?.1.to_ascii_lowercase();
    (!FREE_MAIL.contains(&domain.as_str())).then_some(domain)
}

/// The links a deal's contact address gives it: `email:<address>` and its company domain.
pub fn contact_links(email: &str) -> Vec<String> {
    let Some(addr) = address(email) else {
        return Vec::new();
    };
    let mut links = vec![format!("email:{addr}")];
    if let Some(domain) = company_domain(&addr) {
        links.push(format!("domain:{domain}"));
    }
    links
}

/// The link that leads a later message of the same conversation to the deal.
pub fn thread_link(mailbox: &str, thread_id: &str) -> String {
    format!("{mailbox}:thread:{thread_id}")
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
        let subject = crate::providers::fields::excerpt(&m.subject, 200);
        let quoted = match m
            .snippet
            .as_deref()
            .map(|s| crate::providers::fields::excerpt(s, 160))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_from_display_forms_and_lists() {
        assert_eq!(
            address("Dana Smith <Dana@Acme.example>").as_deref(),
            Some("dana@acme.example")
        );
        assert_eq!(
            address(" dana@acme.example ").as_deref(),
            Some("dana@acme.example")
        );
        assert_eq!(address("Undisclosed recipients:;"), None);
        assert_eq!(address("not an address"), None);
        // A comment, a second address or a list is not the sender.
        assert_eq!(
            address("stranger@attacker.example (Pat <su2@prospect.example>)").as_deref(),
            Some("stranger@attacker.example")
        );
        for smuggled in [
            "Jane <jane5@p.example> <evil@attacker.example>",
            "Jane <jane@p.example>, evil@attacker.example",
            "a@b.example,evil@x.example",
            "Jane <jane@p.example> evil@x.example",
        ] {
            assert_eq!(address(smuggled), None, "{smuggled}");
        }
        assert_eq!(
            address("\"Doe, Jane <jd>\" <Jane@Acme.example>").as_deref(),
            Some("jane@acme.example")
        );
        assert_eq!(
            addresses("\"Smith, Dana\" <dana@acme.example>, bo@beta.example, <c@c.example>"),
            vec!["dana@acme.example", "bo@beta.example", "c@c.example"]
        );
    }

    #[test]
    fn message_ids_subjects_and_domains() {
        assert_eq!(
            message_ids("<a@x>\r\n <b@y> <a@x>"),
            vec!["<a@x>".to_string(), "<b@y>".to_string()]
        );
        assert_eq!(base_subject("RE: Fwd: AW: Proposal"), "Proposal");
        assert_eq!(base_subject("Proposal"), "Proposal");
        assert_eq!(
            company_domain("dana@acme.example").as_deref(),
            Some("acme.example")
        );
        assert_eq!(company_domain("dana@gmail.com"), None);
        assert_eq!(
            contact_links("Dana <dana@gmail.com>"),
            vec!["email:dana@gmail.com".to_string()]
        );
    }

    #[test]
    fn a_thread_keeps_its_references_in_order_ending_with_the_message() {
        let mut m = MailMessage {
            mailbox: "gmail",
            id: "m2".into(),
            thread_id: "t1".into(),
            subject: "Re: Re: Proposal for Acme".into(),
            ..MailMessage::default()
        };
        m.headers.insert("Message-ID".into(), "<m2@acme>".into());
        m.headers.insert("In-Reply-To".into(), "<m1@us>".into());
        let t = m.thread();
        assert_eq!(t.references, vec!["<m1@us>", "<m2@acme>"]);
        assert_eq!(t.subject, "Proposal for Acme");
        assert_eq!(t.reply_subject(), "Re: Proposal for Acme");
        m.headers.insert(
            "References".into(),
            (0..30)
                .map(|i| format!("<r{i}@x>"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let t = m.thread();
        assert_eq!(t.references.len(), 20);
        assert_eq!(t.references[0], "<r0@x>");
        assert_eq!(t.references.last().unwrap(), "<m2@acme>");
    }
}
