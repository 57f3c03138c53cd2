//! The functions' JSON logs over a whole flow — signed webhooks in, a sweep, a draft, the review
//! page, an edited approval and a prospect's reply — at the most verbose level: every line is a
//! JSON object carrying its spans' fields (provider, deal, message id, draft id), and none of the
//! secrets, signatures, review tokens or message bodies the flow used appears anywhere.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use sha2::Sha256;
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::adapters::telemetry::Capture;
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::DraftStatus;
use shared::ports::{Clock, DraftStore};
use shared::providers::Providers;
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};

const GENERIC_SECRET: &str = "generic-secret-7d1f0c9a";
const INBOX_SECRET: &str = "inbox-secret-52be8e41";
const HUBSPOT_SECRET: &str = "hubspot-secret-a6c03f2d";
const SIGNING_KEY: &str = "signing-key-0b9e77c3";
const EDITED_BODY: &str = "Hi Sam, here is the reference you asked for: Initech, contact Bill.";
const REPLY_SNIPPET: &str = "Thanks, we will sign the contract on Friday afternoon";

fn draftgate_signed(
    path: &str,
    secret: &str,
    body: &Value,
    now: Timestamp,
) -> (http::Request<Bytes>, String) {
    let body = body.to_string();
    let ts = now.as_second().to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .header("x-draftgate-timestamp", ts)
        .header("x-draftgate-signature", &sig)
        .body(Bytes::from(body))
        .unwrap();
    (req, sig)
}

