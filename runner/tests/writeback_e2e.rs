//! CRM write-back, proposals and outcomes on the real binary, against the runner's development
//! HubSpot API (which records every write at `GET /dev/crm-requests`):
//! a call logged with notes becomes a CRM update to approve, and approving it writes exactly that
//! diff and the note; a deal entering the proposal stage gets the proposal for its engagement
//! type (email text and a printable page), or a notice when no template fits (no guess); an approved
//! follow-up is logged as an email on the deal and its contact; a lost deal's outcome is logged.

use serde_json::{json, Value};

mod support;

use support::free_port;

fn hubspot_deal(id: &str, name: &str, deal_type: Option<&str>, contact: &str) -> Value {
    // HubSpot's own record (the runner's sample API) is read over this.
    let mut d = json!({ "crm": "hubspot", "id": id, "name": name, "amount": 9500, "currency": "EUR",
                        "contact": { "email": contact, "first_name": "Pepper", "company": "Stark Industries" } });
    if let Some(t) = deal_type {
        d["deal_type"] = json!(t);
    }
    d
}

async fn page(runner: &support::Runner, url: &str) -> (u16, String) {
    let path = url.split_once("//").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    let r = reqwest::get(format!("{}{path}", runner.base))
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn decide(runner: &support::Runner, review_url: &str, form: &[(&str, &str)]) -> Value {
    let (path, query) = review_url.split_once('?').unwrap();
    let path = &path[path.find("/review/").unwrap()..];
    let token = query.strip_prefix("token=").unwrap();
    let mut all = vec![("token", token)];
    all.extend_from_slice(form);
    let r = reqwest::Client::new()
        .post(format!("{}{path}", runner.base))
        .header("accept", "application/json")
        .form(&all)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The founder notifications of the outbox, by deal name.
async fn notification(runner: &support::Runner, deal: &str) -> Value {
    runner
        .get("/dev/outbox")
        .await
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == "founder" && e["subject"].as_str().unwrap().contains(deal))
        .cloned()
        .unwrap_or_else(|| panic!("a notification about {deal}"))
}

#[tokio::test]
async fn approved_crm_updates_proposals_follow_ups_and_outcomes_reach_the_crm_exactly() {
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
    let now = runner.now().await;
    let earlier = (now - jiff::SignedDuration::from_hours(2)).to_string();
    let call = (now - jiff::SignedDuration::from_mins(5)).to_string();
    let stark = hubspot_deal(
        "9006",
        "Stark Industries - Onboarding workshop",
        None,
        "pepper@stark.example",
    );
    let globex = hubspot_deal(
        "9002",
        "Globex - Brand refresh retainer",
        Some("existingbusiness"),
        "hank@globex.example",
    );
    let hooli = hubspot_deal(
        "9005",
        "Hooli - Analytics dashboard",
        None,
        "gavin@hooli.example",
    );
    runner.generic_events(json!([
        { "id": "s1", "type": "stage_changed", "occurred_at": earlier, "stage": "qualifiedtobuy", "deal": stark },
        { "id": "s2", "type": "call_logged", "occurred_at": call, "deal": { "crm": "hubspot", "id": "9006" },
          "summary": "Onboarding call",
          "note": "Walked through the onboarding plan with Pepper.\nThey need the workshop before the January kick-off.\nNext step: send the proposal by Friday" },
        { "id": "g1", "type": "stage_changed", "occurred_at": earlier, "stage": "presentationscheduled", "deal": globex },
        { "id": "g2", "type": "stage_changed", "occurred_at": call, "stage": "contractsent", "deal": { "crm": "hubspot", "id": "9002" } },
        { "id": "h1", "type": "stage_changed", "occurred_at": earlier, "stage": "qualifiedtobuy", "deal": hooli },
        { "id": "h2", "type": "stage_changed", "occurred_at": call, "stage": "contractsent", "deal": { "crm": "hubspot", "id": "9005" } },
    ]))
    .await;
    let sweep = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(
        sweep["pending_drafts"], 2,
        "the CRM update and Globex's proposal: {sweep}"
    );
    assert_eq!(runner.get("/dev/crm-requests").await, json!([]));

    // ---- The CRM update after the call.
    let n = notification(&runner, "Stark Industries").await;
    let url = n["review_url"].as_str().unwrap();
    let (status, html) = page(&runner, url).await;
    assert_eq!(status, 200);
    for text in [
        "Changes to hubspot, applied only if you approve",
        "send the proposal by Friday",
        "proposal (contractsent)",
        "nothing goes to the prospect",
    ] {
        assert!(html.contains(text), "the page shows {text}");
    }
    let answer = decide(
        &runner,
        url,
        &[
            ("action", "approve"),
            ("crm_form", "1"),
            ("apply_next_step", "1"),
            ("apply_next_step_date", "1"),
            ("apply_stage", "1"),
        ],
    )
    .await;
    assert_eq!(answer["status"], "APPROVED", "{answer}");
    let friday = runner
        .now()
        .await
        .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .date()
        .nth_weekday(1, jiff::civil::Weekday::Friday)
        .unwrap();
    let requests = runner.get("/dev/crm-requests").await;
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(requests[0]["method"], "POST");
    assert_eq!(requests[0]["path"], "/crm/v3/objects/notes");
    let note = requests[0]["body"]["properties"]["hs_note_body"]
        .as_str()
        .unwrap();
    assert!(
        note.starts_with("<p><strong>Call notes: Stark Industries - Onboarding workshop"),
        "{note}"
    );
    assert!(
        note.ends_with("<p>Walked through the onboarding plan with Pepper. They need the workshop before the January kick-off.</p>\n"),
        "HubSpot keeps notes as HTML: {note}"
    );
    assert_eq!(
        requests[0]["body"]["associations"][1]["to"]["id"], "506",
        "the note is on the deal's contact too"
    );
    assert_eq!(
        requests[1],
        json!({ "method": "PATCH", "path": "/crm/v3/objects/deals/9006",
                "body": { "properties": { "hs_next_step": "send the proposal by Friday", "dealstage": "contractsent" } } })
    );
    assert_eq!(requests[2]["path"], "/crm/v3/objects/tasks");
    assert_eq!(
        requests[2]["body"]["properties"]["hs_timestamp"],
        format!("{friday}T09:00:00Z")
    );
    let (_, html) = page(&runner, url).await;
    assert!(
        html.contains("Written to hubspot"),
        "the page shows the write-back"
    );

    // ---- Globex's proposal: email text plus a printable page, approved and sent.
    let n = notification(&runner, "Globex").await;
    let url = n["review_url"].as_str().unwrap();
    let (_, html) = page(&runner, url).await;
    assert!(html.contains("Open the printable proposal"), "{html}");
    let end = html.find("\" id=\"document\"").unwrap();
    let start = html[..end].rfind("href=\"").unwrap() + 6;
    let doc_url = html[start..end]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    let (status, doc) = page(&runner, &doc_url).await;
    assert_eq!(status, 200, "{doc_url}");
    for text in [
        "<h1>Proposal: Globex - Brand refresh retainer</h1>",
        "Prepared for Globex - Brand refresh retainer",
        "<h2>Pricing</h2>",
        "<td>Standard</td>",
        "<td>4500 EUR</td>",
        // Tier prices are computed from the deal's amount, never words for the prospect.
        "<td>1500 EUR</td>",
        "<td>8100 EUR</td>",
        "@media print",
    ] {
        assert!(doc.contains(text), "the document has {text}");
    }
    let answer = decide(&runner, url, &[("action", "approve")]).await;
    assert_eq!(answer["status"], "SENT", "{answer}");
    let outbox = runner.get("/dev/outbox").await;
    let sent = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "prospect")
        .unwrap();
    assert_eq!(sent["to"], "hank@globex.example");
    // The message carries the proposal as text: no Markdown marks, the table as rows.
    let body = sent["body"].as_str().unwrap();
    assert!(body.contains("\nPricing\n"), "{body}");
    assert!(body.contains("Standard | 4 | 4500 EUR"), "{body}");
    assert!(!body.contains("##") && !body.contains("---"), "{body}");
    let requests = runner.get("/dev/crm-requests").await;
    let email = &requests.as_array().unwrap()[3];
    assert_eq!(email["path"], "/crm/v3/objects/emails");
    assert_eq!(
        email["body"]["properties"]["hs_email_subject"],
        "Proposal: Globex - Brand refresh retainer"
    );
    assert_eq!(email["body"]["properties"]["hs_email_direction"], "EMAIL");

    // ---- Hooli is lost: the outcome is logged on its record.
    let lost_at = runner.now().await.to_string();
    runner.generic_events(json!([
        { "id": "h3", "type": "stage_changed", "occurred_at": lost_at, "stage": "closedlost", "deal": { "crm": "hubspot", "id": "9005" } },
    ]))
    .await;
    runner.post_json("/dev/sweep", json!({})).await;
    let requests = runner.get("/dev/crm-requests").await;
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.len(), 5, "{requests:?}");
    assert_eq!(requests[4]["path"], "/crm/v3/objects/notes");
    let body = requests[4]["body"]["properties"]["hs_note_body"]
        .as_str()
        .unwrap();
    assert!(
        body.starts_with("<p><strong>Outcome logged by draftgate: lost</strong></p>\n<p>Hooli - Analytics dashboard lost. Final value: 52000 EUR.</p>"),
        "{body}"
    );
    // A redelivered sweep or event writes nothing again.
    runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(
        runner
            .get("/dev/crm-requests")
            .await
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // Hooli had no engagement type: no guessed proposal, but a notice, told to the founder with
    // a notification (here the next day's follow-up on Stark's call, if not told before).
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 25 * 3600 }))
        .await;
    runner.post_json("/dev/sweep", json!({})).await;
    let outbox = runner.get("/dev/outbox").await;
    let told: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"] == "founder"
                && e["body"].as_str().unwrap().contains(
                    "Hooli - Analytics dashboard entered the proposal stage, but no proposal template is for its engagement type `(none)`",
                )
        })
        .collect();
    assert_eq!(told.len(), 1, "told once: {outbox}");
    assert!(told[0]["body"]
        .as_str()
        .unwrap()
        .contains("Needs your attention"));
    assert!(
        !outbox.to_string().contains("Proposal: Hooli"),
        "no proposal was guessed for Hooli"
    );
}
