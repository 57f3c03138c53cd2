//! End to end over HTTP against the real `draftgate` binary with the founder's mailbox
//! connected, Gmail and Outlook each against a mock of its API (shapes from Google's discovery
//! document and Microsoft's Graph OpenAPI description): the watch/subscription starts with the
//! runner; a pushed reply stops a follow-up and an out-of-office does not; a reply to a deal
//! whose draft waits supersedes it at once; the approved follow-up leaves once, through the
//! mailbox API, from the founder's address, in the conversation's thread.

use base64::Engine as _;
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod support;

use support::{free_port, Runner};

const PUSH_TOKEN: &str = "push-token-7f3a";
const CLIENT_STATE: &str = "sk_graph_9c2e7a41b0d34f5e";

impl Runner {
    async fn post_raw(&self, p: &str, body: String) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{p}", self.base))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Three deals with a proposal sent a minute ago: Acme, Globex, Initech.
    async fn three_deals(&self) {
        let sent_at = self.now().await - jiff::SignedDuration::from_secs(60);
        let deal = |id: &str, name: &str, email: &str, first: &str| {
            json!({
                "id": format!("{id}-proposal-1"), "type": "proposal_sent", "occurred_at": sent_at.to_string(),
                "proposal_name": format!("{name} proposal"),
                "deal": { "crm": "notion", "id": id, "name": name, "amount": 24000, "currency": "EUR",
                          "contact": { "email": email, "first_name": first } }
            })
        };
        let s = self
            .generic_events(json!([
                deal(
                    "acme-1",
                    "Acme Corp - Website relaunch",
                    "jane.doe@acme.example",
                    "Jane"
                ),
                deal(
                    "globex-2",
                    "Globex - Brand refresh",
                    "sam.lee@globex.example",
                    "Sam"
                ),
                deal(
                    "initech-3",
                    "Initech - Intranet",
                    "peter@initech.example",
                    "Peter"
                ),
            ]))
            .await;
        assert_eq!(s["accepted"], 3, "{s}");
    }

    async fn advance_hours(&self, h: i64) {
        self.post_json("/dev/clock", json!({ "advance_secs": h * 3600 }))
            .await;
    }

    async fn pending(&self) -> Vec<Value> {
        let outbox = self.get("/dev/outbox").await;
        let mut out = Vec::new();
        for note in outbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "founder" && m["draft_id"].is_string())
        {
            let url = note["review_url"].as_str().unwrap();
            let d: Value = self
                .http
                .get(url)
                .header("Accept", "application/json")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            out.push(json!({ "url": url, "draft": d }));
        }
        out
    }

    async fn approve(&self, review_url: &str) -> (u16, Value) {
        let (url, token) = review_url.split_once("?token=").unwrap();
        let r = self
            .http
            .post(url)
            .header("Accept", "application/json")
            .form(&[("token", token), ("action", "approve")])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn audit_kinds(&self) -> Vec<(String, String)> {
        self.get("/dev/audit")
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_string(),
                    format!(
                        "{}|{}",
                        e["deal"]["id"].as_str().unwrap_or(""),
                        e["detail"]["event"].as_str().unwrap_or("")
                    ),
                )
            })
            .collect()
    }
}

fn draft_of<'a>(pending: &'a [Value], deal: &str) -> Option<&'a Value> {
    pending.iter().find(|p| p["draft"]["deal"]["id"] == deal)
}

async fn token_endpoint(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "access_token": "ya29.e2e", "expires_in": 3599, "token_type": "Bearer" }),
        ))
        .mount(server)
        .await;
}

/// Requests that read the mailbox (anything but the token endpoint and the subscription,
/// which the runner's start-up may still be making).
async fn mailbox_reads(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.url.path().starts_with("/me/")
                || r.url.path().contains("/history")
                || r.url.path().contains("/messages")
        })
        .count()
}

fn requests_to(all: &[Request], p: &str) -> usize {
    all.iter().filter(|r| r.url.path() == p).count()
}

// --- Gmail -----------------------------------------------------------------------------------

fn gmail_message(
    id: &str,
    thread: &str,
    labels: &[&str],
    at_ms: i64,
    headers: &[(&str, &str)],
) -> Value {
    json!({
        "id": id, "threadId": thread, "labelIds": labels, "snippet": "…",
        "historyId": "1005", "internalDate": at_ms.to_string(), "sizeEstimate": 2048,
        "payload": { "partId": "", "mimeType": "text/plain", "filename": "",
            "headers": headers.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect::<Vec<_>>() }
    })
}

