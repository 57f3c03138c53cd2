//! End to end over HTTP against the real `draftgate` binary: a signed HubSpot webhook (deal
//! details from a mock HubSpot API) -> clock +72 h -> sweep -> founder notification -> GET the
//! review link (nothing changes) -> POST approve -> exactly one prospect message; a second
//! approve sends nothing more. Plus every bad-input answer the contract names.

use std::process::Command;

use serde_json::{json, Value};
use shared::providers::signature::hubspot_v3_signature;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_SECRET: &str = "e2e-hubspot-client-secret";

mod support;

use support::{free_port, Runner};

async fn start(data: &std::path::Path, hubspot: &str, port: u16) -> Runner {
    start_on(data, hubspot, port, &[]).await
}

/// `aws`: the settings of `serve --aws` (empty: the embedded store).
async fn start_on(
    data: &std::path::Path,
    hubspot: &str,
    port: u16,
    aws: &[(String, String)],
) -> Runner {
    let mut env = vec![
        ("HUBSPOT_CLIENT_SECRET", CLIENT_SECRET),
        ("HUBSPOT_ACCESS_TOKEN", "e2e-token"),
        ("HUBSPOT_API_BASE_URL", hubspot),
        ("DRAFTGATE_SIGNING_KEY", "e2e-signing-key"),
        ("PANDADOC_WEBHOOK_KEY", "e2e-pandadoc"),
        // The most verbose logs draftgate writes, checked below for secrets.
        ("RUST_LOG", "debug"),
    ];
    env.extend(aws.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let args: &[&std::ffi::OsStr] = if aws.is_empty() {
        &[]
    } else {
        &[std::ffi::OsStr::new("--aws")]
    };
    support::start_with_args(data, port, &env, &support::AWS_RESOURCE_SETTINGS, args).await
}

impl Runner {
    async fn now_ms(&self) -> i64 {
        self.now().await.as_millisecond()
    }

    /// POST a HubSpot webhook signed exactly as HubSpot signs (v3).
    async fn hubspot(&self, body: &str, timestamp_ms: i64, secret: &str) -> reqwest::Response {
        let uri = format!("{}/webhooks/hubspot", self.base);
        let ts = timestamp_ms.to_string();
        let sig = hubspot_v3_signature(secret.as_bytes(), "POST", &uri, body.as_bytes(), &ts);
        self.http
            .post(&uri)
            .header("Content-Type", "application/json")
            .header("X-HubSpot-Signature-v3", sig)
            .header("X-HubSpot-Request-Timestamp", ts)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

async fn mock_hubspot() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/deals/777"))
        .and(header("authorization", "Bearer e2e-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "777",
            "properties": { "dealname": "Acme Corp - Website relaunch", "amount": "24000", "deal_currency_code": "EUR",
                            "dealstage": "contractsent", "pipeline": "default" },
            "associations": { "contacts": { "results": [{ "id": "888", "type": "deal_to_contact" }] } }
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/888"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "888",
            "properties": { "email": "jane.doe@acme.example", "firstname": "Jane", "lastname": "Doe", "company": "Acme Corp" }
        })))
        .mount(&server)
        .await;
    server
}

fn stage_change(event_id: i64, occurred_ms: i64) -> String {
    json!([{
        "eventId": event_id, "subscriptionId": 2465712, "portalId": 44556677, "appId": 1160452,
        "occurredAt": occurred_ms, "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
        "objectId": 777, "propertyName": "dealstage", "propertyValue": "contractsent", "changeSource": "CRM_UI"
    }])
    .to_string()
}

fn prospect_messages(outbox: &Value) -> Vec<&Value> {
    outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "prospect")
        .collect()
}

#[tokio::test]
async fn a_signed_hubspot_webhook_becomes_exactly_one_approved_email() {
    webhook_to_one_approved_email(&[]).await;
}

/// The same on DynamoDB, SQS and EventBridge (`draftgate serve --aws` on the emulator), its
/// tables, queues and bus created from template.yaml by the runner itself.
#[tokio::test]
async fn on_aws_services_a_signed_hubspot_webhook_becomes_exactly_one_approved_email() {
    let emulator = support::emulator();
    let prefix = format!("e2e-{}", std::process::id());
    webhook_to_one_approved_email(&support::aws_env(&emulator, &prefix)).await;
}

