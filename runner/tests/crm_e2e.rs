//! End to end over HTTP against the real `draftgate` binary, one CRM at a time: a Pipedrive stage
//! move, a Close opportunity with an incoming email, and a Salesforce outbound message drive the
//! same proposal follow-up as HubSpot does; an unmapped stage id reaches the audit log and the
//! founder's next notification. The runner runs on its development webhook secrets.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};
use shared::secret::hmac_sha256;

mod support;

use support::{free_port, Runner};

const PIPEDRIVE_AUTH: (&str, &str) = ("dev-pipedrive-user", "dev-pipedrive-password");
const CLOSE_KEY: &str = "646576636c6f73656b6579646576636c6f73656b6579646576636c6f73656b65";
const SALESFORCE_TOKEN: &str = "dev-salesforce-path-token";
const SALESFORCE_ORG: &str = "00D000000000000AAA";

/// The bundled config plus a Close status mapped to the proposal stage, as a founder would.
fn config_with_close_status(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let text = std::fs::read_to_string(root.join("draftgate.toml"))
        .unwrap()
        .replace(
            "[stages.close]\n",
            "[stages.close]\n\"stat_proposal\" = \"proposal\"\n",
        );
    support::copy_templates(dir);
    let path = dir.join("draftgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn start(data: &Path) -> Runner {
    let config = config_with_close_status(&data.join("config"));
    support::start_with_args(
        data,
        free_port(),
        &[("DRAFTGATE_SIGNING_KEY", "e2e-signing-key")],
        &[
            "PIPEDRIVE_WEBHOOK_USER",
            "PIPEDRIVE_WEBHOOK_PASSWORD",
            "CLOSE_WEBHOOK_KEY",
            "SALESFORCE_PATH_TOKEN",
            "SALESFORCE_ORG_ID",
            "HUBSPOT_ACCESS_TOKEN",
        ],
        &["--config".as_ref(), config.as_os_str()],
    )
    .await
}

impl Runner {
    async fn pipedrive(&self, body: &Value, auth: (&str, &str)) -> (u16, Value) {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.0, auth.1));
        let r = self
            .http
            .post(format!("{}/webhooks/pipedrive", self.base))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Basic {basic}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn close(&self, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let ts = self.now().await.as_second().to_string();
        let key = hex::decode(CLOSE_KEY).unwrap();
        let sig = hex::encode(hmac_sha256(&key, &[ts.as_bytes(), body.as_bytes()]));
        let r = self
            .http
            .post(format!("{}/webhooks/close", self.base))
            .header("Content-Type", "application/json")
            .header("close-sig-timestamp", ts)
            .header("close-sig-hash", sig)
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn salesforce(&self, token: &str, xml: String) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}/webhooks/salesforce/{token}", self.base))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "\"\"")
            .body(xml)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn pending(&self) -> Vec<Value> {
        let outbox = self.get("/dev/outbox").await;
        outbox
            .as_array()
            .unwrap()
            .iter()
            // Notifications about drafts (the weekly summary comes on Mondays too).
            .filter(|m| m["kind"] == "founder" && m["draft_id"].is_string())
            .cloned()
            .collect()
    }

    /// Four days on (past the 72 h and the 96 h new-business windows), then the sweep.
    async fn four_days_later(&self) {
        self.post_json("/dev/clock", json!({ "advance_secs": 4 * 24 * 3600 + 60 }))
            .await;
        self.post_json("/dev/sweep", json!({})).await;
    }

    async fn audit_kinds(&self, deal: &str) -> Vec<String> {
        self.get("/dev/audit")
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["deal"].as_object().is_some_and(|d| {
                    format!(
                        "{}:{}",
                        d["crm"].as_str().unwrap(),
                        d["id"].as_str().unwrap()
                    ) == deal
                })
            })
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    }
}

fn pipedrive_stage_move(deal: u64, stage: u64, at: jiff::Timestamp) -> Value {
    json!({
        "meta": { "action": "change", "entity": "deal", "entity_id": deal.to_string(),
                  "id": format!("ev-{deal}-{stage}"), "timestamp": at.to_string(), "version": "2.0",
                  "host": "acme-sales.pipedrive.com", "attempt": 1 },
        "data": { "id": deal, "title": format!("Deal {deal} - Retainer"), "value": 9000, "currency": "EUR",
                  "stage_id": stage, "status": "open", "stage_change_time": at.to_string(),
                  "person_name": "Jane Doe", "org_name": "Acme Corp" },
        "previous": { "stage_id": 2 }
    })
}

