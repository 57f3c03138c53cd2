//! `draftgate connect pipedrive|close` against mock CRM APIs (wiremock): the credentials are
//! checked, the webhook subscriptions draftgate reads are created with what the providers require
//! (Pipedrive: name, URL, action, object, v2, the Basic credentials; Close: URL and events), a
//! second run creates nothing, and refused credentials stop with a clear error.

use serde_json::json;
use shared::ports::CrmError;
use shared::providers::close::CloseApi;
use shared::providers::pipedrive::PipedriveApi;
use shared::secret::Secret;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const URL: &str = "https://hooks.example/webhooks/pipedrive";

async fn pipedrive(existing: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me"))
        .and(header("x-api-token", "pd-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "data": { "id": 7, "name": "Alex Rivera", "company_name": "Northwind Studio" }
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({ "success": false, "error": "unauthorized access" })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "success": true, "data": existing })),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks"))
        .and(body_partial_json(json!({
            "subscription_url": URL, "event_action": "*", "version": "2.0",
            "http_auth_user": "draftgate", "http_auth_password": "hook-pass"
        })))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "success": true, "data": { "id": 4242 } })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/stages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [{ "id": 1, "name": "Lead In", "pipeline_id": 1, "deal_probability": 10 },
                     { "id": 4, "name": "Proposal Made", "pipeline_id": 1, "deal_probability": 60 }]
        })))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn connect_pipedrive_creates_the_two_webhooks_once() {
    let server = pipedrive(json!([])).await;
    let api = PipedriveApi::new(&server.uri(), Secret::new("pd-token"));
    let report = api
        .connect(URL, &Secret::new("draftgate"), &Secret::new("hook-pass"))
        .await
        .unwrap();
    assert_eq!(report[0], "token ok: Alex Rivera (Northwind Studio)");
    assert!(
        report[1].starts_with("created webhook 4242 (deal"),
        "{report:?}"
    );
    assert!(
        report[2].starts_with("created webhook 4242 (activity"),
        "{report:?}"
    );
    assert!(
        report
            .iter()
            .any(|l| l.contains("\"4\" = \"?\"   # Proposal Made")),
        "{report:?}"
    );
    let posts: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0]["event_object"], "deal");
    assert_eq!(posts[1]["event_object"], "activity");
    assert!(
        posts.iter().all(|p| p["name"].is_string()),
        "Pipedrive requires a name"
    );

    // Run again where both exist: nothing is created.
    let existing = json!([
        { "id": 1, "subscription_url": URL, "event_object": "deal" },
        { "id": 2, "subscription_url": URL, "event_object": "activity" }
    ]);
    let server = pipedrive(existing).await;
    let api = PipedriveApi::new(&server.uri(), Secret::new("pd-token"));
    let report = api
        .connect(URL, &Secret::new("draftgate"), &Secret::new("hook-pass"))
        .await
        .unwrap();
    assert!(report[1].starts_with("kept webhook 1 (deal"), "{report:?}");
    assert!(server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .all(|r| r.method.as_str() != "POST"));
}

#[tokio::test]
async fn a_refused_pipedrive_token_stops_before_anything_is_created() {
    let server = pipedrive(json!([])).await;
    let api = PipedriveApi::new(&server.uri(), Secret::new("wrong"));
    match api.connect(URL, &Secret::new("u"), &Secret::new("p")).await {
        Err(CrmError::Invalid(why)) => assert!(why.contains("401"), "{why}"),
        other => panic!("expected the token to be refused: {other:?}"),
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn connect_close_subscribes_once_and_hands_out_the_signing_key_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/me/"))
        .and(header("authorization", "Basic YXBpX2tleTo="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "email": "alex@northwind.example", "organizations": [{ "name": "Northwind Studio" }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhook/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [] })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhook/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{ "id": "whsub_1", "url": "https://hooks.example/webhooks/close" }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhook/"))
        .and(body_partial_json(json!({ "url": "https://hooks.example/webhooks/close" })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "whsub_1", "signature_key": "058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/status/opportunity/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "id": "stat_1", "label": "Proposal Sent", "type": "active" },
            { "id": "stat_2", "label": "Won", "type": "won" }
        ]})))
        .mount(&server)
        .await;
    let api = CloseApi::new(&server.uri(), Secret::new("api_key"));
    let url = "https://hooks.example/webhooks/close";
    let (report, key) = api.connect(url).await.unwrap();
    assert_eq!(
        report[0],
        "API key ok: alex@northwind.example (Northwind Studio)"
    );
    assert!(
        report[1].starts_with("created subscription whsub_1 for 8 events"),
        "{report:?}"
    );
    assert_eq!(
        key.as_deref(),
        Some("058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c")
    );
    assert!(
        report
            .iter()
            .any(|l| l.contains("\"stat_1\" = \"?\"   # Proposal Sent (active)")),
        "{report:?}"
    );
    let post = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(body["events"].as_array().unwrap().len(), 8);
    assert_eq!(
        body["events"][0],
        json!({ "object_type": "opportunity", "action": "created" })
    );

    let (report, key) = api.connect(url).await.unwrap();
    assert!(
        report[1].starts_with("kept subscription whsub_1"),
        "{report:?}"
    );
    assert_eq!(key, None);
}