async fn mount_gmail_message(server: &MockServer, m: Value) {
    Mock::given(method("GET"))
        .and(path(format!(
            "/gmail/v1/users/me/messages/{}",
            m["id"].as_str().unwrap()
        )))
        .and(query_param("format", "metadata"))
        .respond_with(ResponseTemplate::new(200).set_body_json(m))
        .mount(server)
        .await;
}

/// History from `start`, answered once (a later mount for the same start takes over).
async fn history(server: &MockServer, start: &str, ids: &[&str], newest: &str) {
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/history"))
        .and(query_param("startHistoryId", start))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "history": ids.iter().map(|id| json!({ "id": newest, "messagesAdded": [{ "message": { "id": id, "threadId": "x" } }] })).collect::<Vec<_>>(),
            "historyId": newest
        })))
        .up_to_n_times(1)
        .mount(server)
        .await;
}

fn push(history_id: u64) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(
        json!({ "emailAddress": "alex@northwind.example", "historyId": history_id }).to_string(),
    );
    json!({
        "message": { "attributes": {}, "data": data, "messageId": format!("pubsub-{history_id}"),
                     "publishTime": "2026-11-30T10:07:41.218Z" },
        "subscription": "projects/northwind-draftgate/subscriptions/gmail-push"
    })
    .to_string()
}