#[tokio::test]
async fn a_pipedrive_stage_move_into_the_proposal_stage_is_followed_up() {
    let data = tempfile::tempdir().unwrap();
    let runner = start(data.path()).await;
    let now = runner.now().await;

    let (status, _) = runner
        .pipedrive(
            &pipedrive_stage_move(1432, 4, now),
            ("dev-pipedrive-user", "wrong"),
        )
        .await;
    assert_eq!(status, 401, "wrong Basic credentials are refused");
    let (status, summary) = runner
        .pipedrive(&pipedrive_stage_move(1432, 4, now), PIPEDRIVE_AUTH)
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary,
        json!({"provider": "pipedrive", "accepted": 1, "duplicates": 0, "ignored": 0})
    );
    let (_, again) = runner
        .pipedrive(&pipedrive_stage_move(1432, 4, now), PIPEDRIVE_AUTH)
        .await;
    assert_eq!(
        again["duplicates"], 1,
        "a redelivery is a duplicate: {again}"
    );

    runner.four_days_later().await;
    let notes = runner.pending().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0]["subject"]
        .as_str()
        .unwrap()
        .contains("Deal 1432 - Retainer"));
    assert!(runner
        .audit_kinds("pipedrive:1432")
        .await
        .contains(&"draft.created".to_string()));
}

#[tokio::test]
async fn an_unmapped_pipedrive_stage_is_audited_and_told_in_the_next_notification() {
    let data = tempfile::tempdir().unwrap();
    let runner = start(data.path()).await;
    let now = runner.now().await;
    let (status, summary) = runner
        .pipedrive(&pipedrive_stage_move(77, 42, now), PIPEDRIVE_AUTH)
        .await;
    assert_eq!(status, 200, "accepted and reported, not refused: {summary}");
    assert!(runner
        .audit_kinds("pipedrive:77")
        .await
        .contains(&"stage.unmapped".to_string()));

    // The next notification (a draft on another deal) carries the notice, once.
    runner
        .pipedrive(&pipedrive_stage_move(1432, 4, now), PIPEDRIVE_AUTH)
        .await;
    runner.four_days_later().await;
    let notes = runner.pending().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let body = notes[0]["body"].as_str().unwrap();
    assert!(
        body.contains("Needs your attention")
            && body.contains("stage `42` of pipedrive is not mapped in [stages.pipedrive]"),
        "{body}"
    );
}

fn close_opportunity(id: &str, lead: &str, at: jiff::Timestamp) -> Value {
    json!({
        "subscription_id": "whsub_1",
        "event": {
            "id": format!("ev_{id}_created"), "date_created": at.to_string(), "action": "created",
            "object_type": "opportunity", "object_id": id, "lead_id": lead,
            "data": { "id": id, "lead_id": lead, "lead_name": format!("{lead} Corp"), "contact_name": "Sam Lee",
                      "status_id": "stat_proposal", "status_type": "active", "value": 1200000, "value_currency": "EUR",
                      "date_created": at.to_string() }
        }
    })
}

