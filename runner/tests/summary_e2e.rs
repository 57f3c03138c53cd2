//! The weekly pipeline summary on the real binary: on the configured day and hour (Monday 08:00,
//! the founder's time zone) the sweep sends it once, its numbers add up with what happened that
//! week, and `GET /summary` shows it (JSON and a page).

use serde_json::{json, Value};

mod support;

use support::{free_port, Runner};

async fn decide(runner: &Runner, note: &Value, fields: &[(&str, &str)]) {
    let url = note["review_url"].as_str().unwrap();
    let (page, token) = url.split_once("?token=").unwrap();
    let mut form = vec![("token", token)];
    form.extend_from_slice(fields);
    let r = runner
        .http
        .post(page)
        .header("Accept", "application/json")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn the_weekly_summary_is_sent_once_and_its_numbers_add_up() {
    // The example config with the summary on Mondays (it is off there).
    let data = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../config");
    let text = std::fs::read_to_string(format!("{root}/draftgate.toml")).unwrap();
    let text = text.replacen("summary_day = \"off\"", "summary_day = \"monday\"", 1);
    assert!(text.contains("summary_day = \"monday\""));
    std::fs::write(conf.path().join("draftgate.toml"), text).unwrap();
    support::copy_templates(conf.path());
    let config = conf.path().join("draftgate.toml");
    let runner = support::start_with_args(
        data.path(),
        free_port(),
        &[],
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
        ],
        &[std::ffi::OsStr::new("--config"), config.as_os_str()],
    )
    .await;
    // Thursday 3 December 2026, 11:00 in Berlin.
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-03T10:00:00Z" }))
        .await;
    let sent_at = "2026-12-03T09:59:00Z";
    let deal = |id: &str, amount: u32| {
        json!({ "crm": "notion", "id": id, "name": format!("Deal {id}"), "amount": amount, "currency": "EUR",
        "contact": { "email": format!("buyer@{id}.example"), "first_name": "Kim" } })
    };
    runner.generic_events(json!(["p1", "p2", "p3", "p4"].iter().enumerate().map(|(i, id)| json!({
        "id": format!("{id}-prop"), "type": "proposal_sent", "occurred_at": sent_at, "deal": deal(id, 1000 * (i as u32 + 1))
    })).collect::<Vec<_>>())).await;
    runner.generic_events(json!(["p1", "p2", "p3", "p4"].iter().map(|id| json!({
        "id": format!("{id}-stage"), "type": "stage_changed", "occurred_at": sent_at, "stage": "Proposal sent",
        "deal": { "crm": "notion", "id": id }
    })).collect::<Vec<_>>())).await;
    // Sunday: four drafts; one approved, one rejected (wrong contact); p3 won, p4 lost.
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-06T10:00:00Z" }))
        .await;
    assert_eq!(
        runner.post_json("/dev/sweep", json!({})).await["pending_drafts"],
        4
    );
    let outbox = runner.get("/dev/outbox").await;
    let note = |id: &str| {
        outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|n| {
                n["subject"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("Deal {id}"))
            })
            .unwrap()
            .clone()
    };
    decide(&runner, &note("p1"), &[("action", "approve")]).await;
    decide(
        &runner,
        &note("p2"),
        &[("action", "reject"), ("reason_kind", "wrong_contact")],
    )
    .await;
    runner.generic_events(json!([
        { "id": "p3-won", "type": "stage_changed", "occurred_at": "2026-12-06T10:00:00Z", "stage": "Won", "deal": { "crm": "notion", "id": "p3" } },
        { "id": "p4-lost", "type": "stage_changed", "occurred_at": "2026-12-06T10:00:00Z", "stage": "Lost", "deal": { "crm": "notion", "id": "p4" } },
    ])).await;
    // Nothing on Sunday or early Monday; the summary comes Monday after 08:00 in Berlin.
    runner.post_json("/dev/sweep", json!({})).await;
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-07T06:30:00Z" }))
        .await;
    runner.post_json("/dev/sweep", json!({})).await;
    let summaries = |o: &Value| {
        o.as_array()
            .unwrap()
            .iter()
            // The runner may have started on a real Monday morning and sent that week's.
            .filter(|n| {
                n["subject"]
                    .as_str()
                    .unwrap()
                    .contains("your pipeline, week 2026-W50")
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(summaries(&runner.get("/dev/outbox").await).is_empty());
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-07T07:30:00Z" }))
        .await;
    runner.post_json("/dev/sweep", json!({})).await;
    runner.post_json("/dev/sweep", json!({})).await;
    let sent = summaries(&runner.get("/dev/outbox").await);
    assert_eq!(sent.len(), 1, "once per week");
    let text = sent[0]["body"].as_str().unwrap();
    assert!(
        sent[0]["subject"]
            .as_str()
            .unwrap()
            .contains("week 2026-W50"),
        "{}",
        sent[0]["subject"]
    );
    for line in [
        "  proposal: 2 deals, EUR 3000",
        "Drafts this week: 4 created, 1 approved (0 edited), 1 rejected, 2 superseded; 0 waiting now",
        "  rejected as wrong contact: 1",
        "Won this week: 1",
        "  Deal p3 (",
        "Lost this week (post-mortem): 1",
        "  Deal p4 (",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert!(
        !text.contains("T10:00:00Z"),
        "times in words, not timestamps:\n{text}"
    );

    // The page and its JSON show the same summary.
    let url = sent[0]["review_url"].as_str().unwrap();
    assert!(url.contains("/summary?token="), "{url}");
    let s: Value = runner
        .http
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["week"], "2026-W50");
    assert_eq!(s["drafts"]["created"], 4);
    assert_eq!(s["stages"][0]["deals"], 2);
    assert_eq!(s["stages"][0]["value"]["EUR"], 3000.0);
    assert!(s["median_hours_to_decision"].as_f64().is_some());
    let page = runner.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Your pipeline, week 2026-W50") && html.contains("Deal p4"),
        "{html}"
    );
    let head = runner.http.head(url).send().await.unwrap();
    assert_eq!(head.status(), 200);
}
