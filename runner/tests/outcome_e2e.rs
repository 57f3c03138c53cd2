//! Win and loss close the loop on the real binary: a deal moved to a won or lost stage is
//! announced as `deal.won` / `deal.lost` (schema version 1) at `GET /dev/events`, its waiting
//! draft is superseded at once, no trigger fires for it again, and a redelivery announces again
//! (at least once, `event_id` to deduplicate) without recording anything twice.

use serde_json::{json, Value};

mod support;

use support::free_port;

fn deal(id: &str, amount: u32) -> Value {
    json!({ "crm": "notion", "id": id, "name": format!("Deal {id}"), "amount": amount, "currency": "EUR",
            "contact": { "email": format!("buyer@{id}.example"), "first_name": "Kim" } })
}

#[tokio::test]
async fn won_and_lost_deals_are_announced_and_leave_draftgates_scope() {
    let data = tempfile::tempdir().unwrap();
    let runner = support::start(
        data.path(),
        free_port(),
        &[],
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
        ],
    )
    .await;
    let sent_at = runner.now().await - jiff::SignedDuration::from_secs(60);
    runner.generic_events(json!([
        { "id": "w-prop", "type": "proposal_sent", "occurred_at": sent_at.to_string(), "deal": deal("w1", 24000) },
        { "id": "l-prop", "type": "proposal_sent", "occurred_at": sent_at.to_string(), "deal": deal("l2", 9000) },
    ]))
    .await;
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 72 * 3600 }))
        .await;
    assert_eq!(
        runner.post_json("/dev/sweep", json!({})).await["pending_drafts"],
        2
    );

    let now = runner.now().await.to_string();
    let close = json!([
        { "id": "w-won", "type": "stage_changed", "occurred_at": now, "stage": "Won", "deal": { "crm": "notion", "id": "w1" } },
        { "id": "l-lost", "type": "stage_changed", "occurred_at": now, "stage": "Lost", "deal": { "crm": "notion", "id": "l2" } },
    ]);
    let s = runner.generic_events(close.clone()).await;
    assert_eq!(s["accepted"], 2, "{s}");
    assert_eq!(
        runner.post_json("/dev/sweep", json!({})).await["pending_drafts"],
        0,
        "both drafts superseded at once"
    );

    let events = runner.get("/dev/events").await;
    let outcomes: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail-type"].as_str().unwrap().starts_with("deal."))
        .collect();
    assert_eq!(outcomes.len(), 2, "{events}");
    let won = outcomes
        .iter()
        .find(|e| e["detail-type"] == "deal.won")
        .unwrap();
    assert_eq!(won["source"], "draftgate");
    let d = &won["detail"];
    assert_eq!(d["schema_version"], 1);
    assert_eq!(d["outcome"], "won");
    assert_eq!(d["deal"], json!({ "crm": "notion", "id": "w1" }));
    assert_eq!(d["stage"], "closed_won");
    assert_eq!(d["amount"], 24000.0);
    assert_eq!(d["currency"], "EUR");
    assert_eq!(d["contact_email"], "buyer@w1.example");
    assert_eq!(d["closed_at"], now);
    assert!(d["event_id"].as_str().unwrap().contains("w-won"), "{d}");
    let lost = outcomes
        .iter()
        .find(|e| e["detail-type"] == "deal.lost")
        .unwrap();
    assert_eq!(lost["detail"]["outcome"], "lost");

    // A redelivery records nothing new but announces again (consumers dedupe on event_id).
    let s = runner.generic_events(close).await;
    assert_eq!(
        (s["accepted"].clone(), s["duplicates"].clone()),
        (json!(0), json!(2)),
        "{s}"
    );
    let again = runner
        .get("/dev/events")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail-type"] == "deal.won")
        .count();
    assert_eq!(again, 2);

    // Closed deals are out of scope: weeks later, nothing is drafted for them.
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 30 * 24 * 3600 }))
        .await;
    assert_eq!(
        runner.post_json("/dev/sweep", json!({})).await["pending_drafts"],
        0
    );
    let audit = runner.get("/dev/audit").await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "deal.won"),
        "the outcome is in the audit log"
    );
}