#[tokio::test]
async fn a_close_prospect_who_emails_back_gets_no_follow_up_and_one_who_does_not_gets_one() {
    let data = tempfile::tempdir().unwrap();
    let runner = start(data.path()).await;
    let now = runner.now().await;

    // An email on a lead draftgate knows no opportunity for yet: counted as ignored.
    let email = |lead: &str, subject: &str| {
        json!({
            "subscription_id": "whsub_1",
            "event": {
                "id": format!("ev_mail_{lead}_{}", subject.len()), "date_created": now.to_string(), "action": "created",
                "object_type": "activity.email", "object_id": format!("acti_{lead}"), "lead_id": lead,
                "data": { "direction": "incoming", "status": "inbox", "subject": subject,
                          "envelope": { "from": [{ "email": "sam@example.com" }] },
                          "date_created": now.to_string() }
            }
        })
    };
    let (status, summary) = runner.close(&email("lead_none", "Hello")).await;
    assert_eq!(
        (status, summary["ignored"].as_u64()),
        (200, Some(1)),
        "{summary}"
    );

    for (oppo, lead) in [("oppo_replied", "lead_a"), ("oppo_silent", "lead_b")] {
        let (status, summary) = runner.close(&close_opportunity(oppo, lead, now)).await;
        assert_eq!(status, 200, "{summary}");
    }
    // lead_a answers; lead_b only sends an out-of-office notice.
    let (_, summary) = runner.close(&email("lead_a", "Re: proposal")).await;
    assert_eq!(
        summary["accepted"], 1,
        "recorded on lead_a's opportunity: {summary}"
    );
    let (_, summary) = runner
        .close(&email("lead_b", "Automatic reply: away"))
        .await;
    assert_eq!(summary["accepted"], 1, "{summary}");

    runner.four_days_later().await;
    let notes = runner.pending().await;
    // Close has no deal types, so no proposal template fits: a notice, not a guessed proposal.
    let subjects: Vec<&str> = notes
        .iter()
        .map(|n| n["subject"].as_str().unwrap())
        .filter(|s| s.starts_with("Draft to review"))
        .collect();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(subjects[0].contains("lead_b Corp"), "{subjects:?}");
}

fn outbound_message(
    notification: &str,
    org: &str,
    stage: &str,
    modified: jiff::Timestamp,
) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5g000000XyZ1AAK</ActionId>
   <SessionId xsi:nil="true"/>
   <Notification>
    <Id>{notification}</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0065g00000XyZabAAF</sf:Id>
     <sf:Amount>24000.0</sf:Amount>
     <sf:IsClosed>false</sf:IsClosed>
     <sf:IsWon>false</sf:IsWon>
     <sf:LastModifiedDate>{modified}</sf:LastModifiedDate>
     <sf:Name>Initech - Platform rollout</sf:Name>
     <sf:StageName>{stage}</sf:StageName>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#
    )
}

#[tokio::test]
async fn a_salesforce_outbound_message_is_acked_and_its_proposal_followed_up() {
    let data = tempfile::tempdir().unwrap();
    let runner = start(data.path()).await;
    let now = runner.now().await;
    let xml = outbound_message(
        "04l5g00000AbCdEAAV",
        SALESFORCE_ORG,
        "Proposal/Price Quote",
        now,
    );

    let (status, body) = runner.salesforce("not-the-token", xml.clone()).await;
    assert_eq!(status, 401);
    assert!(
        body.contains("soapenv:Fault") && !body.contains("<Ack>"),
        "{body}"
    );
    let other_org = outbound_message(
        "04l5g00000AbCdEAAV",
        "00D999999999999AAA",
        "Proposal/Price Quote",
        now,
    );
    let (status, body) = runner.salesforce(SALESFORCE_TOKEN, other_org).await;
    assert_eq!(status, 401, "another org's message is refused: {body}");

    let (status, body) = runner.salesforce(SALESFORCE_TOKEN, xml.clone()).await;
    assert_eq!(status, 200);
    assert!(body.contains("<Ack>true</Ack>"), "{body}");
    // Salesforce may deliver a message twice: acked again, recorded once.
    let (status, body) = runner.salesforce(SALESFORCE_TOKEN, xml).await;
    assert!(status == 200 && body.contains("<Ack>true</Ack>"));
    let accepted = runner
        .audit_kinds("salesforce:0065g00000XyZabAAF")
        .await
        .iter()
        .filter(|k| *k == "event.accepted")
        .count();
    assert_eq!(accepted, 1);

    runner.four_days_later().await;
    let notes = runner.pending().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0]["subject"]
        .as_str()
        .unwrap()
        .contains("Initech - Platform rollout"));
}

