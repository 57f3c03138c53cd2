//! The CRM API clients against validating mocks served from each provider's own published
//! OpenAPI spec (Stoplight Prism, `infra/prism.py`): Prism refuses any request that does not
//! conform (path, parameters, their types and enums, auth) and answers with the spec's examples,
//! which the clients must read.
//!
//! Needs Prism, which `scripts/test.sh` installs (`DRAFTGATE_PRISM` or `.tools/prism`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shared::ports::{CrmClient, CrmError, CrmSource};
use shared::providers::pipedrive::PipedriveApi;
use shared::secret::Secret;

struct Prism {
    child: Child,
    base: String,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Prism on `spec` (a file of `tests/fixtures/openapi/`), paths under `prefix`.
fn prism(spec: &str, prefix: &str) -> Prism {
    prism_all(&[(spec, prefix)])
}

/// One Prism serving several specs (each with its path prefix).
fn prism_all(specs: &[(&str, &str)]) -> Prism {
    let prism = std::env::var("DRAFTGATE_PRISM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".tools/prism/node_modules/.bin/prism"));
    assert!(
        prism.exists(),
        "Prism is needed for the spec tests: run `bash scripts/test.sh`, which installs it into .tools/prism"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let venv = root().join(".venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let log = std::fs::File::create(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prism-{port}.log")),
    )
    .unwrap();
    let spec = specs
        .iter()
        .map(|(s, _)| *s)
        .collect::<Vec<_>>()
        .join(" + ");
    let mut cmd = Command::new(python);
    cmd.arg(root().join("infra/prism.py"));
    for (file, prefix) in specs {
        cmd.arg("--spec")
            .arg(root().join("tests/fixtures/openapi").join(file))
            .arg(format!("--prefix={prefix}"));
    }
    let child = cmd
        .args(["--port", &port.to_string(), "--prism"])
        .arg(&prism)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("infra/prism.py runs");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Prism did not start on {spec}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Prism {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

#[tokio::test]
async fn the_pipedrive_client_speaks_the_published_api_v2() {
    let mock = tokio::task::spawn_blocking(|| prism("pipedrive-api-v2.openapi.yaml", "/api/v2"))
        .await
        .unwrap();
    let api = PipedriveApi::new(&mock.base, Secret::new("any-token"));

    // The first sync's page: GET /api/v2/deals?status=open&limit&sort_by&sort_direction, then
    // each deal's person and activities, all accepted by the spec.
    let page = api.deals(None, None).await.expect("a conforming request");
    assert_eq!(page.deals.len(), 1);
    let d = &page.deals[0];
    assert_eq!(d.id, "1");
    assert_eq!(d.snapshot.name.as_deref(), Some("Deal Title"));
    assert_eq!(d.snapshot.raw_stage.as_deref(), Some("1"));
    assert_eq!(
        d.snapshot.contact_email.as_deref(),
        Some("email1@email.com"),
        "the primary email of GET /persons/{{id}}"
    );
    assert_eq!(d.updated_at, "2021-01-01T00:00:00Z".parse().unwrap());
    assert!(page.next.is_some(), "the example's next_cursor is followed");

    // The incremental page: updated_since and a cursor.
    let since = "2026-03-01T10:00:00Z".parse().unwrap();
    api.deals(Some(since), page.next.as_deref())
        .await
        .expect("updated_since and cursor conform");

    // Deal details for a webhook: GET /api/v2/deals/{id}.
    let snap = api.fetch_deal("1").await.unwrap();
    assert_eq!(snap.amount, Some(200.0));

    // Prism refuses what the spec does not allow: an id that is not an integer.
    match api.fetch_deal("not-a-number").await {
        Err(CrmError::Invalid(why)) => assert!(why.contains("422"), "{why}"),
        other => panic!("expected the mock to refuse the request: {other:?}"),
    }
}

#[tokio::test]
async fn connect_close_speaks_the_published_api() {
    let mock = tokio::task::spawn_blocking(|| prism("close-api.openapi.yml", "/api/v1"))
        .await
        .unwrap();
    let api = shared::providers::close::CloseApi::new(&mock.base, Secret::new("api_key"));
    // GET /me/, GET /webhook/, POST /webhook/, GET /status/opportunity/: Prism requires the
    // Authorization header on each, and answers from the spec's schemas.
    let (report, _key) = api
        .connect("https://hooks.example/webhooks/close")
        .await
        .expect("conforming requests");
    assert!(report[0].starts_with("API key ok"), "{report:?}");
    assert!(
        report.iter().any(|l| l.contains("opportunity statuses")),
        "{report:?}"
    );
}

#[tokio::test]
async fn the_hubspot_client_speaks_the_published_crm_v3_specs() {
    use shared::providers::hubspot::HubSpotClient;
    let pipelines = tokio::task::spawn_blocking(|| prism("hubspot-crm-pipelines-v3.json", ""))
        .await
        .unwrap();
    let client = HubSpotClient::new(&pipelines.base, Secret::new("pat-token"));
    // GET /crm/v3/pipelines/deals with a Bearer token, answered from the spec's schemas.
    let stage = client
        .resolve_stage("contractsent")
        .await
        .expect("a conforming request");
    assert_eq!(
        stage, "contractsent",
        "a stage id no pipeline closes stays itself"
    );

    let deals = tokio::task::spawn_blocking(|| prism("hubspot-crm-deals-v3.2025-08-01.json", ""))
        .await
        .unwrap();
    let client = HubSpotClient::new(&deals.base, Secret::new("pat-token"));
    // GET /crm/v3/objects/deals/{id}?properties=…&associations=contacts. The spec's example deal
    // has no associated contact, so no contact read follows.
    let snap = client
        .fetch_deal("18544521873")
        .await
        .expect("a conforming request");
    assert_eq!(snap.name.as_deref(), Some("Custom data integrations"));
    assert_eq!(snap.amount, Some(1500.0));
}

#[tokio::test]
async fn the_hubspot_sync_search_conforms_to_the_published_spec() {
    use shared::providers::hubspot::HubSpotClient;
    let deals = tokio::task::spawn_blocking(|| prism("hubspot-crm-deals-v3.2025-08-01.json", ""))
        .await
        .unwrap();
    let client = HubSpotClient::new(&deals.base, Secret::new("pat-token"));
    // POST /crm/v3/objects/deals/search: the first run's filter, then the incremental one with
    // a cursor; Prism validates each body against PublicObjectSearchRequest.
    let first = client.deals(None, None).await.expect("a conforming search");
    let since = "2026-03-01T10:00:00Z".parse().unwrap();
    client
        .deals(Some(since), first.next.as_deref().or(Some("100")))
        .await
        .expect("a conforming incremental search");
}

#[tokio::test]
async fn the_close_sync_conforms_to_the_published_api() {
    let mock = tokio::task::spawn_blocking(|| prism("close-api.openapi.yml", "/api/v1"))
        .await
        .unwrap();
    let api = shared::providers::close::CloseApi::new(&mock.base, Secret::new("api_key"));
    // GET /opportunity/ (first run, then incremental), /contact/{id}/ and /activity/?lead_id.
    api.deals(None, None)
        .await
        .expect("a conforming first page");
    let since = "2026-03-01T10:00:00Z".parse().unwrap();
    api.deals(Some(since), Some("100"))
        .await
        .expect("a conforming incremental page");
}

// ---- The CRM write-back clients: every write conforms to the CRM's published spec ----

fn diff() -> Vec<shared::domain::FieldChange> {
    use shared::domain::{CrmField, FieldChange};
    let c = |field, to: &str| FieldChange {
        field,
        from: None,
        to: to.into(),
        shown: None,
        source: "call notes".into(),
    };
    vec![
        c(CrmField::NextStep, "Send the SOW"),
        c(CrmField::NextStepDate, "2026-12-04"),
        c(CrmField::Stage, "4"),
        c(CrmField::Amount, "24000"),
        c(CrmField::CloseReason, "Budget moved to next year"),
    ]
}

fn activities() -> [shared::ports::Activity; 2] {
    use shared::ports::{Activity, ActivityKind};
    let a = |kind| Activity {
        kind,
        subject: "Re: Acme website".into(),
        body: "Hi Jane,\n\nChecking in on the proposal.\n".into(),
        at: "2026-11-26T10:00:00Z".parse().unwrap(),
        by: "alex@northwind.example".into(),
        to: Some("jane@acme.example".into()),
    };
    [a(ActivityKind::Email), a(ActivityKind::Note)]
}

#[tokio::test]
async fn the_hubspot_writer_conforms_to_the_deals_notes_emails_and_tasks_specs() {
    use shared::ports::CrmWriter;
    use shared::providers::hubspot::HubSpotClient;
    let mock = tokio::task::spawn_blocking(|| {
        prism_all(&[
            ("hubspot-crm-deals-v3.2025-08-01.json", ""),
            ("hubspot-crm-notes-v3.json", ""),
            ("hubspot-crm-emails-v3.json", ""),
            ("hubspot-crm-tasks-v3.json", ""),
        ])
    })
    .await
    .unwrap();
    let api = HubSpotClient::new(&mock.base, Secret::new("pat-token"));
    // POST /crm/v3/objects/emails and /notes with their associations (after reading the deal's
    // contacts), PATCH /crm/v3/objects/deals/{id}, POST /crm/v3/objects/tasks.
    for a in activities() {
        api.log_activity("18544521873", &a)
            .await
            .unwrap_or_else(|e| panic!("{:?} conforms: {e}", a.kind));
    }
    let done = api
        .update_deal("18544521873", &diff())
        .await
        .expect("a conforming update and task");
    assert_eq!(done.len(), 2, "{done:?}");
    // The mock checks bodies: a note whose properties are not a map is refused.
    let refused = reqwest::Client::new()
        .post(format!("{}/crm/v3/objects/notes", mock.base))
        .bearer_auth("pat-token")
        .json(&serde_json::json!({ "properties": "hs_note_body", "associations": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 422);
}

#[tokio::test]
async fn the_pipedrive_writer_conforms_to_the_v2_and_v1_notes_specs() {
    use shared::ports::CrmWriter;
    let mock = tokio::task::spawn_blocking(|| {
        prism_all(&[
            ("pipedrive-api-v2.openapi.yaml", "/api/v2"),
            ("pipedrive-api-v1-notes.openapi.yaml", "/api/v1"),
        ])
    })
    .await
    .unwrap();
    let api = PipedriveApi::new(&mock.base, Secret::new("any-token"));
    // POST /api/v2/activities (the email), POST /api/v1/notes, PATCH /api/v2/deals/{id}, POST
    // /api/v2/activities (the next step as a task).
    for a in activities() {
        api.log_activity("12", &a)
            .await
            .unwrap_or_else(|e| panic!("{:?} conforms: {e}", a.kind));
    }
    api.update_deal("12", &diff())
        .await
        .expect("a conforming update and task");
}

#[tokio::test]
async fn the_close_writer_conforms_to_the_published_api() {
    use shared::ports::CrmWriter;
    let mock = tokio::task::spawn_blocking(|| prism("close-api.openapi.yml", "/api/v1"))
        .await
        .unwrap();
    let api = shared::providers::close::CloseApi::new(&mock.base, Secret::new("api_key"));
    // GET /opportunity/{id}/ for its lead, POST /activity/email/ and /activity/note/, PUT
    // /opportunity/{id}/, POST /task/ and the close reason's note.
    for a in activities() {
        api.log_activity("oppo_1", &a)
            .await
            .unwrap_or_else(|e| panic!("{:?} conforms: {e}", a.kind));
    }
    let done = api
        .update_deal("oppo_1", &diff())
        .await
        .expect("conforming writes");
    assert_eq!(done.len(), 3, "{done:?}");
}
