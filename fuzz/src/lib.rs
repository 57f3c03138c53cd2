//! The fuzz targets' bodies: each feeds arbitrary bytes to one parser (through its signature
//! check where it has one) and asks only that nothing panics. `fuzz/run.sh` runs them.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use jiff::Timestamp;
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::review::Review;
use shared::assembly::{Adapters, Services, Settings};
use shared::config::{BundledFiles, Config};
use shared::domain::{
    CallNote, Deal, DealRef, Draft, DraftContext, DraftStatus, Stage, TriggerKind,
};
use shared::providers::{Incoming, Lookup, Providers};
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};

const NOW: &str = "2026-11-30T10:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn bundled() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::bundled().expect("the bundled config"))
}

fn providers() -> &'static Providers {
    static PROVIDERS: OnceLock<Providers> = OnceLock::new();
    PROVIDERS.get_or_init(|| {
        Providers::build(&Providers::all_names(), |spec| Some(Secret::new(spec.dev)))
    })
}

/// Headers (`Name: value` lines) up to the first blank line, then the body; a first line that
/// starts with `?` is the query string.
fn request(route: &str, data: &[u8]) -> Option<http::Request<Bytes>> {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(data.len());
    let head = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 2..).unwrap_or_default();
    let mut lines = head.lines().peekable();
    let query = match lines.peek() {
        Some(l) if l.starts_with('?') => lines.next().unwrap_or_default().to_string(),
        _ => String::new(),
    };
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("{route}{query}"))
        .body(Bytes::copy_from_slice(body))
        .ok()?;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.trim().as_bytes()),
                HeaderValue::from_str(v.trim()),
            ) {
                req.headers_mut().append(k, v);
            }
        }
    }
    Some(req)
}

/// A provider's webhook: its signature check, then its parser (whatever the check said).
pub fn webhook(name: &str, data: &[u8]) {
    let route = format!("/webhooks/{name}");
    let Some(req) = request(&route, data) else {
        return;
    };
    let Lookup::Enabled(provider) = providers().get(name) else {
        panic!("{name} is a provider");
    };
    let incoming = Incoming {
        request: &req,
        url: format!("https://hooks.example{}", req.uri()),
        now: now(),
        config: bundled(),
    };
    let _ = provider.verify(&incoming);
    let _ = provider.parse(&incoming);
}

pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = Config::parse("draftgate.toml", &text, &BundledFiles);
}

struct World {
    rt: tokio::runtime::Runtime,
    review: Review,
    token: String,
}

const SLACK_SECRET: &str = "fuzz-slack-signing-secret";

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = EmbeddedStore::open_in_memory().unwrap();
        let clock = Arc::new(ManualClock::new(now()));
        let tokens = TokenSigner::new(Secret::new("fuzz-key"));
        let token = tokens.sign(
            Scope::Draft("d1"),
            &bundled().founder.email,
            now() + jiff::SignedDuration::from_hours(1),
        );
        let review = Services::build(
            Adapters::embedded(&store, clock),
            Settings {
                public_base_url: "https://hooks.example".into(),
                tokens: Some(tokens),
                slack_signing_secret: Some(Secret::new(SLACK_SECRET)),
                ..Settings::new(Arc::new(bundled().clone()))
            },
        )
        .review();
        rt.block_on(seed(&store));
        World { rt, review, token }
    })
}

