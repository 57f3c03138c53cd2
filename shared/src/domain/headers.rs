//! The one way a value becomes a mail header. Subjects, display names, addresses and message
//! ids come from CRM fields, prospects' mail and the founder's edits; none of them may start a
//! header of its own. Text is folded onto one line (CR, LF, NEL, LS, PS and every other
//! control character become a space); an address or a message id that is not one is refused
//! (addresses) or left out (references read from received mail). Every sender (SES, Gmail,
//! Outlook, the runner's outbox) and every founder notification (SNS, Slack) writes its headers
//! from [`MailHeaders`] or [`one_line`], never from the raw text.

use std::fmt;

use crate::domain::OutboundEmail;

/// The longest subject draftgate writes, in characters (RFC 5322 allows 998 per line; a
/// subject beyond this is a mistake, not a message).
pub const MAX_SUBJECT_CHARS: usize = 250;

/// `text` on one line: every line break (CR, LF, NEL U+0085, LS U+2028, PS U+2029) and every
/// other control or format-breaking character becomes a space, runs of spaces collapse, and the
/// ends are trimmed. Bidirectional overrides and isolates are dropped.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        // Direction overrides and isolates make a line read differently from what it is.
        if matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            continue;
        }
        if breaks_line(c) || c.is_whitespace() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Characters that end or break a header line, or that no header should carry: controls
/// (C0, DEL, C1 including NEL) and the Unicode line and paragraph separators.
fn breaks_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Text that could be read as an RFC 2047 encoded word (`=?utf-8?q?…?=`) is not one: a mail
/// program would decode it (to a line break, say) and show text nobody wrote. `=?` becomes `= ?`.
fn no_encoded_words(line: String) -> String {
    if line.contains("=?") {
        line.replace("=?", "= ?")
    } else {
        line
    }
}

/// A subject as it is written: on one line, at most [`MAX_SUBJECT_CHARS`] characters, with no
/// encoded word of its own.
pub fn subject(text: &str) -> String {
    let line = no_encoded_words(one_line(text));
    match line.char_indices().nth(MAX_SUBJECT_CHARS) {
        Some((cut, _)) => line[..cut].trim_end().to_string(),
        None => line,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("`{0}` is not an email address draftgate can send to")]
    Address(String),
    #[error("`{0}` is not a message id")]
    MessageId(String),
}

/// A mailbox of an address header: an optional display name (on one line) and an address that
/// is a plain `local@domain` (RFC 5322 dot-atoms, ASCII), so nothing in it can end the header,
/// add a recipient or open a comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    /// `a@b.example` or `Name <a@b.example>` (the name may be quoted).
    pub fn parse(text: &str) -> Result<Mailbox, HeaderError> {
        let refuse = || HeaderError::Address(one_line(text));
        let trimmed = text.trim();
        let (name, addr) = match trimmed.rfind('<') {
            Some(open) => {
                let inner = trimmed[open + 1..].strip_suffix('>').ok_or_else(refuse)?;
                let name = no_encoded_words(one_line(trimmed[..open].trim().trim_matches('"')));
                // A second address dressed as a name (`a <x@y>, <z@w>`) is not one mailbox.
                if name.contains(['<', '>']) {
                    return Err(refuse());
                }
                ((!name.is_empty()).then_some(name), inner)
            }
            None => (None, trimmed),
        };
        let address = addr_spec(addr).ok_or_else(refuse)?;
        Ok(Mailbox { name, address })
    }

    /// The mailbox as a header value (`"Name" <a@b>`, the name RFC 2047-encoded when it is not
    /// plain ASCII), on one line.
    pub fn encoded(&self) -> String {
        use mail_builder::headers::address::EmailAddress;
        use mail_builder::headers::Header;
        let Some(name) = &self.name else {
            return self.address.clone();
        };
        let mut out = Vec::new();
        EmailAddress {
            name: Some(name.as_str().into()),
            email: self.address.as_str().into(),
        }
        .write_header(&mut out, 0)
        .expect("writing to a Vec cannot fail");
        // mail-builder folds long values; a value handed to an API stays on one line.
        one_line(&String::from_utf8_lossy(&out))
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded())
    }
}

/// RFC 5322 `atext`: what a dot-atom is made of.
fn atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext))
}

