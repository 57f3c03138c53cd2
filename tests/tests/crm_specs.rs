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
    let child = Command::new(python)
        .arg(root().join("infra/prism.py"))
        .args(["--spec"])
        .arg(root().join("tests/fixtures/openapi").join(spec))
        .args(["--prefix", prefix, "--port", &port.to_string(), "--prism"])
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