/// One deal and its waiting draft `d1`, so decisions reach the draft.
async fn seed(store: &Arc<EmbeddedStore>) {
    use shared::ports::{DealStore, DraftStore};
    let key = DealRef::new("hubspot", "1");
    let mut deal = Deal::new(key.clone(), now());
    deal.version = 1;
    deal.stage = Some(Stage::Proposal);
    deal.proposal_sent_at = Some(now() - jiff::SignedDuration::from_hours(80));
    deal.contact_email = Some("jane@acme.example".into());
    store.put_deal(&deal).await.unwrap();
    let draft = Draft {
        id: "d1".into(),
        deal: key,
        deal_name: "Acme".into(),
        trigger: TriggerKind::ProposalNoReply,
        occurrence: "proposal_no_reply#fuzz".into(),
        status: DraftStatus::Pending,
        to: Some("jane@acme.example".into()),
        subject: "Re: Acme".into(),
        body: "Hi Jane".into(),
        missing: vec![],
        context: DraftContext {
            trigger_label: "Proposal sent, no reply".into(),
            due_at: now(),
            fired_at: now(),
            days_since_last_contact: None,
            last_interaction: None,
            facts: vec![],
            stage: Some(Stage::Proposal),
            template: "t".into(),
            model: None,
        },
        created_at: now(),
        notified_at: None,
        snoozed_until: None,
        decision: None,
        outgoing: None,
        sent: None,
        superseded_reason: None,
        crm_update: None,
        document: None,
        writeback: None,
    };
    assert!(store.create_draft(&draft).await.unwrap());
}

