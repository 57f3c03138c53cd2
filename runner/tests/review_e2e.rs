//! The review gate from outside, on the real binary: a rejection's reason acts on the deal and
//! `draftgate explain` says so; `draftgate link` prints a queue link that works; decisions with
//! a forged, expired, replayed or another draft's token change nothing.

use serde_json::{json, Value};

mod support;

use support::{free_port, Runner};

async fn deal(runner: &Runner, id: &str) {
    let sent_at = runner.now().await - jiff::SignedDuration::from_secs(60);
    runner
        .generic_events(json!([{
            "id": format!("{id}-proposal"), "type": "proposal_sent", "occurred_at": sent_at.to_string(),
            "deal": { "crm": "notion", "id": id, "name": format!("Deal {id}"),
                      "contact": { "email": format!("buyer@{id}.example"), "first_name": "Kim" } }
        }]))
        .await;
}

async fn decide(
    runner: &Runner,
    draft: &str,
    token: &str,
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![("token", token)];
    form.extend_from_slice(fields);
    let r = runner
        .http
        .post(format!("{}/review/{draft}", runner.base))
        .header("Accept", "application/json")
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn draftgate(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_draftgate"))
        .args(args)
        .env_remove("DRAFTGATE_SIGNING_KEY")
        .env_remove("PUBLIC_BASE_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn reasons_act_links_are_minted_and_bad_tokens_decide_nothing() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let runner = support::start(
        data.path(),
        port,
        &[],
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
        ],
    )
    .await;
    deal(&runner, "p1").await;
    deal(&runner, "q2").await;
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 72 * 3600 }))
        .await;
    assert_eq!(
        runner.post_json("/dev/sweep", json!({})).await["pending_drafts"],
        2
    );
    let outbox = runner.get("/dev/outbox").await;
    let link = |deal: &str| {
        let n = outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["subject"].as_str().unwrap().contains(deal))
            .unwrap();
        let url = n["review_url"].as_str().unwrap();
        let (_, token) = url.split_once("?token=").unwrap();
        (
            n["draft_id"].as_str().unwrap().to_string(),
            token.to_string(),
        )
    };
    let (p1, p1_token) = link("Deal p1");
    let (q2, q2_token) = link("Deal q2");

    // Another draft's token, a forged one: refused, nothing changes.
    let (s, _) = decide(&runner, &p1, &q2_token, &[("action", "approve")]).await;
    assert_eq!(s, 401, "another draft's token");
    let forged = format!("{}x", &p1_token[..p1_token.len() - 1]);
    let (s, _) = decide(&runner, &p1, &forged, &[("action", "approve")]).await;
    assert_eq!(s, 401, "forged");

    // Park p1 from the page; the replayed form is a conflict that says who decided.
    let (s, body) = decide(
        &runner,
        &p1,
        &p1_token,
        &[
            ("action", "reject"),
            ("reason_kind", "park"),
            ("reason", "budget freeze"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = decide(
        &runner,
        &p1,
        &p1_token,
        &[
            ("action", "reject"),
            ("reason_kind", "park"),
            ("reason", "budget freeze"),
        ],
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["decided_by"], "alex@northwind.example");

    // A week and a day later q2's link has expired: deciding with it changes nothing.
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 8 * 24 * 3600 }))
        .await;
    let (s, body) = decide(&runner, &q2, &q2_token, &[("action", "approve")]).await;
    assert_eq!(s, 401, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let sent = runner
        .get("/dev/outbox")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "prospect")
        .count();
    assert_eq!(sent, 0);
    drop(runner);

    let (ok, text, err) = support::explain("notion:p1", data.path());
    let dir = data.path().to_str().unwrap();
    assert!(ok, "{err}");
    assert!(text.contains("parked by the founder: no drafts until unparked (by alex@northwind.example: budget freeze)"), "{text}");
    assert!(
        text.contains("the deal was parked from the review queue"),
        "{text}"
    );

    // A fresh queue link, minted from the runner's key at the address it served on, opens
    // the queue.
    let (ok, url, err) = draftgate(&["link", "--data", dir]);
    assert!(ok, "{err}");
    assert!(
        url.trim()
            .starts_with(&format!("http://127.0.0.1:{port}/review?token=")),
        "{url}"
    );
    let (ok, _, err) = draftgate(&["link", "--data", dir, "--approver", "eve@example.com"]);
    assert!(!ok && err.contains("not an approver"), "{err}");
    let runner = support::start(
        data.path(),
        port,
        &[],
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
        ],
    )
    .await;
    let r = runner
        .http
        .get(url.trim())
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let queue: Value = r.json().await.unwrap();
    assert_eq!(
        queue["pending"].as_array().unwrap().len(),
        1,
        "q2 still waits: {queue}"
    );
}