/// A Pipedrive account with two deals that never sent a webhook: one idle in "Contact Made"
/// since the 1st, one with a proposal out since the 2nd.
async fn mock_pipedrive_account() -> wiremock::MockServer {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let deal = |id: u64, title: &str, stage: u64, entered: &str| {
        json!({ "id": id, "title": title, "value": 8000, "currency": "EUR", "person_id": 900 + id,
                "stage_id": stage, "status": "open", "add_time": "2026-01-05T09:00:00Z",
                "update_time": entered, "stage_change_time": entered })
    };
    Mock::given(method("GET"))
        .and(path("/api/v2/deals"))
        .and(query_param("status", "open"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [deal(31, "Hooli - Brand audit", 2, "2026-03-01T09:00:00Z"),
                     deal(32, "Pied Piper - Retainer", 4, "2026-03-02T09:00:00Z")]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals"))
        .and(query_param("updated_since", "2026-03-02T08:59:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "data": [deal(32, "Pied Piper - Retainer", 4, "2026-03-02T09:00:00Z")]
        })))
        .mount(&server)
        .await;
    for id in [931, 932] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v2/persons/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "success": true, "data": { "id": id, "name": "Dana Lee", "first_name": "Dana",
                "emails": [{ "value": format!("dana{id}@example.com"), "primary": true }] }
            })))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "success": true, "data": [] })),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_sync_makes_deals_that_never_sent_a_webhook_known_and_a_second_changes_nothing() {
    let pipedrive = mock_pipedrive_account().await;
    let data = tempfile::tempdir().unwrap();
    let config = config_with_close_status(&data.path().join("config"));
    let runner = support::start_with_args(
        data.path(),
        free_port(),
        &[
            ("PIPEDRIVE_API_TOKEN", "e2e-pipedrive-token"),
            ("PIPEDRIVE_API_BASE_URL", pipedrive.uri().as_str()),
        ],
        &[],
        &["--config".as_ref(), config.as_os_str()],
    )
    .await;
    runner
        .post_json("/dev/clock", json!({ "now": "2026-03-12T09:00:00Z" }))
        .await;

    let first = runner.post_json("/dev/sync", json!({})).await;
    let crm = &first["sync"]["crms"][0];
    assert_eq!(
        (
            crm["crm"].as_str(),
            crm["mode"].as_str(),
            crm["deals"].as_u64()
        ),
        (Some("pipedrive"), Some("full"), Some(2)),
        "{first}"
    );
    assert!(crm["recorded"].as_u64().unwrap() >= 4, "{first}");
    assert!(crm.get("error").is_none(), "{first}");

    let swept = runner.post_json("/dev/sweep", json!({})).await;
    assert_eq!(swept["pending_drafts"], 2, "{swept}");
    let notes = runner.pending().await;
    let mut subjects: Vec<&str> = notes
        .iter()
        .map(|n| n["subject"].as_str().unwrap())
        .collect();
    subjects.sort_unstable();
    assert!(
        subjects[0].contains("Hooli - Brand audit") && subjects[0].contains("Deal stage unchanged"),
        "{subjects:?}"
    );
    assert!(
        subjects[1].contains("Pied Piper - Retainer") && subjects[1].contains("Proposal"),
        "{subjects:?}"
    );

    let second = runner.post_json("/dev/sync", json!({})).await;
    let crm = &second["sync"]["crms"][0];
    assert_eq!(crm["mode"], "since 2026-03-02T09:00:00Z", "{second}");
    assert_eq!(crm["recorded"], 0, "a second run changes nothing: {second}");
    assert_eq!(
        runner.post_json("/dev/sweep", json!({})).await["pending_drafts"],
        2
    );
}

#[tokio::test]
async fn draftgate_import_syncs_once_from_the_command_line() {
    let pipedrive = mock_pipedrive_account().await;
    let data = tempfile::tempdir().unwrap();
    let (dir, uri) = (data.path().to_path_buf(), pipedrive.uri());
    let import = move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_draftgate"))
            .args(["import", "--data"])
            .arg(&dir)
            .env("PIPEDRIVE_API_TOKEN", "e2e-pipedrive-token")
            .env("PIPEDRIVE_API_BASE_URL", &uri)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = tokio::task::spawn_blocking(import.clone()).await.unwrap();
    assert_eq!(first["crms"][0]["deals"], 2, "{first}");
    assert_eq!(first["crms"][0]["mode"], "full");
    let second = tokio::task::spawn_blocking(import).await.unwrap();
    assert_eq!(second["crms"][0]["recorded"], 0, "{second}");

    // Without a CRM API there is nothing to import, and it says what to set.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_draftgate"))
        .args(["import", "--data"])
        .arg(data.path())
        .env_remove("PIPEDRIVE_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PIPEDRIVE_API_TOKEN"));
}