/// `local@domain`, lowercased in its domain, when it is a plain address: a dot-atom local part
/// and a domain of letter-digit-hyphen labels with at least one dot; `None` otherwise.
pub fn addr_spec(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() > 254 {
        return None;
    }
    let (local, domain) = text.split_once('@')?;
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let domain_ok = domain.contains('.') && domain.split('.').all(label);
    (local.len() <= 64 && dot_atom(local) && domain_ok)
        .then(|| format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// A message id as `<left@right>` (dot-atoms on both sides), with its brackets; `None` for
/// anything else.
pub fn msg_id(text: &str) -> Option<String> {
    let inner = text.trim().strip_prefix('<')?.strip_suffix('>')?;
    let (left, right) = inner.split_once('@')?;
    (inner.len() <= 250 && dot_atom(left) && dot_atom(right)).then(|| format!("<{inner}>"))
}

/// Every header of a message to a prospect, each already made safe: what the senders write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailHeaders {
    pub from: Mailbox,
    pub to: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    /// Derived from the draft (`<draft.draftgate@domain>`).
    pub message_id: String,
    /// The conversation's newest message, when the message continues one and its id is one.
    pub in_reply_to: Option<String>,
    /// The conversation's ids that are ids, oldest first.
    pub references: Vec<String>,
    /// The draft id, for draftgate's own header.
    pub draft_id: String,
}

impl OutboundEmail {
    /// This message's headers, through the one encoder. An address that is not one refuses the
    /// send (nothing is sent to a malformed or smuggled recipient); a conversation id read from
    /// received mail that is not a message id is left out.
    pub fn headers(&self) -> Result<MailHeaders, HeaderError> {
        let draft_id = one_line(&self.draft_id);
        if draft_id.is_empty() || !draft_id.chars().all(|c| atext(c) || c == '.') {
            return Err(HeaderError::MessageId(draft_id));
        }
        let message_id =
            msg_id(&self.message_id()).ok_or_else(|| HeaderError::MessageId(self.message_id()))?;
        let (in_reply_to, references) = match &self.thread {
            Some(t) => (
                t.message_id.as_deref().and_then(msg_id),
                t.references.iter().filter_map(|r| msg_id(r)).collect(),
            ),
            None => (None, Vec::new()),
        };
        Ok(MailHeaders {
            from: Mailbox::parse(&self.from)?,
            to: Mailbox::parse(&self.to)?,
            reply_to: self.reply_to.as_deref().map(Mailbox::parse).transpose()?,
            subject: subject(&self.subject),
            message_id,
            in_reply_to,
            references,
            draft_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_break_and_control_character_folds_to_one_space() {
        for text in [
            "Zenith\r\nBcc: victim@evil.example",
            "Zenith\nBcc: victim@evil.example",
            "Zenith\rBcc: victim@evil.example",
            "Zenith\u{2028}Bcc: victim@evil.example",
            "Zenith\u{2029}Bcc: victim@evil.example",
            "Zenith\u{85}Bcc: victim@evil.example",
            "Zenith\u{0}\u{7}\t\u{b}\u{c}Bcc: victim@evil.example",
            "  Zenith \r\n\r\n  Bcc: victim@evil.example \r\n",
        ] {
            assert_eq!(
                one_line(text),
                "Zenith Bcc: victim@evil.example",
                "{text:?}"
            );
        }
        assert_eq!(
            one_line("Proposal for Müller & Söhne"),
            "Proposal for Müller & Söhne"
        );
        assert_eq!(one_line("\r\n"), "");
        assert_eq!(one_line("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
    }

    #[test]
    fn text_that_looks_like_an_encoded_word_is_not_one() {
        assert_eq!(
            subject("Re: =?utf-8?q?Hi=0D=0ABcc:_x@y.example?="),
            "Re: = ?utf-8?q?Hi=0D=0ABcc:_x@y.example?="
        );
        let m = Mailbox::parse("=?utf-8?b?DQpCY2M6?= <a@b.example>").unwrap();
        assert!(!m.name.unwrap().contains("=?"));
    }

    #[test]
    fn a_subject_is_cut_on_a_character_boundary() {
        let s = subject(&"é".repeat(400));
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS);
    }

    #[test]
    fn an_address_is_a_plain_dot_atom_address_or_nothing() {
        assert_eq!(
            addr_spec("Dana.Smith+q4@Acme.Example").as_deref(),
            Some("Dana.Smith+q4@acme.example")
        );
        for bad in [
            "a@b.example,evil@x.example",
            "a@b.example\r\nBcc: evil@x.example",
            "a b@c.example",
            "\"a\"@b.example",
            "a@b",
            "a@-b.example",
            "a..b@c.example",
            ".a@c.example",
            "a@b.example>",
            "a(comment)@b.example",
            "ü@b.example",
            "",
        ] {
            assert_eq!(addr_spec(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_display_name_is_kept_on_one_line_and_encoded() {
        let m = Mailbox::parse("\"Alex\r\nBcc: evil@x.example\" <alex@northwind.example>").unwrap();
        assert_eq!(m.name.as_deref(), Some("Alex Bcc: evil@x.example"));
        assert_eq!(m.address, "alex@northwind.example");
        assert!(!m.encoded().contains('\n'));
        assert!(
            m.encoded().ends_with("<alex@northwind.example>"),
            "{}",
            m.encoded()
        );
        let m = Mailbox::parse("Zoë Fernández <zoe@acme.example>").unwrap();
        assert!(m.encoded().starts_with("\"=?utf-8?"), "{}", m.encoded());
        assert_eq!(
            Mailbox::parse("dana@acme.example").unwrap().encoded(),
            "dana@acme.example"
        );
        for bad in [
            "Dana <dana@acme.example",
            "Dana <dana@acme.example>, evil@x.example",
            "<a@b.example\r\nBcc: e@x.example>",
        ] {
            assert!(Mailbox::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn message_ids_are_bracketed_dot_atoms() {
        assert_eq!(
            msg_id(" <CAx+y=z@mail.gmail.com> ").as_deref(),
            Some("<CAx+y=z@mail.gmail.com>")
        );
        for bad in [
            "<a@b>\r\nBcc: x@y.z",
            "<a b@c>",
            "a@b",
            "<@b>",
            "<a@>",
            "<a@b@c>",
        ] {
            assert_eq!(msg_id(bad), None, "{bad:?}");
        }
    }
}
