//! Slack end to end on the real `draftgate` binary, with a mock of Slack's Web API: each draft is
//! posted as a Block Kit message with buttons; presses at `/slack/interactivity` are verified
//! (signature, 5-minute window), taken only from configured approvers, and decided through the
//! same path as the page; after any decision (from Slack or the page) the message is updated
//! and loses its buttons. Link scanners (GET and HEAD on every link) change nothing, and 50
//! simultaneous approvals from the page and Slack send once.

use serde_json::{json, Value};
use shared::signing::slack_signature;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod support;

use support::{free_port, Runner};

const SIGNING: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const FOUNDER_SLACK: &str = "U07FOUNDER1";

impl Runner {
    async fn deals(&self, ids: &[&str]) {
        let sent_at = self.now().await - jiff::SignedDuration::from_secs(60);
        let events: Vec<Value> = ids.iter().map(|id| json!({
            "id": format!("{id}-proposal"), "type": "proposal_sent", "occurred_at": sent_at.to_string(),
            "proposal_name": format!("{id} proposal"),
            "deal": { "crm": "notion", "id": id, "name": format!("Deal {id}"), "amount": 12000, "currency": "EUR",
                      "contact": { "email": format!("buyer@{id}.example"), "first_name": "Kim" } }
        })).collect();
        self.generic_events(json!(events)).await;
    }