#[tokio::test]
#[allow(clippy::print_stderr)] // prints the sent RFC 5322 message for the record
async fn gmail_replies_stop_follow_ups_and_the_approved_one_leaves_in_the_thread() {
    let google = MockServer::start().await;
    token_endpoint(&google).await;
    let expires = jiff::Timestamp::now().as_millisecond() + 7 * 24 * 3600 * 1000;
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/watch"))
        .and(body_string_contains(
            "projects/northwind-draftgate/topics/gmail",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "historyId": "1000", "expiration": expires.to_string() })),
        )
        .expect(1)
        .mount(&google)
        .await;

    let data = tempfile::tempdir().unwrap();
    let base = google.uri();
    let token_url = format!("{base}/token");
    let runner = support::start(
        data.path(),
        free_port(),
        &[
            ("DRAFTGATE_SIGNING_KEY", "e2e-signing-key"),
            ("MAIL_SENDER", "gmail"),
            ("GOOGLE_CLIENT_ID", "e2e.apps.googleusercontent.com"),
            ("GOOGLE_CLIENT_SECRET", "e2e-client-secret"),
            ("GOOGLE_TOKEN_URL", &token_url),
            ("GMAIL_API_BASE_URL", &base),
            ("GMAIL_REFRESH_TOKEN", "1//e2e-refresh"),
            ("GMAIL_PUSH_TOKEN", PUSH_TOKEN),
            (
                "GMAIL_PUBSUB_TOPIC",
                "projects/northwind-draftgate/topics/gmail",
            ),
        ],
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
            "GOOGLE_JWKS_URL",
        ],
    )
    .await;
    runner.three_deals().await;
    runner.advance_hours(24).await;
    let now_ms = runner.now().await.as_millisecond();

    // The founder's own proposal mail to Jane (the thread a follow-up continues), Jane's
    // out-of-office, Sam's real answer, and a stranger.
    for m in [
        gmail_message(
            "m0-founder",
            "t-acme",
            &["SENT"],
            // The proposal mail itself, as the proposal went out: mail after it would be the
            // follow-up, and there would be no draft to approve.
            now_ms - 24 * 3_600_000 - 120_000,
            &[
                ("From", "Alex Rivera <alex@northwind.example>"),
                ("To", "Jane Doe <jane.doe@acme.example>"),
                ("Subject", "Acme Corp - Website relaunch proposal"),
                ("Message-ID", "<CAF-founder-1@mail.gmail.com>"),
            ],
        ),
        gmail_message(
            "m1-ooo",
            "t-acme",
            &["INBOX", "UNREAD"],
            now_ms - 1_800_000,
            &[
                ("From", "Jane Doe <jane.doe@acme.example>"),
                (
                    "Subject",
                    "Automatic reply: Acme Corp - Website relaunch proposal",
                ),
                ("Message-ID", "<ooo-1@acme.example>"),
                ("In-Reply-To", "<CAF-founder-1@mail.gmail.com>"),
                ("Auto-Submitted", "auto-replied"),
                ("X-Autoreply", "yes"),
            ],
        ),
        gmail_message(
            "m2-reply",
            "t-globex",
            &["INBOX", "UNREAD"],
            now_ms - 600_000,
            &[
                ("From", "\"Lee, Sam\" <Sam.Lee@globex.example>"),
                ("To", "alex@northwind.example"),
                ("Subject", "Re: Globex - Brand refresh proposal"),
                ("Message-ID", "<reply-1@globex.example>"),
            ],
        ),
        gmail_message(
            "m3-stranger",
            "t-spam",
            &["INBOX"],
            now_ms - 300_000,
            &[
                ("From", "offers@vendor.example"),
                ("Subject", "Grow your pipeline"),
                ("Message-ID", "<x@vendor.example>"),
            ],
        ),
    ] {
        mount_gmail_message(&google, m).await;
    }
    history(
        &google,
        "1000",
        &["m0-founder", "m1-ooo", "m2-reply", "m3-stranger"],
        "1010",
    )
    .await;

    // A push with a wrong token is refused and reads nothing.
    let before = mailbox_reads(&google).await;
    let (status, _) = runner
        .post_raw("/webhooks/gmail?token=wrong", push(1010))
        .await;
    assert_eq!(status, 401);
    let (status, _) = runner
        .post_raw(
            &format!("/webhooks/gmail?token={PUSH_TOKEN}"),
            "{\"message\":{}}".into(),
        )
        .await;
    assert_eq!(status, 400, "a body without message.data is malformed");
    assert_eq!(mailbox_reads(&google).await, before, "nothing was read");

    let (status, body) = runner
        .post_raw(&format!("/webhooks/gmail?token={PUSH_TOKEN}"), push(1010))
        .await;
    assert_eq!(status, 200, "{body}");
    let summary: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(summary["messages"], 4, "{summary}");
    assert_eq!(summary["accepted"], 3, "{summary}");
    assert_eq!(summary["ignored"], 1, "the stranger: {summary}");

    // Pub/Sub redelivers: the history from the new position is empty; nothing doubles.
    history(&google, "1010", &[], "1010").await;
    let (status, body) = runner
        .post_raw(&format!("/webhooks/gmail?token={PUSH_TOKEN}"), push(1010))
        .await;
    assert_eq!(status, 200, "{body}");

    let kinds = runner.audit_kinds().await;
    for expected in [
        "acme-1|outbound_sent",
        "acme-1|auto_reply_received",
        "globex-2|prospect_replied",
    ] {
        assert!(
            kinds
                .iter()
                .any(|(k, d)| k == "event.accepted" && d == expected),
            "{expected}: {kinds:?}"
        );
    }

    // 72 hours after the proposals: Acme (only an out-of-office) and Initech get drafts, Globex
    // (a real reply) does not.
    runner.advance_hours(48).await;
    let swept = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(swept["pending_drafts"], 2, "{swept}");
    let pending = runner.pending().await;
    assert!(draft_of(&pending, "globex-2").is_none());
    let acme = draft_of(&pending, "acme-1").unwrap().clone();
    assert_eq!(
        acme["draft"]["subject"], "Re: Acme Corp - Website relaunch proposal",
        "continues the thread"
    );

    // Peter answers while his draft waits: it leaves the queue at once.
    mount_gmail_message(
        &google,
        gmail_message(
            "m4-peter",
            "t-initech",
            &["INBOX"],
            runner.now().await.as_millisecond(),
            &[
                ("From", "Peter <peter@initech.example>"),
                ("Subject", "Re: Initech - Intranet proposal"),
                ("Message-ID", "<p-1@initech.example>"),
            ],
        ),
    )
    .await;
    history(&google, "1010", &["m4-peter"], "1020").await;
    let (status, body) = runner
        .post_raw(&format!("/webhooks/gmail?token={PUSH_TOKEN}"), push(1020))
        .await;
    assert_eq!(status, 200, "{body}");
    let swept = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(
        swept["pending_drafts"], 1,
        "Initech's draft was superseded by Peter's reply: {swept}"
    );
    assert!(kinds_contain(
        &runner.audit_kinds().await,
        "draft.superseded",
        "initech-3|prospect_replied"
    ));

    // Approve Acme's follow-up: it leaves once through Gmail, in the thread.
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/messages/send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "id": "18c-sent-1", "threadId": "t-acme", "labelIds": ["SENT"] }),
        ))
        .mount(&google)
        .await;
    let (status, result) = runner.approve(acme["url"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["message_id"], "18c-sent-1");
    let (status, again) = runner.approve(acme["url"].as_str().unwrap()).await;
    assert_eq!(status, 409, "{again}");

    let requests = google.received_requests().await.unwrap();
    let sends: Vec<&Request> = requests
        .iter()
        .filter(|r| r.url.path() == "/gmail/v1/users/me/messages/send")
        .collect();
    assert_eq!(sends.len(), 1, "sent exactly once");
    assert!(
        sends[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap()
            == "Bearer ya29.e2e"
    );
    let sent: Value = serde_json::from_slice(&sends[0].body).unwrap();
    assert_eq!(sent["threadId"], "t-acme");
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(sent["raw"].as_str().unwrap())
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    eprintln!("--- the RFC 5322 message sent through Gmail ---\n{raw}\n---");
    for header in [
        "From: \"Alex Rivera\" <alex@northwind.example>",
        "To: <jane.doe@acme.example>",
        "Subject: Re: Acme Corp - Website relaunch proposal",
        "In-Reply-To: <CAF-founder-1@mail.gmail.com>",
        "References: <CAF-founder-1@mail.gmail.com>",
        "X-Draftgate-Draft: ",
    ] {
        assert!(raw.contains(header), "{header} in\n{raw}");
    }
    assert!(
        !raw.contains("ooo-1@acme.example"),
        "an auto-reply is not the conversation"
    );
    assert!(raw.contains(&format!(
        "Message-ID: <{}.draftgate@northwind.example>",
        acme["draft"]["id"].as_str().unwrap()
    )));

    let outbox = runner.get("/dev/outbox").await;
    let prospect: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "prospect")
        .collect();
    assert_eq!(prospect.len(), 1, "{outbox}");
    assert_eq!(prospect[0]["message_id"], "18c-sent-1");
    assert_eq!(prospect[0]["in_reply_to"], "<CAF-founder-1@mail.gmail.com>");
    assert_eq!(
        requests_to(&requests, "/token"),
        2,
        "one access token per grant (read, send), each cached"
    );
}

