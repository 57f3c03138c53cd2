//! Never nudge a live conversation, end to end on the real `draftgate` binary: a prospect who
//! wrote three days ago is not asked whether the deal is still a priority, and is re-engaged a
//! week after writing; the founder's own mail is the proposal's follow-up; a reply after a call
//! stops the "no next step" nudge; a waiting follow-up whose prospect writes leaves the queue at
//! once and approving it sends nothing, saying why; a silent deal is still re-engaged after 7
//! days.

use serde_json::{json, Value};

mod support;

use support::{free_port, Runner};

const INBOX_SECRET: &str = "dev-inbox-secret";

fn deal(id: &str, name: &str, first: &str) -> Value {
    json!({ "crm": "notion", "id": id, "name": name,
            "contact": { "email": format!("{first}@{id}.example").to_lowercase(), "first_name": first } })
}

impl Runner {
    async fn at(&self, hours_ago: i64) -> String {
        (self.now().await - jiff::SignedDuration::from_hours(hours_ago)).to_string()
    }

    async fn advance_hours(&self, h: i64) {
        self.post_json("/dev/clock", json!({ "advance_secs": h * 3600 }))
            .await;
    }

    async fn sweep(&self) -> Value {
        self.post_json("/dev/sweep", json!({})).await
    }

    /// Drafts waiting now, by deal id: (trigger, review url).
    async fn waiting(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for note in self.get("/dev/outbox").await.as_array().unwrap() {
            let Some(url) = note["review_url"]
                .as_str()
                .filter(|_| note["draft_id"].is_string())
            else {
                continue;
            };
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
            if d["status"] == "PENDING" {
                out.push((
                    d["deal"]["id"].as_str().unwrap().to_string(),
                    d["trigger"].as_str().unwrap().to_string(),
                    url.to_string(),
                ));
            }
        }
        out
    }

    async fn inbox(&self, events: Value) {
        let (status, body) = self
            .signed("inbox", INBOX_SECRET, json!({ "events": events }))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

fn has(waiting: &[(String, String, String)], deal: &str, trigger: &str) -> bool {
    waiting.iter().any(|(d, t, _)| d == deal && t == trigger)
}

#[tokio::test]
async fn a_live_conversation_is_never_nudged_and_a_quiet_one_always_is() {
    let data = tempfile::tempdir().unwrap();
    let runner = support::start(
        data.path(),
        free_port(),
        &[],
        &["GENERIC_WEBHOOK_SECRET", "INBOX_WEBHOOK_SECRET"],
    )
    .await;

    // Nine days in qualified; "mia" wrote three days ago, "sid" never did.
    let (nine_days, three_days) = (runner.at(9 * 24).await, runner.at(3 * 24).await);
    runner
        .generic_events(json!([
            { "id": "mia-created", "type": "deal_created", "occurred_at": nine_days, "deal": deal("mia", "Mia Labs", "Mia") },
            { "id": "mia-stage", "type": "stage_changed", "stage": "Lead", "occurred_at": nine_days, "deal": { "crm": "notion", "id": "mia" } },
            { "id": "sid-created", "type": "deal_created", "occurred_at": nine_days, "deal": deal("sid", "Sid Co", "Sid") },
            { "id": "sid-stage", "type": "stage_changed", "stage": "Lead", "occurred_at": nine_days, "deal": { "crm": "notion", "id": "sid" } },
            // A proposal four days ago, and the founder's own mail about it the next day.
            { "id": "ola-proposal", "type": "proposal_sent", "occurred_at": runner.at(96).await, "deal": deal("ola", "Ola GmbH", "Ola") },
            // A call 30 hours ago, and the prospect's answer the same evening.
            { "id": "kim-call", "type": "call_logged", "summary": "Scoping call", "occurred_at": runner.at(30).await, "deal": deal("kim", "Kim AG", "Kim") },
        ]))
        .await;
    runner
        .inbox(json!([
            { "id": "mia-reply", "type": "reply", "deal": { "crm": "notion", "id": "mia" },
              "from": "mia@mia.example", "subject": "Re: next steps",
              "snippet": "Thanks, we are discussing it internally", "received_at": three_days },
            { "id": "ola-mail", "type": "outbound", "deal": { "crm": "notion", "id": "ola" },
              "to": "ola@ola.example", "subject": "The case study I mentioned", "sent_at": runner.at(72).await },
            { "id": "kim-reply", "type": "reply", "deal": { "crm": "notion", "id": "kim" },
              "from": "kim@kim.example", "subject": "Re: scoping", "received_at": runner.at(26).await },
        ]))
        .await;
    runner.sweep().await;
    let now = runner.waiting().await;
    assert!(
        has(&now, "sid", "stage_unchanged"),
        "a silent deal is re-engaged: {now:?}"
    );
    assert!(
        !has(&now, "mia", "stage_unchanged"),
        "Mia wrote 3 days ago: {now:?}"
    );
    assert!(
        !has(&now, "ola", "proposal_no_reply"),
        "the founder's mail was the follow-up: {now:?}"
    );
    assert!(
        !has(&now, "kim", "call_no_next_step"),
        "Kim wrote after the call: {now:?}"
    );

    // Mia is re-engaged a week after her answer (4 days from now), not before.
    runner.advance_hours(3 * 24 + 23).await;
    runner.sweep().await;
    assert!(!has(&runner.waiting().await, "mia", "stage_unchanged"));
    runner.advance_hours(2).await;
    runner.sweep().await;
    let later = runner.waiting().await;
    let (_, _, mia_url) = later
        .iter()
        .find(|(d, t, _)| d == "mia" && t == "stage_unchanged")
        .cloned()
        .unwrap_or_else(|| panic!("Mia is re-engaged a week after her reply: {later:?}"));

    // Mia writes while that check-in waits: it leaves the queue at once, and approving it
    // sends nothing and says why.
    runner
        .inbox(
            json!([{ "id": "mia-reply-2", "type": "reply", "deal": { "crm": "notion", "id": "mia" },
            "from": "mia@mia.example", "subject": "Re: next steps",
            "snippet": "We decided: let's meet on Tuesday", "received_at": runner.at(0).await }]),
        )
        .await;
    assert!(!has(&runner.waiting().await, "mia", "stage_unchanged"));
    let (u, token) = mia_url.split_once("?token=").unwrap();
    let r = runner
        .http
        .post(u)
        .header("Accept", "application/json")
        .form(&[("token", token), ("action", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let answer: Value = r.json().await.unwrap();
    let words = answer["error"].as_str().unwrap();
    assert!(
        words.starts_with("Mia replied") && words.contains("this check-in was withdrawn"),
        "{answer}"
    );
    let page = runner
        .http
        .get(&mia_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("this check-in was withdrawn"),
        "the page says why"
    );
    let sent = runner.get("/dev/outbox").await;
    assert!(
        !sent
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "prospect" && m["to"] == "mia@mia.example"),
        "nothing reached Mia"
    );
    let audit = runner.get("/dev/audit").await;
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "draft.superseded" && e["deal"]["id"] == "mia"));
}