#[tokio::test(flavor = "current_thread")]
async fn a_whole_flow_logs_json_with_its_spans_and_never_a_secret_token_or_body() {
    let buf = Capture::default();
    let subscriber = shared::adapters::telemetry::json_subscriber(
        buf.clone(),
        "trace".parse().expect("a level"),
    );
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = EmbeddedStore::open_in_memory().unwrap();
    let clock = Arc::new(ManualClock::new("2026-03-02T10:50:00Z".parse().unwrap()));
    let tokens = TokenSigner::new(Secret::new(SIGNING_KEY));
    let services = Services::build(
        Adapters::embedded(&store, clock.clone()),
        Settings {
            public_base_url: "https://hooks.example".into(),
            providers: Providers::from_secrets(&[
                ("HUBSPOT_CLIENT_SECRET", HUBSPOT_SECRET),
                ("INBOX_WEBHOOK_SECRET", INBOX_SECRET),
                ("GENERIC_WEBHOOK_SECRET", GENERIC_SECRET),
            ]),
            tokens: Some(tokens.clone()),
            ..Settings::new(Arc::new(shared::config::Config::bundled().unwrap()))
        },
    );
    let core = services.core();
    let intake = services.intake();
    let review = services.review();
    let mut secrets: Vec<String> = vec![
        GENERIC_SECRET.into(),
        INBOX_SECRET.into(),
        HUBSPOT_SECRET.into(),
        SIGNING_KEY.into(),
        EDITED_BODY.into(),
        REPLY_SNIPPET.into(),
    ];

    // A deal, its proposal and a call arrive through the generic webhook.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/crm-webhook/generic-deal-events.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let generic: Value = serde_json::from_str(sample["body"].as_str().unwrap()).unwrap();
    let (req, sig) = draftgate_signed("/webhooks/generic", GENERIC_SECRET, &generic, clock.now());
    secrets.push(sig);
    assert_eq!(intake.handle(req).await.status(), 200);

    // A forged HubSpot delivery is refused.
    let forged = http::Request::post("/webhooks/hubspot")
        .header("content-type", "application/json")
        .header("x-hubspot-signature-v3", "Zm9yZ2VkLXNpZ25hdHVyZS12YWx1ZQ==")
        .header(
            "x-hubspot-request-timestamp",
            clock.now().as_millisecond().to_string(),
        )
        .body(Bytes::from_static(b"[]"))
        .unwrap();
    secrets.push("Zm9yZ2VkLXNpZ25hdHVyZS12YWx1ZQ==".into());
    assert_eq!(intake.handle(forged).await.status(), 401);

    // Five days later the proposal has had no reply: a draft waits for review.
    clock.advance(SignedDuration::from_hours(5 * 24));
    support::sweep_and_drain(&core, &store, &clock, &tokens).await;
    let pending = store
        .drafts_by_status(DraftStatus::Pending, None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "one follow-up is waiting");
    let draft = &pending[0];
    secrets.push(draft.body.clone());
    let now = clock.now();
    let token = tokens.sign(
        Scope::Draft(&draft.id),
        &core.config.founder.email,
        now + SignedDuration::from_hours(24),
    );
    let queue_token = tokens.sign(
        Scope::Queue,
        &core.config.founder.email,
        now + SignedDuration::from_hours(24),
    );
    secrets.push(token.clone());
    secrets.push(queue_token.clone());

    let page = http::Request::get(format!("/review/{}?token={token}", draft.id))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(review.handle(page).await.status(), 200);
    let queue = http::Request::get(format!("/review?token={queue_token}"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(review.handle(queue).await.status(), 200);
    let forged_token = format!("{token}x");
    let bad = http::Request::get(format!("/review/{}?token={forged_token}", draft.id))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(review.handle(bad).await.status(), 401);

    let form = serde_urlencoded::to_string([
        ("token", token.as_str()),
        ("action", "approve"),
        ("subject", "Re: Globex brand refresh"),
        ("body", EDITED_BODY),
    ])
    .unwrap();
    let approve = http::Request::post(format!("/review/{}", draft.id))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(Bytes::from(form))
        .unwrap();
    let answer = review.handle(approve).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.body());

    // The prospect answers.
    let reply = json!({
        "id": "<reply-1@globex.example>",
        "type": "reply",
        "deal": { "crm": "notion", "id": "3f9a2c1e-77b0-4c3e-9d51-0b8e6a4f2d10" },
        "from": "Sam Lee <sam.lee@globex.example>",
        "subject": "Re: Globex brand refresh",
        "snippet": REPLY_SNIPPET,
        "received_at": clock.now().to_string(),
    });
    let (req, sig) = draftgate_signed("/webhooks/inbox", INBOX_SECRET, &reply, clock.now());
    secrets.push(sig);
    assert_eq!(intake.handle(req).await.status(), 200);

    drop(_guard);
    let text = buf.text();
    if std::env::var_os("SHOW_LOGS").is_some() {
        std::fs::write(
            concat!(env!("CARGO_TARGET_TMPDIR"), "/flow-logs.jsonl"),
            &text,
        )
        .unwrap();
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 10, "the flow logged {} lines", lines.len());

    for secret in &secrets {
        // Whole values, and any 12-character piece of a long one (a body quoted in part).
        assert!(!text.contains(secret.as_str()), "logged: {secret}");
        let chars: Vec<char> = secret.chars().collect();
        if chars.len() > 40 {
            for piece in chars.windows(24).step_by(12) {
                let piece: String = piece.iter().collect();
                assert!(
                    !text.contains(&piece),
                    "logged part of a body or token: {piece}"
                );
            }
        }
    }

    let deal = "notion:3f9a2c1e-77b0-4c3e-9d51-0b8e6a4f2d10";
    let with_span = |field: &str, value: &str| {
        lines.iter().any(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s[field] == value))
        })
    };
    assert!(
        with_span("provider", "generic"),
        "webhook lines carry the provider"
    );
    assert!(with_span("provider", "inbox"));
    assert!(
        with_span("deal", deal),
        "event and message lines carry the deal"
    );
    assert!(
        with_span("draft_id", &draft.id),
        "review lines carry the draft id"
    );
    for work in ["evaluate", "draft"] {
        assert!(
            lines.iter().any(|l| l["spans"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|s| s["name"] == "message" && s["message_id"].is_string())
                    && s.iter().any(|s| s["name"] == work && s["deal"] == deal)
            })),
            "a queue message's {work} lines carry the message id and the deal"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "webhook refused" && l["status"] == 401),
        "the forged delivery is logged as refused"
    );
}