async fn webhook_to_one_approved_email(aws: &[(String, String)]) {
    let hubspot = mock_hubspot().await;
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut runner = start_on(data.path(), &hubspot.uri(), port, aws).await;

    // Intake: signed webhook accepted; the redelivery is counted, not processed again.
    let now = runner.now_ms().await;
    let body = stage_change(3816279340, now - 1000);
    let r = runner.hubspot(&body, now, CLIENT_SECRET).await;
    let status = r.status();
    let summary: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        (summary["accepted"].as_u64(), summary["duplicates"].as_u64()),
        (Some(1), Some(0)),
        "{summary}"
    );
    let again: Value = runner
        .hubspot(&body, now, CLIENT_SECRET)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "{again}"
    );

    // Before the window nothing is drafted.
    let early = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(early["pending_drafts"], 0, "{early}");

    // 72 hours later the sweep fires the proposal follow-up and the founder is told.
    runner
        .post_json("/dev/clock", json!({ "advance_secs": 72 * 3600 }))
        .await;
    let swept = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(swept["pending_drafts"], 1, "{swept}");
    let outbox = runner.get("/dev/outbox").await;
    let founder: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        // About drafts: a weekly summary may come on a Monday too.
        .filter(|m| m["kind"] == "founder" && m["draft_id"].is_string())
        .collect();
    assert_eq!(founder.len(), 1, "{outbox}");
    assert!(
        prospect_messages(&outbox).is_empty(),
        "nothing reaches a prospect before approval"
    );
    let note = founder[0];
    assert!(note["subject"]
        .as_str()
        .unwrap()
        .contains("Acme Corp - Website relaunch"));
    let draft_id = note["draft_id"].as_str().unwrap().to_string();
    let review_url = note["review_url"].as_str().unwrap().to_string();
    assert!(review_url.starts_with(&format!("{}/review/{draft_id}?token=", runner.base)));

    // The store is durable: a restart keeps the draft.
    drop(runner);
    runner = start_on(data.path(), &hubspot.uri(), port, aws).await;

    // Opening the link shows the draft and changes nothing.
    let audit_before = runner.get("/dev/audit").await;
    let page = runner.http.get(&review_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Hi Jane,"),
        "the draft uses the CRM's first name"
    );
    assert!(html.contains("Proposal sent, no reply"));
    assert!(
        html.contains("HubSpot contact 888 property firstname"),
        "each fact shows its source"
    );
    let as_json: Value = runner
        .http
        .get(&review_url)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(as_json["status"], "PENDING");
    assert_eq!(
        runner.get("/dev/audit").await,
        audit_before,
        "GET never changes state"
    );
    assert!(prospect_messages(&runner.get("/dev/outbox").await).is_empty());

    // Approve: one message to the prospect.
    let token = review_url.split("token=").nth(1).unwrap().to_string();
    let approve = || {
        runner
            .http
            .post(format!("{}/review/{draft_id}", runner.base))
            .header("Accept", "application/json")
            .form(&[("token", token.as_str()), ("action", "approve")])
            .send()
    };
    let r = approve().await.unwrap();
    let status = r.status();
    let decided: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "SENT", "{decided}");
    let outbox = runner.get("/dev/outbox").await;
    let sent = prospect_messages(&outbox);
    assert_eq!(sent.len(), 1, "{outbox}");
    assert_eq!(sent[0]["to"], "jane.doe@acme.example");
    assert_eq!(sent[0]["subject"], "Re: Acme Corp - Website relaunch");

    // A second approve sends nothing more and says who decided, when.
    let r = approve().await.unwrap();
    assert_eq!(r.status(), 409);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["decided_by"], "alex@northwind.example", "{err}");
    assert_eq!(err["decision"], "approve");
    assert!(err["decided_at"].is_string());
    assert_eq!(prospect_messages(&runner.get("/dev/outbox").await).len(), 1);

    let kinds: Vec<String> = runner
        .get("/dev/audit")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    for k in [
        "event.accepted",
        "trigger.fired",
        "draft.created",
        "founder.notified",
        "draft.approved",
        "message.sent",
    ] {
        assert!(kinds.contains(&k.to_string()), "audit lacks {k}: {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| *k == "message.sent").count(), 1);

    // The logs of the whole run (both starts) hold none of the secrets, tokens or bodies.
    drop(runner);
    let logs = std::fs::read_to_string(support::log_path(data.path())).unwrap();
    assert!(logs.contains("webhook recorded"), "{logs}");
    assert!(logs.contains(&draft_id), "lines name the draft: {logs}");
    let sent_body = sent[0]["body"].as_str().unwrap().to_string();
    let signature = hubspot_v3_signature(
        CLIENT_SECRET.as_bytes(),
        "POST",
        &format!("http://127.0.0.1:{port}/webhooks/hubspot"),
        body.as_bytes(),
        &now.to_string(),
    );
    for secret in [
        CLIENT_SECRET,
        "e2e-token",
        "e2e-signing-key",
        "e2e-pandadoc",
        token.as_str(),
        signature.as_str(),
    ] {
        assert!(!logs.contains(secret), "the logs hold `{secret}`:\n{logs}");
    }
    let chars: Vec<char> = sent_body.chars().collect();
    for piece in chars.windows(24).step_by(12) {
        let piece: String = piece.iter().collect();
        assert!(
            !logs.contains(&piece),
            "the logs quote the mail body: {piece}"
        );
    }
}

#[tokio::test]
async fn bad_input_gets_the_contract_answer_and_changes_nothing() {
    let hubspot = mock_hubspot().await;
    let data = tempfile::tempdir().unwrap();
    let runner = start(data.path(), &hubspot.uri(), free_port()).await;
    let audit_before = runner.get("/dev/audit").await;
    let now = runner.now_ms().await;
    let url = |p: &str| format!("{}{p}", runner.base);
    let error_of = |v: &Value| v["error"].as_str().unwrap_or_default().to_string();

    // Forged, stale and missing signatures: 401.
    let body = stage_change(1, now);
    let r = runner.hubspot(&body, now, "not-the-secret").await;
    assert_eq!(r.status(), 401);
    assert!(error_of(&r.json().await.unwrap()).contains("signature"));
    assert_eq!(
        runner
            .hubspot(&body, now - 301_000, CLIENT_SECRET)
            .await
            .status(),
        401
    );
    let r = runner
        .http
        .post(url("/webhooks/hubspot"))
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Malformed JSON with a valid signature: 400 naming the problem.
    let r = runner.hubspot("[{not json", now, CLIENT_SECRET).await;
    assert_eq!(r.status(), 400);
    assert!(error_of(&r.json().await.unwrap()).contains("JSON"));

    // Unknown provider, wrong content type: 400.
    let r = runner
        .http
        .post(url("/webhooks/zoho"))
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(error_of(&r.json().await.unwrap()).contains("unknown provider"));
    let r = runner
        .http
        .post(url("/webhooks/hubspot"))
        .header("Content-Type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(error_of(&r.json().await.unwrap()).contains("content type"));

    // Over 1 MiB: 413.
    let big = format!("[{}]", " ".repeat(1024 * 1024 + 10));
    let r = runner
        .http
        .post(url("/webhooks/hubspot"))
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    // Review tokens: forged, missing, for another draft.
    let r = runner
        .http
        .get(url("/review/dabc?token=1999999999.YQ.AAAA"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = runner
        .http
        .get(url("/review/dabc"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = runner
        .http
        .post(url("/review/dabc"))
        .header("Accept", "application/json")
        .form(&[("token", "1999999999.YQ.AAAA"), ("action", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    assert_eq!(
        runner.get("/dev/audit").await,
        audit_before,
        "rejected input changes nothing"
    );
    assert!(runner
        .get("/dev/outbox")
        .await
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn a_config_that_maps_a_stage_to_nothing_stops_the_runner_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/draftgate.toml"
    ))
    .unwrap();
    let broken = bundled.replace("closedlost = \"closed_lost\"", "closedlost = \"\"");
    let line = broken
        .lines()
        .position(|l| l.starts_with("closedlost"))
        .unwrap()
        + 1;
    std::fs::write(dir.path().join("draftgate.toml"), broken).unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    for t in ["proposal_no_reply.txt", "stage_unchanged.txt"] {
        std::fs::copy(
            format!("{}/../config/templates/{t}", env!("CARGO_MANIFEST_DIR")),
            dir.path().join("templates").join(t),
        )
        .unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_draftgate"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(dir.path().join("draftgate.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("draftgate.toml:{line}:")),
        "{stderr}"
    );
    assert!(stderr.contains("maps to nothing"), "{stderr}");
}

#[tokio::test]
async fn a_public_base_url_in_front_of_the_runner_changes_only_what_is_signed() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // A tunnel in front of the runner: HubSpot signs the public URL; the sample CRM data is
    // still read from the runner itself.
    let public = "https://draftgate-tunnel.example";
    let runner = support::start(
        data.path(),
        port,
        &[
            ("PUBLIC_BASE_URL", public),
            ("HUBSPOT_CLIENT_SECRET", CLIENT_SECRET),
        ],
        &["HUBSPOT_ACCESS_TOKEN", "HUBSPOT_API_BASE_URL"],
    )
    .await;
    let now = runner.now_ms().await;
    let body = json!([{
        "eventId": 1, "subscriptionId": 2, "portalId": 3, "occurredAt": now - 1000,
        "subscriptionType": "deal.propertyChange", "objectId": 9001,
        "propertyName": "dealstage", "propertyValue": "contractsent"
    }])
    .to_string();
    let ts = now.to_string();
    let sig = hubspot_v3_signature(
        CLIENT_SECRET.as_bytes(),
        "POST",
        &format!("{public}/webhooks/hubspot"),
        body.as_bytes(),
        &ts,
    );
    let r = runner
        .http
        .post(format!("{}/webhooks/hubspot", runner.base))
        .header("Content-Type", "application/json")
        .header("X-HubSpot-Signature-v3", sig)
        .header("X-HubSpot-Request-Timestamp", ts)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let summary: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["accepted"], 1, "{summary}");
}