fn kinds_contain(kinds: &[(String, String)], kind: &str, prefix: &str) -> bool {
    let deal = prefix.split('|').next().unwrap();
    kinds.iter().any(|(k, d)| k == kind && d.starts_with(deal))
}

// --- Outlook ---------------------------------------------------------------------------------

fn graph_message(
    id: &str,
    conversation: &str,
    from: (&str, &str),
    to: &str,
    subject: &str,
    at: &str,
    headers: &[(&str, &str)],
) -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('alex')/messages/$entity",
        "id": id, "conversationId": conversation, "subject": subject, "bodyPreview": "…",
        "internetMessageId": headers.iter().find(|(k, _)| *k == "Message-ID").map(|(_, v)| *v).unwrap_or("<none@x>"),
        "internetMessageHeaders": headers.iter().filter(|(k, _)| *k != "Message-ID").map(|(k, v)| json!({ "name": k, "value": v })).collect::<Vec<_>>(),
        "from": { "emailAddress": { "name": from.0, "address": from.1 } },
        "toRecipients": [{ "emailAddress": { "address": to } }],
        "ccRecipients": [],
        "receivedDateTime": at, "sentDateTime": at, "isDraft": false
    })
}

async fn mount_graph_message(server: &MockServer, m: Value) {
    Mock::given(method("GET"))
        .and(path(format!("/me/messages/{}", m["id"].as_str().unwrap())))
        .respond_with(ResponseTemplate::new(200).set_body_json(m))
        .mount(server)
        .await;
}

fn notification(id: &str, state: &str) -> Value {
    json!({
        "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        "subscriptionExpirationDateTime": "2026-12-03T10:00:00.0000000+00:00",
        "changeType": "created",
        "resource": format!("Users/6a1d3c5e/Messages/{id}"),
        "resourceData": { "@odata.type": "#Microsoft.Graph.Message", "@odata.id": format!("Users/6a1d3c5e/Messages/{id}"), "id": id },
        "clientState": state,
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95"
    })
}

