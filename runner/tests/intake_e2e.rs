//! End to end over HTTP against the real `draftgate` binary, for the draftgate-signed intake
//! routes: a signed generic `proposal_sent` for a new deal with a contact -> clock +72 h ->
//! sweep -> one founder notification. A second deal whose prospect replies through the inbox
//! webhook before the 72 h gets no draft, while an out-of-office auto reply on the first deal
//! does not stop its draft. The runner runs on its development secrets, which the README names.

use serde_json::{json, Value};

const INBOX_SECRET: &str = "dev-inbox-secret";

mod support;

use support::{free_port, Runner, GENERIC_SECRET};

async fn start(data: &std::path::Path, port: u16) -> Runner {
    // The development fallbacks are what this test signs with.
    support::start(
        data,
        port,
        &[("DRAFTGATE_SIGNING_KEY", "e2e-signing-key")],
        &[
            "INBOX_WEBHOOK_SECRET",
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
        ],
    )
    .await
}

fn proposal_sent(deal_id: &str, name: &str, at: jiff::Timestamp, contact: Value) -> Value {
    json!({
        "id": format!("{deal_id}-proposal-1"),
        "type": "proposal_sent",
        "occurred_at": at.to_string(),
        "proposal_name": format!("{name} proposal"),
        "deal": { "crm": "notion", "id": deal_id, "name": name, "amount": 24000, "currency": "EUR", "contact": contact }
    })
}

fn founder_notes(outbox: &Value) -> Vec<&Value> {
    outbox
        .as_array()
        .unwrap()
        .iter()
        // About drafts: a weekly summary may come on a Monday too.
        .filter(|m| m["kind"] == "founder" && m["draft_id"].is_string())
        .collect()
}

#[tokio::test]
async fn a_generic_proposal_is_followed_up_unless_the_prospect_really_replied() {
    let data = tempfile::tempdir().unwrap();
    let runner = start(data.path(), free_port()).await;

    // Two new deals, each with a proposal sent a minute ago.
    let sent_at = runner.now().await - jiff::SignedDuration::from_secs(60);
    let (status, summary) = runner
        .signed(
            "generic",
            GENERIC_SECRET,
            json!({ "events": [
                proposal_sent("acme-1", "Acme Corp - Website relaunch", sent_at,
                    json!({ "email": "jane.doe@acme.example", "first_name": "Jane", "company": "Acme Corp" })),
                proposal_sent("globex-2", "Globex - Brand refresh", sent_at,
                    json!({ "email": "sam.lee@globex.example", "first_name": "Sam", "company": "Globex" })),
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary,
        json!({ "provider": "generic", "accepted": 2, "duplicates": 0, "ignored": 0 })
    );

    // A day later: Acme's out-of-office notice, Globex's real answer.
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 24 * 3600 }))
        .await;
    let now = runner.now().await;
    let (status, summary) = runner
        .signed(
            "inbox",
            INBOX_SECRET,
            json!({
                "id": "<ooo-1@acme.example>", "type": "reply",
                "deal": { "crm": "notion", "id": "acme-1" },
                "from": "Jane Doe <jane.doe@acme.example>",
                "subject": "Out of Office: Acme Corp - Website relaunch proposal",
                "snippet": "I am away until next week with limited access to email.",
                "received_at": now.to_string(),
                "headers": { "Auto-Submitted": "auto-replied" }
            }),
        )
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["accepted"], 1, "{summary}");
    let (status, summary) = runner
        .signed(
            "inbox",
            INBOX_SECRET,
            json!({ "events": [{
                "id": "<reply-1@globex.example>", "type": "reply",
                "deal": { "crm": "notion", "id": "globex-2" },
                "from": "sam.lee@globex.example",
                "subject": "Re: Globex - Brand refresh proposal",
                "snippet": "Looks good. I'm back in the office Monday, can we go through the budget then?",
                "received_at": now.to_string()
            }]}),
        )
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["accepted"], 1, "{summary}");

    let audit = runner.get("/dev/audit").await;
    let recorded: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "event.accepted")
        .map(|e| {
            (
                e["deal"]["id"].as_str().unwrap().to_string(),
                e["detail"]["event"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        recorded.contains(&("acme-1".into(), "auto_reply_received".into())),
        "{recorded:?}"
    );
    assert!(
        recorded.contains(&("globex-2".into(), "prospect_replied".into())),
        "{recorded:?}"
    );

    // Before the 72 hours are up nothing is drafted.
    let early = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(early["pending_drafts"], 0, "{early}");
    assert!(founder_notes(&runner.get("/dev/outbox").await).is_empty());

    // 72 hours after the proposals: Acme (only an auto reply) is followed up, Globex is not.
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 48 * 3600 }))
        .await;
    let swept = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(swept["pending_drafts"], 1, "{swept}");
    let outbox = runner.get("/dev/outbox").await;
    let notes = founder_notes(&outbox);
    assert_eq!(notes.len(), 1, "{outbox}");
    let note = notes[0];
    let text = format!("{} {}", note["subject"], note["body"]);
    assert!(text.contains("Acme Corp - Website relaunch"), "{note}");
    assert!(!text.contains("Globex"), "{note}");
    assert!(note["draft_id"].is_string() && note["review_url"].is_string());
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["kind"] != "prospect"),
        "nothing reaches a prospect before approval"
    );

    // The draft is addressed to the contact the generic webhook described.
    let draft: Value = runner
        .http
        .get(note["review_url"].as_str().unwrap())
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(draft["to"], "jane.doe@acme.example", "{draft}");
    assert_eq!(draft["trigger"], "proposal_no_reply", "{draft}");
}

#[tokio::test]
async fn draftgate_signed_webhooks_refuse_forgeries_and_bad_batches_changing_nothing() {
    let data = tempfile::tempdir().unwrap();
    let runner = start(data.path(), free_port()).await;
    let audit_before = runner.get("/dev/audit").await;
    let now = runner.now().await;
    let event = proposal_sent(
        "acme-1",
        "Acme",
        now,
        json!({ "email": "jane@acme.example" }),
    );

    // Signed with the other route's secret: 401.
    let (status, body) = runner
        .signed(
            "generic",
            INBOX_SECRET,
            json!({ "events": [event.clone()] }),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    // One unknown type among good events: 400 naming it, nothing recorded.
    let mut bad = event.clone();
    bad["id"] = json!("acme-1-won");
    bad["type"] = json!("deal_won");
    let (status, body) = runner
        .signed("generic", GENERIC_SECRET, json!({ "events": [event, bad] }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("event 1: unknown type `deal_won`"),
        "{body}"
    );
    assert_eq!(runner.get("/dev/audit").await, audit_before);
}
