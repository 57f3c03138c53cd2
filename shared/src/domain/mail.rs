//! Mail in draftgate's terms, whichever mailbox holds it (Gmail, Outlook): a message, its
//! conversation, its addresses, and whether it is a person's reply or an automatic answer.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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
            subject: base_subject(&crate::domain::headers::one_line(&self.subject)),
        }
    }
}

/// Why a message counts as automatic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoReplySignal {
    /// The connector said so (`"auto_reply": true`).
    Flagged,
    /// A header that mail software sets on automatic messages (RFC 3834 and common variants).
    Header(&'static str),
    /// The subject reads like an out-of-office or auto-responder subject.
    Subject(&'static str),
}

/// Subjects that start like this are automatic (compared lowercased, `-`/`_` as spaces).
const AUTO_SUBJECT_PREFIXES: [&str; 13] = [
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "autoreply",
    "auto response",
    "autoresponse",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
    "automatisch antwoord",
];

/// Sentences that only out-of-office notices put in a subject, wherever they appear.
const AUTO_SUBJECT_PHRASES: [&str; 5] = [
    "i am out of the office",
    "i'm out of the office",
    "is out of the office",
    "i am out of office",
    "i'm out of office",
];

/// Whether a received message is an automatic answer rather than a person's reply, and why.
/// `headers` may use any capitalisation of the header names.
pub fn auto_reply_signal(
    flagged: Option<bool>,
    headers: &BTreeMap<String, String>,
    subject: &str,
) -> Option<AutoReplySignal> {
    if flagged == Some(true) {
        return Some(AutoReplySignal::Flagged);
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    // RFC 3834: anything but `no` (parameters after `;` aside) marks an automatic message.
    if let Some(v) = header("auto-submitted") {
        // RFC 3834: the keyword, then optional parameters (`;`) or a comment (`(…)`).
        let keyword = v.split([';', '(']).next().unwrap_or("").trim();
        if !keyword.eq_ignore_ascii_case("no") {
            return Some(AutoReplySignal::Header("Auto-Submitted"));
        }
    }
    if header("x-autoreply").is_some() {
        return Some(AutoReplySignal::Header("X-Autoreply"));
    }
    if header("x-autorespond").is_some() {
        return Some(AutoReplySignal::Header("X-Autorespond"));
    }
    if header("precedence").as_deref() == Some("auto_reply") {
        return Some(AutoReplySignal::Header("Precedence"));
    }
    let subject = subject
        .to_lowercase()
        .replace(['-', '_'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(p) = AUTO_SUBJECT_PREFIXES
        .iter()
        .find(|p| subject.starts_with(*p))
    {
        return Some(AutoReplySignal::Subject(p));
    }
    AUTO_SUBJECT_PHRASES
        .iter()
        .find(|p| subject.contains(*p))
        .map(|p| AutoReplySignal::Subject(p))
}

/// The address in `Name <a@b.c>` or `a@b.c`, lowercased; `None` if there is none, or more than
/// one. Comments (`(…)`) are not addresses; a second `<…>`, a comma or a group is not one
/// mailbox; the address itself must be one draftgate could write ([`crate::domain::headers::addr_spec`]),
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
    crate::domain::headers::addr_spec(inner.trim()).map(|a| a.to_ascii_lowercase())
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

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn automatic_messages_are_recognised_by_flag_header_or_subject() {
        use AutoReplySignal::*;
        let none = headers(&[]);
        type Case<'a> = (
            Option<bool>,
            BTreeMap<String, String>,
            &'a str,
            Option<AutoReplySignal>,
        );
        let cases: [Case<'_>; 23] = [
            // The connector's flag wins whatever else the message says.
            (Some(true), none.clone(), "Re: Proposal", Some(Flagged)),
            (Some(false), none.clone(), "Re: Proposal", None),
            // RFC 3834 Auto-Submitted: any value but `no`, any capitalisation.
            (
                None,
                headers(&[("Auto-Submitted", "auto-replied")]),
                "Re: Proposal",
                Some(Header("Auto-Submitted")),
            ),
            (
                None,
                headers(&[("auto-submitted", "Auto-Generated; owner-email=a@b.c")]),
                "Re: Proposal",
                Some(Header("Auto-Submitted")),
            ),
            (
                None,
                headers(&[("AUTO-SUBMITTED", " No ")]),
                "Re: Proposal",
                None,
            ),
            (
                None,
                headers(&[("Auto-Submitted", "no; comment")]),
                "Re: Proposal",
                None,
            ),
            (
                None,
                headers(&[("Auto-Submitted", "No (reply typed by a person)")]),
                "Re: Proposal",
                None,
            ),
            // X-Autoreply / X-Autorespond: present at all.
            (
                None,
                headers(&[("X-Autoreply", "yes")]),
                "Re: Proposal",
                Some(Header("X-Autoreply")),
            ),
            (
                None,
                headers(&[("x-autorespond", "")]),
                "Re: Proposal",
                Some(Header("X-Autorespond")),
            ),
            // Precedence: auto_reply only (bulk and list mail are not our concern here).
            (
                None,
                headers(&[("Precedence", "Auto_Reply")]),
                "Re: Proposal",
                Some(Header("Precedence")),
            ),
            (
                None,
                headers(&[("Precedence", "bulk")]),
                "Re: Proposal",
                None,
            ),
            // Subjects of out-of-office notices and auto-responders, in several languages.
            (
                None,
                none.clone(),
                "Out of Office: Re: Proposal",
                Some(Subject("out of office")),
            ),
            (
                None,
                none.clone(),
                "OUT-OF-OFFICE until Monday",
                Some(Subject("out of office")),
            ),
            (
                None,
                none.clone(),
                "Automatic reply: Proposal for Acme",
                Some(Subject("automatic reply")),
            ),
            (
                None,
                none.clone(),
                "Autoreply: Proposal",
                Some(Subject("autoreply")),
            ),
            (
                None,
                none.clone(),
                "Auto-Reply: Proposal",
                Some(Subject("auto reply")),
            ),
            (
                None,
                none.clone(),
                "Abwesenheitsnotiz: Angebot",
                Some(Subject("abwesenheitsnotiz")),
            ),
            (
                None,
                none.clone(),
                "Réponse automatique : Proposition",
                Some(Subject("réponse automatique")),
            ),
            (
                None,
                none.clone(),
                "I am out of the office until 3 March",
                Some(Subject("i am out of the office")),
            ),
            (
                None,
                none.clone(),
                "Jane Doe is out of the office.",
                Some(Subject("is out of the office")),
            ),
            // A person's reply that mentions the office in passing is a reply.
            (
                None,
                none.clone(),
                "Re: Proposal - back in the office on Monday, let's talk then",
                None,
            ),
            (
                None,
                headers(&[("X-Mailer", "Outlook"), ("Precedence", "")]),
                "Re: Office move and the rollout",
                None,
            ),
            (
                None,
                none.clone(),
                "Re: Our out of office coverage plan",
                None,
            ),
        ];
        for (flag, hdrs, subject, want) in cases {
            assert_eq!(
                auto_reply_signal(flag, &hdrs, subject),
                want,
                "{flag:?} {hdrs:?} {subject:?}"
            );
        }
    }
}