    async fn press(&self, user: &str, action: Value, ts_offset: i64, secret: &str) -> (u16, Value) {
        let payload = json!({
            "type": "block_actions",
            "user": { "id": user, "username": "someone", "team_id": "T1DC2JH3J" },
            "api_app_id": "A07QWERTY12",
            "container": { "type": "message", "message_ts": "1732183514.000200", "channel_id": "C0DRAFTS" },
            "channel": { "id": "C0DRAFTS", "name": "drafts" },
            "response_url": "https://hooks.slack.com/actions/T1DC2JH3J/1/x",
            "actions": [action]
        });
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        let ts = (self.now().await.as_second() + ts_offset).to_string();
        let r = self
            .http
            .post(format!("{}/slack/interactivity", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Slack-Request-Timestamp", &ts)
            .header(
                "X-Slack-Signature",
                slack_signature(secret.as_bytes(), &ts, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn draft(&self, id: &str) -> Value {
        let notes = self.get("/dev/outbox").await;
        let url = notes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["draft_id"] == id && n["review_url"].is_string())
            .unwrap()["review_url"]
            .as_str()
            .unwrap()
            .to_string();
        self.http
            .get(url)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn button(action_id: &str, draft: &str) -> Value {
    json!({ "action_id": action_id, "block_id": format!("draft:{draft}"), "type": "button", "value": draft,
            "text": { "type": "plain_text", "text": action_id }, "action_ts": "1732183531.482913" })
}

/// The calls of `method`, but the weekly summary's post (it may come on a Monday).
fn posts(requests: &[Request], method: &str) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.url.path() == format!("/{method}"))
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|v| {
            !v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("draftgate: your pipeline"))
        })
        .collect()
}

fn links(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '|' | '\\'))
        .filter(|w| w.starts_with("http://127.0.0.1"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn slack_buttons_decide_through_the_same_gate_and_the_message_follows() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let n = body["text"].as_str().unwrap_or("").len();
            ResponseTemplate::new(200).set_body_json(
                json!({ "ok": true, "channel": "C0DRAFTS", "ts": format!("1732183514.{n:06}") }),
            )
        })
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true })))
        .mount(&slack)
        .await;
    let data = tempfile::tempdir().unwrap();
    let api = slack.uri();
    let runner = support::start(
        data.path(),
        free_port(),
        &[
            ("DRAFTGATE_SIGNING_KEY", "e2e-signing-key"),
            ("SLACK_BOT_TOKEN", "xoxb-e2e"),
            ("SLACK_CHANNEL", "C0DRAFTS"),
            ("SLACK_API_BASE_URL", &api),
            ("SLACK_SIGNING_SECRET", SIGNING),
        ],
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
            "SLACK_WEBHOOK_URL",
        ],
    )
    .await;
    runner.deals(&["a1", "b2", "c3", "d4"]).await;
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 72 * 3600 }))
        .await;
    let swept = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(swept["pending_drafts"], 4, "{swept}");

    // Each draft was posted with its buttons.
    let requests = slack.received_requests().await.unwrap();
    let posted = posts(&requests, "chat.postMessage");
    assert_eq!(posted.len(), 4);
    assert!(requests
        .iter()
        .all(|r| r.headers["authorization"] == "Bearer xoxb-e2e"));
    let outbox = runner.get("/dev/outbox").await;
    let draft_ids: Vec<String> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "founder" && n["draft_id"].is_string())
        .map(|n| n["draft_id"].as_str().unwrap().to_string())
        .collect();
    let first = &posted[0];
    assert_eq!(first["channel"], "C0DRAFTS");
    let actions = &first["blocks"][1]["elements"];
    let ids: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["approve", "reject", "snooze", "open"]);

    // Scanners: GET and HEAD on every link of every notification and Slack message.
    let audit_before = runner.get("/dev/audit").await;
    let mut all = links(&outbox.to_string());
    for p in &posted {
        all.extend(links(&p.to_string()));
    }
    assert!(all.len() >= 8, "{all:?}");
    for url in &all {
        let g = runner.http.get(url).send().await.unwrap().status().as_u16();
        let h = runner
            .http
            .head(url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(g, h, "HEAD answers as GET for {url}");
        assert!(g == 200, "{url}: {g}");
    }
    assert_eq!(
        runner.get("/dev/audit").await,
        audit_before,
        "looking changed nothing"
    );
    assert_eq!(
        runner.post_json("/dev/sweep", json!({})).await["pending_drafts"],
        4
    );

    let a = &draft_ids[0];
    // Forged, stale and unsigned presses are refused; a non-approver decides nothing.
    let (s, _) = runner
        .press(FOUNDER_SLACK, button("approve", a), 0, "not-the-secret")
        .await;
    assert_eq!(s, 401);
    let (s, _) = runner
        .press(FOUNDER_SLACK, button("approve", a), -301, SIGNING)
        .await;
    assert_eq!(s, 401, "outside the 5-minute window");
    let (s, body) = runner
        .press("U0STRANGER", button("approve", a), 0, SIGNING)
        .await;
    assert_eq!(s, 200);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("Only the approvers"),
        "{body}"
    );
    assert_eq!(runner.draft(a).await["status"], "PENDING");

    // The founder approves from Slack: sent once, the message loses its buttons.
    let (s, body) = runner
        .press(FOUNDER_SLACK, button("approve", a), 0, SIGNING)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["result"]["status"], "SENT", "{body}");
    let (s, body) = runner
        .press(FOUNDER_SLACK, button("approve", a), 0, SIGNING)
        .await;
    assert_eq!(s, 200);
    assert!(
        body["text"].as_str().unwrap().contains("already decided"),
        "{body}"
    );
    let updates = posts(&slack.received_requests().await.unwrap(), "chat.update");
    let update = updates
        .iter()
        .find(|u| {
            u["text"]
                .as_str()
                .unwrap()
                .contains("Approved and sent by alex@northwind.example")
        })
        .expect("the message shows the decision");
    assert!(
        update["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["type"] != "actions"),
        "no buttons left: {update}"
    );

    // Reject with a reason from the menu: it acts on the deal.
    let b = &draft_ids[1];
    let select = json!({ "action_id": "reject", "block_id": format!("draft:{b}"), "type": "static_select",
                         "selected_option": { "text": { "type": "plain_text", "text": "Park the deal" }, "value": format!("{b}|park") } });
    let (s, body) = runner.press(FOUNDER_SLACK, select, 0, SIGNING).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["result"]["reason_kind"], "park");
    assert_eq!(runner.draft(b).await["status"], "REJECTED");

    // A decision on the page updates the Slack message too.
    let c = &draft_ids[2];
    let url = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["draft_id"] == c.as_str())
        .unwrap()["review_url"]
        .as_str()
        .unwrap()
        .to_string();
    let (page, token) = url.split_once("?token=").unwrap();
    let r = runner
        .http
        .post(page)
        .header("Accept", "application/json")
        .form(&[
            ("token", token),
            ("action", "snooze"),
            ("snooze_hours", "4"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updates = posts(&slack.received_requests().await.unwrap(), "chat.update");
    assert!(
        updates
            .iter()
            .any(|u| u["text"].as_str().unwrap().contains("Snoozed until")),
        "{updates:?}"
    );

    // 50 simultaneous approvals of one draft, from the page and from Slack: one message.
    let d = draft_ids[3].clone();
    let url = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["draft_id"] == d.as_str())
        .unwrap()["review_url"]
        .as_str()
        .unwrap()
        .to_string();
    let (page, token) = url.split_once("?token=").unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let http = runner.http.clone();
        let (page, token) = (page.to_string(), token.to_string());
        let base = runner.base.clone();
        let d = d.clone();
        let slack_press = {
            let payload = json!({ "type": "block_actions", "user": { "id": FOUNDER_SLACK }, "actions": [button("approve", &d)] });
            serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
        };
        let ts = runner.now().await.as_second().to_string();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                http.post(page)
                    .header("Accept", "application/json")
                    .form(&[("token", token.as_str()), ("action", "approve")])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            } else {
                http.post(format!("{base}/slack/interactivity"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("X-Slack-Request-Timestamp", &ts)
                    .header(
                        "X-Slack-Signature",
                        slack_signature(SIGNING.as_bytes(), &ts, slack_press.as_bytes()),
                    )
                    .body(slack_press)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert!(codes.iter().all(|c| [200, 409].contains(c)), "{codes:?}");
    let sent: Vec<Value> = runner
        .get("/dev/outbox")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "prospect" && m["draft_id"] == d.as_str())
        .cloned()
        .collect();
    assert_eq!(sent.len(), 1, "sent once");
    let prospect_total = runner
        .get("/dev/outbox")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "prospect")
        .count();
    assert_eq!(prospect_total, 2, "a1 and d4 only");
}

#[tokio::test]
async fn a_draft_withdrawn_by_the_prospects_reply_updates_its_slack_message_at_once() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({ "ok": true, "channel": "C0DRAFTS", "ts": "1732183514.000100" }),
            ),
        )
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true })))
        .mount(&slack)
        .await;
    let data = tempfile::tempdir().unwrap();
    let api = slack.uri();
    let runner = support::start(
        data.path(),
        free_port(),
        &[
            ("SLACK_BOT_TOKEN", "xoxb-e2e"),
            ("SLACK_CHANNEL", "C0DRAFTS"),
            ("SLACK_API_BASE_URL", &api),
            ("SLACK_SIGNING_SECRET", SIGNING),
        ],
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "SLACK_WEBHOOK_URL",
        ],
    )
    .await;
    runner.deals(&["w1"]).await;
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 72 * 3600 }))
        .await;
    runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(
        posts(
            &slack.received_requests().await.unwrap(),
            "chat.postMessage"
        )
        .len(),
        1
    );
    // Kim answers; the next sweep (every minute on the runner) shows it on the message.
    let at = runner.now().await.to_string();
    runner
        .generic_events(json!([{ "id": "w1-reply", "type": "prospect_replied", "occurred_at": at,
            "summary": "Kim: we are reviewing it with our CFO", "deal": { "crm": "notion", "id": "w1" } }]))
        .await;
    runner.post_json("/dev/sweep", json!({})).await;
    let updates = posts(&slack.received_requests().await.unwrap(), "chat.update");
    assert_eq!(updates.len(), 1, "{updates:?}");
    let update = &updates[0];
    assert_eq!(update["ts"], "1732183514.000100");
    let text = update.to_string();
    assert!(
        text.contains("Kim replied") && text.contains("withdrawn"),
        "{text}"
    );
    assert!(
        update["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["type"] != "actions"),
        "no buttons left: {update}"
    );
    // Once: later sweeps and the next notification change nothing more.
    runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(
        posts(&slack.received_requests().await.unwrap(), "chat.update").len(),
        1
    );
}