#[tokio::test]
async fn outlook_replies_stop_follow_ups_and_the_approved_one_is_a_reply_in_the_conversation() {
    let graph = MockServer::start().await;
    token_endpoint(&graph).await;
    Mock::given(method("POST"))
        .and(path("/subscriptions"))
        .and(body_string_contains(CLIENT_STATE))
        .and(body_string_contains("me/messages"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "resource": "me/messages", "changeType": "created",
            "expirationDateTime": "2026-12-03T10:00:00Z"
        })))
        .expect(1)
        .mount(&graph)
        .await;

    let data = tempfile::tempdir().unwrap();
    let base = graph.uri();
    let token_url = format!("{base}/token");
    let runner = support::start(
        data.path(),
        free_port(),
        &[
            ("DRAFTGATE_SIGNING_KEY", "e2e-signing-key"),
            ("MAIL_SENDER", "outlook"),
            ("MICROSOFT_CLIENT_ID", "0b7f5e2c-e2e"),
            ("MICROSOFT_CLIENT_SECRET", "e2e-client-secret"),
            ("MICROSOFT_TOKEN_URL", &token_url),
            ("GRAPH_API_BASE_URL", &base),
            ("OUTLOOK_REFRESH_TOKEN", "0.AX-e2e-refresh"),
            ("OUTLOOK_CLIENT_STATE", CLIENT_STATE),
        ],
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
        ],
    )
    .await;

    // Graph's validation handshake, before any subscription exists.
    let r = runner
        .http
        .post(format!(
            "{}/webhooks/outlook?validationToken=Validation%3a+Testing+client+application+reachability+for+subscription+Request-Id%3a+25ea1b1e",
            runner.base
        ))
        .header("Content-Type", "text/plain; charset=utf-8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        r.text().await.unwrap(),
        "Validation: Testing client application reachability for subscription Request-Id: 25ea1b1e"
    );

    runner.three_deals().await;
    runner.advance_hours(24).await;
    let at = runner.now().await.to_string();
    // The proposal mail itself, sent with the proposal (a later mail would be the follow-up).
    let proposal_mail_at =
        (runner.now().await - jiff::SignedDuration::from_secs(24 * 3600 + 120)).to_string();
    mount_graph_message(
        &graph,
        graph_message(
            "AAM-founder-1",
            "conv-acme",
            ("Alex Rivera", "alex@northwind.example"),
            "jane.doe@acme.example",
            "Acme Corp - Website relaunch proposal",
            &proposal_mail_at,
            &[("Message-ID", "<AM0PR-founder-1@northwind.example>")],
        ),
    )
    .await;
    mount_graph_message(
        &graph,
        graph_message(
            "AAM-ooo",
            "conv-acme",
            ("Jane Doe", "jane.doe@acme.example"),
            "alex@northwind.example",
            "Automatic reply: Acme Corp - Website relaunch proposal",
            &at,
            &[
                ("Message-ID", "<ooo@acme.example>"),
                ("Auto-Submitted", "auto-generated"),
                ("X-Auto-Response-Suppress", "All"),
            ],
        ),
    )
    .await;
    mount_graph_message(
        &graph,
        graph_message(
            "AAM-sam",
            "conv-globex",
            ("Sam Lee", "sam.lee@globex.example"),
            "alex@northwind.example",
            "RE: Globex - Brand refresh proposal",
            &at,
            &[("Message-ID", "<sam-1@globex.example>")],
        ),
    )
    .await;

    // A wrong clientState anywhere in the batch: 401, and nothing is read.
    let before = mailbox_reads(&graph).await;
    let (status, _) = runner
        .post_raw("/webhooks/outlook", json!({ "value": [notification("AAM-sam", CLIENT_STATE), notification("AAM-ooo", "forged")] }).to_string())
        .await;
    assert_eq!(status, 401);
    let (status, _) = runner
        .post_raw("/webhooks/outlook", "{\"value\": 3}".into())
        .await;
    assert_eq!(status, 400);
    assert_eq!(mailbox_reads(&graph).await, before, "nothing was read");

    let (status, body) = runner
        .post_raw(
            "/webhooks/outlook",
            json!({ "value": [
            notification("AAM-founder-1", CLIENT_STATE), notification("AAM-ooo", CLIENT_STATE),
        ] })
            .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["accepted"],
        2,
        "{body}"
    );

    // Graph lost notifications: a `missed` lifecycle event catches up with delta queries.
    Mock::given(method("GET"))
        .and(path("/me/mailFolders/inbox/messages/delta"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{ "id": "AAM-sam", "subject": "RE: Globex - Brand refresh proposal" }],
            "@odata.deltaLink": format!("{base}/me/mailFolders/inbox/messages/delta?$deltatoken=inbox-1")
        })))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/me/mailFolders/sentitems/messages/delta"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [], "@odata.deltaLink": format!("{base}/me/mailFolders/sentitems/messages/delta?$deltatoken=sent-1")
        })))
        .mount(&graph)
        .await;
    let (status, body) = runner
        .post_raw(
            "/webhooks/outlook",
            json!({ "value": [{
            "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "lifecycleEvent": "missed",
            "resource": "me/messages", "clientState": CLIENT_STATE,
            "subscriptionExpirationDateTime": "2026-12-03T10:00:00Z", "tenantId": "84bd8158"
        }] })
            .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["accepted"],
        1,
        "Sam's reply, caught up: {body}"
    );

    let kinds = runner.audit_kinds().await;
    for expected in [
        "acme-1|outbound_sent",
        "acme-1|auto_reply_received",
        "globex-2|prospect_replied",
    ] {
        assert!(
            kinds
                .iter()
                .any(|(k, d)| k == "event.accepted" && d == expected),
            "{expected}: {kinds:?}"
        );
    }

    runner.advance_hours(48).await;
    let swept = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(swept["pending_drafts"], 2, "{swept}");
    let pending = runner.pending().await;
    assert!(draft_of(&pending, "globex-2").is_none());
    let acme = draft_of(&pending, "acme-1").unwrap().clone();

    // Peter's reply supersedes Initech's waiting draft at once.
    let at = runner.now().await.to_string();
    mount_graph_message(
        &graph,
        graph_message(
            "AAM-peter",
            "conv-initech",
            ("Peter", "peter@initech.example"),
            "alex@northwind.example",
            "Re: Initech - Intranet proposal",
            &at,
            &[("Message-ID", "<p@initech.example>")],
        ),
    )
    .await;
    let (status, _) = runner
        .post_raw(
            "/webhooks/outlook",
            json!({ "value": [notification("AAM-peter", CLIENT_STATE)] }).to_string(),
        )
        .await;
    assert_eq!(status, 200);
    let swept = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(swept["pending_drafts"], 1, "{swept}");

    // Approve: a reply to the founder's message in the conversation, then sent.
    Mock::given(method("GET"))
        .and(path("/me/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": [] })))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/me/messages/AAM-founder-1/createReply"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({ "id": "AAM-draft-9", "conversationId": "conv-acme", "isDraft": true }),
        ))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/me/messages/AAM-draft-9/send"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&graph)
        .await;
    let (status, result) = runner.approve(acme["url"].as_str().unwrap()).await;
    assert_eq!(
        status,
        200,
        "{result} {}",
        std::fs::read_to_string(support::log_path(data.path())).unwrap()
    );
    let (status, _) = runner.approve(acme["url"].as_str().unwrap()).await;
    assert_eq!(status, 409);

    let requests = graph.received_requests().await.unwrap();
    assert_eq!(
        requests_to(&requests, "/me/messages/AAM-draft-9/send"),
        1,
        "sent exactly once"
    );
    let reply = requests
        .iter()
        .find(|r| r.url.path() == "/me/messages/AAM-founder-1/createReply")
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply.body).unwrap();
    let m = &reply["message"];
    assert_eq!(
        m["toRecipients"][0]["emailAddress"]["address"],
        "jane.doe@acme.example"
    );
    assert_eq!(m["internetMessageHeaders"][0]["name"], "X-Draftgate-Draft");
    assert_eq!(m["internetMessageHeaders"][0]["value"], acme["draft"]["id"]);
    assert_eq!(m["subject"], "Re: Acme Corp - Website relaunch proposal");
    let outbox = runner.get("/dev/outbox").await;
    let prospect: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "prospect")
        .collect();
    assert_eq!(prospect.len(), 1, "{outbox}");
    assert_eq!(prospect[0]["message_id"], "AAM-draft-9");
}
