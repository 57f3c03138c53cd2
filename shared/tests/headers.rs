//! Every message draftgate writes, read back by a real RFC 5322/2047 parser (mail-parser): text
//! from a CRM, a prospect or an edit never adds a header, a recipient or a line.

use jiff::Timestamp;
use mail_parser::{HeaderValue, Message, MessageParser};
use proptest::prelude::*;
use shared::adapters::mailbox::gmail::rfc5322;
use shared::domain::headers;
use shared::domain::mail::MailThread;
use shared::domain::OutboundEmail;

const HOSTILE: &str = "Zenith\r\nBcc: victim@evil.example\r\nX-Injected: yes";

fn email(subject: &str) -> OutboundEmail {
    OutboundEmail {
        draft_id: "01JDRAFT0000000000000000AB".into(),
        from: "Alex Founder <alex@northwind.example>".into(),
        to: "pepper@stark.example".into(),
        reply_to: Some("alex@northwind.example".into()),
        subject: subject.into(),
        body: "Hi Pepper,\r\n\r\nBcc: not-a-header@evil.example\r\n".into(),
        thread: Some(MailThread {
            mailbox: "gmail".into(),
            thread_id: "t1".into(),
            provider_message_id: Some("m1".into()),
            message_id: Some("<m1@stark.example>\r\nBcc: thread@evil.example".into()),
            references: vec![
                "<m0@northwind.example>".into(),
                "<m1@stark.example>\r\nX-Injected: yes".into(),
                "<m1@stark.example>".into(),
            ],
            subject: "Proposal".into(),
        }),
    }
}

fn at() -> Timestamp {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

fn names(m: &Message<'_>) -> Vec<String> {
    m.headers()
        .iter()
        .map(|h| h.name().to_ascii_lowercase())
        .collect()
}

/// The headers a follow-up has, whatever its text: no more, no fewer.
const EXPECTED: [&str; 10] = [
    "content-transfer-encoding",
    "content-type",
    "date",
    "from",
    "in-reply-to",
    "message-id",
    "mime-version",
    "references",
    "reply-to",
    "subject",
];

fn check(raw: &str, subject: &str) {
    let m = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parses");
    let mut got = names(&m);
    got.retain(|n| n != "to" && n != "x-draftgate-draft");
    got.sort();
    let mut want: Vec<String> = EXPECTED.iter().map(ToString::to_string).collect();
    if !raw.contains("In-Reply-To:") {
        want.retain(|n| n != "in-reply-to");
    }
    if !raw.contains("References:") {
        want.retain(|n| n != "references");
    }
    assert_eq!(got, want, "{raw}");
    assert!(m.bcc().is_none(), "{raw}");
    assert_eq!(m.to().map(|a| a.iter().count()), Some(1), "{raw}");
    assert_eq!(m.header_values("X-Draftgate-Draft").count(), 1, "{raw}");
    assert_eq!(
        m.subject(),
        Some(headers::subject(subject).as_str()),
        "{raw}"
    );
}

#[test]
fn a_crm_field_or_an_edit_with_line_breaks_never_adds_a_header() {
    for subject in [
        HOSTILE,
        "Hello\r\nBcc: victim@evil.example",
        "Hello\nBcc: victim@evil.example",
        "Hello\rBcc: victim@evil.example",
        "Hello\u{2028}Bcc: victim@evil.example",
        "Hello\u{2029}Bcc: victim@evil.example",
        "Hello\u{85}Bcc: victim@evil.example",
        "Grüße\r\nBcc: victim@evil.example",
    ] {
        let raw = rfc5322(&email(subject), at()).unwrap();
        check(&raw, subject);
        let head = raw.split("\r\n\r\n").next().unwrap();
        assert!(!head.contains("\nBcc:"), "{raw}");
        assert!(!head.contains("\nX-Injected"), "{raw}");
    }
}

#[test]
fn references_that_are_not_message_ids_are_left_out() {
    let raw = rfc5322(&email("Proposal"), at()).unwrap();
    let m = MessageParser::default().parse(raw.as_bytes()).unwrap();
    // The parent's id was smuggled text: no In-Reply-To rather than a forged one.
    assert!(!raw.contains("In-Reply-To:"), "{raw}");
    let refs = match m.header_values("References").next() {
        Some(HeaderValue::TextList(l)) => l.iter().map(ToString::to_string).collect(),
        Some(HeaderValue::Text(t)) => vec![t.to_string()],
        other => panic!("{other:?}"),
    };
    assert_eq!(refs, vec!["m0@northwind.example", "m1@stark.example"]);
}

#[test]
fn a_display_name_with_line_breaks_stays_a_name() {
    let mut e = email("Proposal");
    e.from = "\"Alex\r\nBcc: victim@evil.example\" <alex@northwind.example>".into();
    e.to = "Pepper\u{2028}Bcc: victim@evil.example <pepper@stark.example>".into();
    let raw = rfc5322(&e, at()).unwrap();
    check(&raw, "Proposal");
    let m = MessageParser::default().parse(raw.as_bytes()).unwrap();
    let from = m.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.address(), Some("alex@northwind.example"));
    assert_eq!(from.name(), Some("Alex Bcc: victim@evil.example"));
}

#[test]
fn a_recipient_that_is_not_one_plain_address_refuses_the_send() {
    for to in [
        "pepper@stark.example, victim@evil.example",
        "pepper@stark.example,victim@evil.example",
        "pepper@stark.example\r\nBcc: victim@evil.example",
        "Pepper <pepper@stark.example>, <victim@evil.example>",
        "undisclosed-recipients:;",
    ] {
        let mut e = email("Proposal");
        e.to = to.into();
        assert!(rfc5322(&e, at()).is_err(), "{to:?}");
        assert!(e.headers().is_err(), "{to:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_subject_and_name_give_the_same_headers_and_one_line_subject(
        subject in "(\\PC|[\r\n\u{2028}\u{2029}\u{85}\t]|Bcc: |To: |: ){0,60}",
        name in "(\\PC|[\r\n\u{2028}\u{2029}\u{85}\"<>,;@])*",
    ) {
        let mut e = email(&subject);
        e.from = format!("{name} <alex@northwind.example>");
        let h = e.headers();
        prop_assume!(h.is_ok());
        let h = h.unwrap();
        let breaks = ['\r', '\n', '\u{2028}', '\u{2029}', '\u{85}'];
        prop_assert!(!h.subject.contains(breaks), "subject {:?}", h.subject);
        let raw = rfc5322(&e, at()).unwrap();
        let m = MessageParser::default().parse(raw.as_bytes()).unwrap();
        prop_assert!(m.bcc().is_none());
        prop_assert_eq!(m.to().map(|a| a.iter().count()), Some(1));
        prop_assert_eq!(m.from().map(|a| a.iter().count()), Some(1));
        prop_assert_eq!(
            m.from().and_then(|a| a.first()).and_then(|a| a.address()),
            Some("alex@northwind.example")
        );
        let mut got = names(&m);
        got.retain(|n| n != "to" && n != "x-draftgate-draft" && n != "in-reply-to" && n != "references");
        got.sort();
        let want: Vec<String> = EXPECTED.iter().filter(|n| **n != "in-reply-to" && **n != "references").map(ToString::to_string).collect();
        prop_assert_eq!(got, want);
    }
}