/// `POST /review/d1` with a valid token and any form after it.
pub fn review_form(data: &[u8]) {
    let w = world();
    let mut body = format!("token={}&", w.token).into_bytes();
    body.extend_from_slice(data);
    let Ok(req) = http::Request::builder()
        .method("POST")
        .uri("/review/d1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(body))
    else {
        return;
    };
    let _ = w.rt.block_on(w.review.handle(req));
}

/// `POST /slack/interactivity`, signed with the secret: the payload parser is reached.
pub fn slack_payload(data: &[u8]) {
    let w = world();
    let body: Vec<u8> = match data.split_first() {
        Some((b, rest)) if b % 2 == 0 => {
            let text = String::from_utf8_lossy(rest);
            serde_urlencoded::to_string([("payload", text.as_ref())])
                .unwrap_or_default()
                .into_bytes()
        }
        _ => data.to_vec(),
    };
    let ts = now().as_second().to_string();
    let sig = shared::signing::slack_signature(SLACK_SECRET.as_bytes(), &ts, &body);
    let Ok(req) = http::Request::builder()
        .method("POST")
        .uri("/slack/interactivity")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(Bytes::from(body))
    else {
        return;
    };
    let _ = w.rt.block_on(w.review.slack(req));
}

/// A call's notes into the CRM update they propose.
pub fn call_notes(data: &[u8]) {
    let mut c = bundled().clone();
    c.writeback.fields = shared::domain::CrmField::ALL.to_vec();
    let mut deal = Deal::new(DealRef::new("hubspot", "1"), now());
    deal.stage = Some(Stage::Qualified);
    deal.raw_stage = Some("qualifiedtobuy".into());
    let note = CallNote {
        at: now(),
        text: String::from_utf8_lossy(data).into_owned(),
        source: "fuzz".into(),
    };
    let update = shared::app::writeback::call_update(&deal, &note, &c);
    // Only allowed fields, each at most once, every value sourced.
    let mut seen = BTreeMap::new();
    for ch in &update.changes {
        assert!(c.writeback.allows(ch.field));
        assert!(
            seen.insert(ch.field, ()).is_none(),
            "{:?} proposed twice",
            ch.field
        );
        assert!(!ch.source.is_empty());
    }
}

/// Up to `n` fields of arbitrary text, separated by the unit separator (0x1f).
fn fields(data: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let mut out: Vec<String> = text.splitn(n, '\u{1f}').map(str::to_string).collect();
    out.resize(n, String::new());
    out
}

/// The headers a follow-up may have.
const HEADERS: [&str; 12] = [
    "from",
    "to",
    "subject",
    "message-id",
    "date",
    "x-draftgate-draft",
    "reply-to",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// A message from fuzzed subject, display names, recipient and conversation ids: refused, or
/// written with only draftgate's headers, each once, the recipient the one address given.
pub fn mail_headers(data: &[u8]) {
    let f = fields(data, 6);
    let email = shared::domain::OutboundEmail {
        draft_id: "01JFUZZ0000000000000000000".into(),
        from: format!("{} <alex@northwind.example>", f[1]),
        to: f[2].clone(),
        reply_to: Some("alex@northwind.example".into()),
        subject: f[0].clone(),
        body: f[5].clone(),
        thread: Some(shared::domain::mail::MailThread {
            mailbox: "gmail".into(),
            thread_id: "t".into(),
            provider_message_id: None,
            message_id: Some(f[3].clone()),
            references: f[4].split(' ').map(str::to_string).collect(),
            subject: String::new(),
        }),
    };
    let Ok(h) = email.headers() else {
        return;
    };
    let breaks = ['\r', '\n', '\u{85}', '\u{2028}', '\u{2029}'];
    for v in [&h.subject, &h.to.address, &h.message_id]
        .into_iter()
        .chain(h.in_reply_to.iter())
        .chain(h.references.iter())
        .chain(h.from.name.iter())
        .chain(h.to.name.iter())
    {
        assert!(!v.contains(breaks), "{v:?}");
    }
    assert!(!h.to.encoded().contains(breaks));
    let raw =
        shared::adapters::mailbox::gmail::rfc5322(&email, now()).expect("valid headers write");
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    // Only CRLF line ends, and no bare CR or LF anywhere in the header block.
    assert!(!head.replace("\r\n", "").contains(['\r', '\n']), "{head}");
    // Unfold continuation lines, then every line is one header.
    let unfolded = head.replace("\r\n\t", " ").replace("\r\n ", " ");
    let mut seen = BTreeMap::new();
    for line in unfolded.split("\r\n") {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            HEADERS.contains(&name.as_str()),
            "header {name:?} in\n{head}"
        );
        *seen.entry(name).or_insert(0) += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "{head}");
    // One recipient: the address the encoder accepted, last on its line.
    let to = unfolded
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .unwrap_or_default();
    assert!(
        to.trim_end().ends_with(&format!("<{}>", h.to.address)),
        "{to}"
    );
}

/// The audit proposal with fuzzed deal name, company, first name and amount: the document has
/// exactly the template's headings, table rows and (no) links and images.
pub fn proposal_document(data: &[u8]) {
    use shared::domain::Fact;
    static BASELINE: OnceLock<(usize, usize)> = OnceLock::new();
    let template = &bundled()
        .proposal_for(Some("audit"))
        .expect("the bundled audit proposal")
        .template;
    let count = |html: &str| (html.matches("<h").count(), html.matches("<tr>").count());
    let facts = |values: &[String]| -> BTreeMap<String, Fact> {
        [
            "deal.name",
            "contact.company",
            "contact.first_name",
            "deal.amount",
            "founder.name",
        ]
        .iter()
        .zip(values)
        .map(|(k, v)| (k.to_string(), Fact::new(v.clone(), "fuzz")))
        .collect()
    };
    let baseline = BASELINE.get_or_init(|| {
        let plain = vec!["Acme".to_string(); 5];
        let r = shared::drafting::render_markdown(template, &facts(&plain));
        count(&shared::drafting::markdown_html(&r.body))
    });
    let f = fields(data, 5);
    let r = shared::drafting::render_markdown(template, &facts(&f));
    let html = shared::drafting::markdown_html(&r.body);
    assert_eq!(count(&html), *baseline, "{html}");
    assert!(!html.contains("<a"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!r
        .subject
        .contains(['\r', '\n', '\u{2028}', '\u{2029}', '\u{85}']));
}

/// A model's draft (the first field) checked against trusted facts (the next three) and the
/// prospect's words (the last): the check never panics on any text, gives the same answer
/// twice, and names each claim as the draft wrote it.
pub fn grounding(data: &[u8]) {
    use shared::domain::grounding::{unquote_tags, unsourced};
    let f = fields(data, 5);
    let trusted = [f[1].as_str(), f[2].as_str(), f[3].as_str()];
    let prospect = [f[4].as_str()];
    let first = unsourced(&f[0], &trusted, &prospect);
    assert_eq!(first, unsourced(&f[0], &trusted, &prospect));
    for claim in &first {
        assert!(claim.text.chars().count() <= f[0].chars().count() + 8);
    }
    let quoted = unquote_tags(&f[0]);
    assert!(!quoted.contains(['<', '>', '＜', '＞']));
}
