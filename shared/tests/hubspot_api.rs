//! The HubSpot CRM API v3 client through a mock HTTP server.

use serde_json::json;
use shared::ports::{CrmClient, CrmError};
use shared::providers::hubspot::HubSpotClient;
use shared::secret::Secret;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_deal_and_its_contact_become_sourced_facts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/deals/18544521873"))
        .and(query_param("associations", "contacts"))
        .and(header("authorization", "Bearer pat-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "18544521873",
            "properties": { "dealname": "Acme Corp - 50 seats", "amount": "24000", "deal_currency_code": "EUR",
                            "dealstage": "contractsent", "pipeline": "default", "dealtype": "newbusiness",
                            "closedate": "2026-12-31T00:00:00Z", "draftgate_status": null },
            "associations": { "contacts": { "results": [{ "id": "501", "type": "deal_to_contact" }] } }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/501"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "501", "properties": { "email": "jane@acme.example", "firstname": "Jane", "lastname": "Doe", "company": "" }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = HubSpotClient::new(&server.uri(), Secret::new("pat-token"));
    let snap = client.fetch_deal("18544521873").await.unwrap();
    assert_eq!(snap.name.as_deref(), Some("Acme Corp - 50 seats"));
    assert_eq!(snap.raw_stage.as_deref(), Some("contractsent"));
    assert_eq!(snap.deal_type.as_deref(), Some("newbusiness"));
    assert_eq!(snap.amount, Some(24000.0));
    assert_eq!(snap.contact_email.as_deref(), Some("jane@acme.example"));
    assert_eq!(snap.facts["deal.amount"].value, "24000 EUR");
    assert_eq!(snap.facts["deal.close_date"].value, "2026-12-31");
    assert_eq!(
        snap.facts["contact.first_name"].source,
        "HubSpot contact 501 property firstname"
    );
    assert!(
        !snap.facts.contains_key("contact.company"),
        "an empty CRM field is not a fact"
    );
    assert_eq!(snap.status, None);
}

#[tokio::test]
async fn not_found_rate_limits_and_server_errors_are_classified() {
    let server = MockServer::start().await;
    Mock::given(path("/crm/v3/objects/deals/1"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(path("/crm/v3/objects/deals/2"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;
    Mock::given(path("/crm/v3/objects/deals/3"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    Mock::given(path("/crm/v3/objects/deals/4"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(path("/crm/v3/objects/deals/5"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not json"))
        .mount(&server)
        .await;
    let client = HubSpotClient::new(&server.uri(), Secret::new("t"));
    assert!(matches!(
        client.fetch_deal("1").await,
        Err(CrmError::NotFound(_))
    ));
    assert!(matches!(
        client.fetch_deal("2").await,
        Err(CrmError::Unavailable(_))
    ));
    assert!(matches!(
        client.fetch_deal("3").await,
        Err(CrmError::Unavailable(_))
    ));
    assert!(matches!(
        client.fetch_deal("4").await,
        Err(CrmError::Invalid(_))
    ));
    assert!(matches!(
        client.fetch_deal("5").await,
        Err(CrmError::Invalid(_))
    ));
}

#[tokio::test]
async fn an_unreachable_api_is_unavailable_and_the_token_is_not_in_the_error() {
    let client = HubSpotClient::new("http://127.0.0.1:9", Secret::new("secret-token-value"));
    let err = client.fetch_deal("1").await.unwrap_err();
    assert!(matches!(err, CrmError::Unavailable(_)));
    assert!(!err.to_string().contains("secret-token-value"));
}

#[tokio::test]
async fn closed_stages_of_any_pipeline_resolve_to_won_or_lost_from_their_metadata() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/pipelines/deals"))
        .and(header("authorization", "Bearer pat-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "results": [
            { "id": "default", "label": "Sales", "stages": [
                { "id": "contractsent", "label": "Contract sent", "metadata": { "isClosed": "false", "probability": "0.9" } },
                { "id": "closedwon", "label": "Closed won", "metadata": { "isClosed": "true", "probability": "1.0" } } ] },
            { "id": "781234", "label": "Retainers", "stages": [
                { "id": "98765001", "label": "Signed", "metadata": { "isClosed": "true", "probability": "1.0" } },
                { "id": "98765002", "label": "No budget", "metadata": { "isClosed": "true", "probability": "0.0" } } ] }
        ]})))
        .expect(2)
        .mount(&server)
        .await;
    let client = HubSpotClient::new(&server.uri(), Secret::new("pat-token"));
    assert_eq!(client.resolve_stage("98765001").await.unwrap(), "won");
    assert_eq!(client.resolve_stage("98765002").await.unwrap(), "lost");
    assert_eq!(client.resolve_stage("closedwon").await.unwrap(), "won");
    assert_eq!(
        client.resolve_stage("contractsent").await.unwrap(),
        "contractsent"
    );
    // A stage id no pipeline had reads the pipelines once more (edited since?): the second of
    // the two reads the `expect(2)` above counts.
    assert_eq!(client.resolve_stage("55501").await.unwrap(), "55501");

    // A portal (or mock) without pipeline metadata keeps stage ids as they are.
    let bare = MockServer::start().await;
    let client = HubSpotClient::new(&bare.uri(), Secret::new("pat-token"));
    assert_eq!(
        client.resolve_stage("closedwon").await.unwrap(),
        "closedwon"
    );
}
