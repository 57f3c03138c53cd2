//! The CRM sync against a mock Pipedrive API (wiremock): the first run reads every open deal
//! with its contact and activities and makes idle deals due; a second run reads only what
//! changed and records nothing new; pages are followed; 429 waits for Retry-After; a CRM that
//! stays down leaves the store and the watermark as they were.

mod support;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::Core;
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::{DealRef, DraftStatus, Stage};
use shared::ports::{Bookkeeping, CrmSource, DealStore, DraftStore};
use shared::providers::pipedrive::PipedriveApi;
use shared::secret::Secret;
use shared::tokens::TokenSigner;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NOW: &str = "2026-03-12T09:00:00Z";

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn deal(id: u64, title: &str, stage: u64, entered: &str, updated: &str) -> Value {
    json!({ "id": id, "title": title, "value": 12000, "currency": "EUR", "person_id": id + 100,
            "stage_id": stage, "pipeline_id": 1, "status": "open", "add_time": "2026-01-10T09:00:00Z",
            "update_time": updated, "stage_change_time": entered, "is_deleted": false })
}

async fn pipedrive(server: &MockServer) {
    // Page 1 and page 2 of the open deals (first run: status=open, no updated_since).
    Mock::given(method("GET"))
        .and(path("/api/v2/deals"))
        .and(header("x-api-token", "pd-token"))
        .and(query_param("status", "open"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [deal(11, "Acme - Retainer", 2, "2026-03-01T09:00:00Z", "2026-03-01T09:00:00Z")],
            "additional_data": { "next_cursor": "page-2" }
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals"))
        .and(query_param("cursor", "page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [deal(12, "Globex - Audit", 4, "2026-03-02T09:00:00Z", "2026-03-05T16:00:00Z")],
            "additional_data": { "next_cursor": null }
        })))
        .mount(server)
        .await;
    for id in [111, 112] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v2/persons/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "success": true,
                "data": { "id": id, "name": "Jane Doe", "first_name": "Jane", "last_name": "Doe",
                          "emails": [{ "value": format!("jane{id}@acme.example"), "primary": true, "label": "work" }] }
            })))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .and(query_param("deal_id", "12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [{ "id": 501, "type": "call", "subject": "Scoping call", "deal_id": 12, "done": true,
                       "marked_as_done_time": "2026-03-05T16:00:00Z", "add_time": "2026-03-05T15:00:00Z" }]
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "success": true, "data": [] })),
        )
        .mount(server)
        .await;
}

struct World {
    store: Arc<EmbeddedStore>,
    clock: Arc<ManualClock>,
    services: Services,
    core: Core,
}

fn world() -> World {
    let store = EmbeddedStore::open_in_memory().unwrap();
    let clock = Arc::new(ManualClock::new(t(NOW)));
    let services = Services::build(
        Adapters::embedded(&store, clock.clone()),
        Settings::new(Arc::new(shared::config::Config::bundled().unwrap())),
    );
    let core = services.core();
    World {
        store,
        clock,
        services,
        core,
    }
}

/// `w`'s services, the scheduled sync reading `source`.
fn reading(w: &World, source: Arc<dyn CrmSource>) -> Services {
    let adapters = Adapters {
        crm_sources: vec![source],
        ..w.services.adapters().clone()
    };
    Services::build(adapters, w.services.settings().clone())
}

/// `w`'s services, the scheduled sync reading the Pipedrive API at `server`.
fn reading_pipedrive(w: &World, server: &MockServer) -> Services {
    reading(
        w,
        Arc::new(PipedriveApi::new(&server.uri(), Secret::new("pd-token"))),
    )
}

#[tokio::test]
async fn a_first_sync_makes_idle_deals_known_and_a_second_changes_nothing() {
    let server = MockServer::start().await;
    pipedrive(&server).await;
    let w = world();

    let first = reading_pipedrive(&w, &server).syncer().run().await;
    let s = &first.crms[0];
    assert_eq!(
        (s.mode.as_str(), s.pages, s.deals, s.error.as_deref()),
        ("full", 2, 2, None),
        "{first:?}"
    );
    assert!(s.recorded >= 5, "{first:?}");

    let acme = w
        .store
        .get_deal(&DealRef::new("pipedrive", "11"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(acme.stage, Some(Stage::Qualified));
    assert_eq!(
        acme.stage_entered_at,
        t("2026-03-01T09:00:00Z"),
        "entered its stage eleven days ago"
    );
    assert_eq!(acme.contact_email.as_deref(), Some("jane111@acme.example"));
    assert_eq!(acme.name, "Acme - Retainer");
    let globex = w
        .store
        .get_deal(&DealRef::new("pipedrive", "12"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(globex.stage, Some(Stage::Proposal));
    assert_eq!(globex.last_call_at, Some(t("2026-03-05T16:00:00Z")));

    // The idle deals' follow-ups come from the next sweep, like any other deal's. Globex had a
    // call after its proposal went out: the proposal nudge has no reason left, the call's
    // "no next step" nudge does.
    let tokens = TokenSigner::new(Secret::new("k"));
    support::sweep_and_drain(&w.core, &w.store, &w.clock, &tokens).await;
    let pending = w
        .store
        .drafts_by_status(DraftStatus::Pending, None, 10)
        .await
        .unwrap();
    let mut triggers: Vec<(String, String)> = pending
        .iter()
        .map(|d| (d.deal.to_string(), d.trigger.as_str().to_string()))
        .collect();
    triggers.sort();
    assert_eq!(
        triggers,
        vec![
            ("pipedrive:11".to_string(), "stage_unchanged".to_string()),
            ("pipedrive:12".to_string(), "call_no_next_step".to_string()),
        ]
    );

    // The incremental run asks for what changed since the newest update it saw (less a minute).
    Mock::given(method("GET"))
        .and(path("/api/v2/deals"))
        .and(query_param("updated_since", "2026-03-05T15:59:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [deal(12, "Globex - Audit", 4, "2026-03-02T09:00:00Z", "2026-03-05T16:00:00Z")],
            "additional_data": {}
        })))
        .with_priority(1)
        .mount(&server)
        .await;
    w.clock.advance(SignedDuration::from_mins(15));
    let second = reading_pipedrive(&w, &server).syncer().run().await;
    let s = &second.crms[0];
    assert_eq!(s.mode, "since 2026-03-05T16:00:00Z", "{second:?}");
    assert_eq!(
        (s.deals, s.recorded, s.error.as_deref()),
        (1, 0, None),
        "nothing new: {second:?}"
    );
    assert!(s.unchanged >= 3);
}

#[tokio::test]
async fn a_rate_limited_page_waits_for_retry_after_and_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "success": true, "data": [] })),
        )
        .mount(&server)
        .await;
    let w = world();
    let started = std::time::Instant::now();
    let summary = reading_pipedrive(&w, &server).syncer().run().await;
    assert_eq!(summary.crms[0].error, None, "{summary:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(
        w.store.marker("sync:pipedrive").await.unwrap().as_deref(),
        Some(NOW),
        "an empty first run starts the incremental ones from now"
    );
}

#[tokio::test]
async fn a_crm_that_stays_down_changes_nothing_and_keeps_the_watermark() {
    let server = MockServer::start().await;
    pipedrive(&server).await;
    // Page 2 keeps failing: page 1's deal must not move the watermark either.
    Mock::given(method("GET"))
        .and(path("/api/v2/deals"))
        .and(query_param("cursor", "page-2"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&server)
        .await;
    let w = world();
    w.store
        .set_marker("sync:pipedrive", "2026-02-01T00:00:00Z")
        .await
        .unwrap();
    // The incremental first page answers like the full one.
    Mock::given(method("GET"))
        .and(path("/api/v2/deals"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [deal(11, "Acme - Retainer", 2, "2026-03-01T09:00:00Z", "2026-03-01T09:00:00Z")],
            "additional_data": { "next_cursor": "page-2" }
        })))
        .with_priority(2)
        .mount(&server)
        .await;
    let summary = reading_pipedrive(&w, &server).syncer().run().await;
    let s = &summary.crms[0];
    assert!(
        s.error.as_deref().is_some_and(|e| e.contains("503")),
        "{summary:?}"
    );
    assert_eq!(
        w.store.marker("sync:pipedrive").await.unwrap().as_deref(),
        Some("2026-02-01T00:00:00Z"),
        "the watermark did not move"
    );
    // What page 1 recorded is true and stays (each event is idempotent); the retry re-reads it.
    let again = reading_pipedrive(&w, &server).syncer().run().await;
    assert!(again.crms[0].error.is_some());
    assert_eq!(
        again.crms[0].recorded, 0,
        "nothing recorded twice: {again:?}"
    );
}

#[tokio::test]
async fn a_hubspot_sync_searches_open_deals_then_changes_and_makes_idle_ones_due() {
    use shared::providers::hubspot::HubSpotClient;
    use wiremock::matchers::body_partial_json;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals/search"))
        .and(header("authorization", "Bearer pat"))
        .and(body_partial_json(json!({ "filterGroups": [{ "filters": [
            { "propertyName": "hs_is_closed", "operator": "EQ", "value": "false" }] }] })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total": 1,
            "results": [{ "id": "9101", "properties": {
                "hs_lastmodifieddate": "2026-03-02T10:00:00Z",
                "hs_v2_date_entered_current_stage": "2026-03-02T10:00:00Z",
                "createdate": "2026-02-20T09:00:00Z" } }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals/search"))
        .and(body_partial_json(json!({ "filterGroups": [{ "filters": [
            { "propertyName": "hs_lastmodifieddate", "operator": "GTE" }] }] })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "total": 0, "results": [] })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/deals/9101"))
        .and(query_param("associations", "contacts,calls,meetings,emails"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "9101",
            "properties": { "dealname": "Initech - Rollout", "amount": "30000", "deal_currency_code": "USD",
                            "dealstage": "contractsent", "pipeline": "default" },
            "associations": { "contacts": { "results": [{ "id": "77" }] },
                              "calls": { "results": [{ "id": "c1" }] },
                              "meetings": { "results": [{ "id": "m1" }] } }
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/calls/batch/read"))
        .and(body_partial_json(json!({ "inputs": [{ "id": "c1" }] })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "results": [
            { "id": "c1", "properties": { "hs_timestamp": "2026-03-02T11:00:00Z", "hs_call_title": "Pricing",
                                          "hs_call_status": "COMPLETED" } } ] })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/meetings/batch/read"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "results": [
            { "id": "m1", "properties": { "hs_timestamp": "2026-03-02T11:05:00Z", "hs_meeting_title": "Rollout plan",
                                          "hs_meeting_outcome": "CANCELED" } } ] })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/77"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "77", "properties": { "email": "bill@initech.example", "firstname": "Bill" }
        })))
        .mount(&server)
        .await;
    let w = world();
    let syncer = reading(
        &w,
        Arc::new(HubSpotClient::new(&server.uri(), Secret::new("pat"))),
    )
    .syncer();
    let first = syncer.run().await;
    assert_eq!(
        (first.crms[0].deals, first.crms[0].error.as_deref()),
        (1, None),
        "{first:?}"
    );
    let deal = w
        .store
        .get_deal(&DealRef::new("hubspot", "9101"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deal.stage, Some(Stage::Proposal));
    assert_eq!(deal.contact_email.as_deref(), Some("bill@initech.example"));
    assert_eq!(
        deal.last_call_at,
        Some(t("2026-03-02T11:00:00Z")),
        "the associated call"
    );
    let timeline = w.store.timeline(&deal.key).await.unwrap();
    assert!(
        timeline.iter().any(|e| matches!(&e.kind, shared::domain::EventKind::MeetingCancelled { summary, .. } if summary.contains("Rollout plan"))),
        "the cancelled meeting is on the timeline"
    );
    let tokens = TokenSigner::new(Secret::new("k"));
    support::sweep_and_drain(&w.core, &w.store, &w.clock, &tokens).await;
    let pending = w
        .store
        .drafts_by_status(DraftStatus::Pending, None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].to.as_deref(), Some("bill@initech.example"));

    let second = syncer.run().await;
    assert_eq!(
        second.crms[0].mode, "since 2026-03-02T10:00:00Z",
        "{second:?}"
    );
    assert_eq!(second.crms[0].recorded, 0);
}

#[tokio::test]
async fn a_close_sync_reads_active_opportunities_with_their_leads_activities() {
    use shared::providers::close::CloseApi;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/opportunity/"))
        .and(query_param("status_type", "active"))
        .and(query_param("_skip", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "has_more": true,
            "data": [{ "id": "oppo_1", "lead_id": "lead_1", "lead_name": "Umbrella", "contact_id": "cont_1",
                       "status_id": "stat_proposal", "status_type": "active", "value": 500000, "value_currency": "EUR",
                       "date_updated": "2026-03-03T09:00:00+00:00" }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/opportunity/"))
        .and(query_param("_skip", "1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "has_more": false, "data": [] })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/contact/cont_1/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cont_1", "name": "Alice Wu", "emails": [{ "email": "alice@umbrella.example", "type": "office" }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/activity/"))
        .and(query_param("lead_id__in", "lead_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "id": "acti_1", "_type": "Email", "direction": "incoming", "status": "inbox",
              "subject": "Re: proposal", "sender": "alice@umbrella.example", "date_created": "2026-03-04T08:00:00+00:00" },
            { "id": "acti_2", "_type": "Note", "date_created": "2026-03-04T09:00:00+00:00" }
        ]})))
        .mount(&server)
        .await;
    let w = world();
    let syncer = reading(
        &w,
        Arc::new(CloseApi::new(&server.uri(), Secret::new("close-key"))),
    )
    .syncer();
    let first = syncer.run().await;
    let s = &first.crms[0];
    assert_eq!(
        (s.pages, s.deals, s.error.as_deref()),
        (2, 1, None),
        "{first:?}"
    );
    let deal = w
        .store
        .get_deal(&DealRef::new("close", "oppo_1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        deal.contact_email.as_deref(),
        Some("alice@umbrella.example")
    );
    assert_eq!(
        deal.last_inbound_at,
        Some(t("2026-03-04T08:00:00Z")),
        "the reply is on the deal"
    );
    assert_eq!(
        w.store.linked("close:lead:lead_1").await.unwrap(),
        vec![DealRef::new("close", "oppo_1")],
        "later activity webhooks on the lead find the opportunity"
    );
}

#[tokio::test]
async fn a_salesforce_sync_queries_open_opportunities_then_changes_and_renews_its_token() {
    use shared::providers::salesforce::SalesforceApi;
    use wiremock::matchers::{body_string_contains, query_param_contains};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=sf-client"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "sf-access-1", "instance_url": server.uri(), "token_type": "Bearer"
        })))
        .expect(2)
        .mount(&server)
        .await;
    let record = |id: &str, stage: &str, modstamp: &str| {
        json!({ "attributes": { "type": "Opportunity" }, "Id": id, "Name": format!("Opp {id}"),
                "StageName": stage, "Amount": 15000.0, "IsClosed": false, "IsWon": false,
                "IsDeleted": false, "SystemModstamp": modstamp, "LastModifiedDate": modstamp,
                "LastStageChangeDate": "2026-03-01T09:00:00.000+0000",
                "OpportunityContactRoles": { "records": [{ "Contact": {
                    "Email": format!("{id}@buyer.example"), "FirstName": "Kim" } }] },
                "Tasks": { "records": [{ "Id": format!("00T{id}"), "Subject": "Pricing call",
                                         "CompletedDateTime": "2026-03-02T10:00:00.000+0000" }] },
                "Events": { "records": [{ "Id": format!("00U{id}"), "Subject": "Onsite demo",
                                          "StartDateTime": "2026-03-20T14:00:00.000+0000" }] } })
    };
    Mock::given(method("GET"))
        .and(path("/services/data/v61.0/query"))
        .and(query_param_contains("q", "WHERE IsClosed = false"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "done": false, "nextRecordsUrl": "/services/data/v61.0/query/01gNEXT-2000",
            "records": [record("0065g00000AAAAAAA1", "Prospecting", "2026-03-01T09:00:00.000+0000")]
        })))
        .mount(&server)
        .await;
    // The next page's first try finds the token expired: a new one is fetched, once.
    Mock::given(method("GET"))
        .and(path("/services/data/v61.0/query/01gNEXT-2000"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!([{ "errorCode": "INVALID_SESSION_ID" }])),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/services/data/v61.0/query/01gNEXT-2000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "done": true,
            "records": [record("0065g00000AAAAAAA2", "Proposal/Price Quote", "2026-03-02T09:00:00.000+0000")]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/services/data/v61.0/queryAll"))
        .and(query_param_contains("q", "SystemModstamp >= 2026-03-02T08:59:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "done": true,
            "records": [record("0065g00000AAAAAAA2", "Proposal/Price Quote", "2026-03-02T09:00:00.000+0000")]
        })))
        .mount(&server)
        .await;
    let w = world();
    let syncer = reading(
        &w,
        Arc::new(SalesforceApi::new(
            &server.uri(),
            Secret::new("sf-client"),
            Secret::new("sf-secret"),
        )),
    )
    .syncer();
    let first = syncer.run().await;
    assert_eq!(
        (
            first.crms[0].pages,
            first.crms[0].deals,
            first.crms[0].error.as_deref()
        ),
        (2, 2, None),
        "{first:?}"
    );
    let deal = w
        .store
        .get_deal(&DealRef::new("salesforce", "0065g00000AAAAAAA2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deal.stage, Some(Stage::Proposal));
    assert_eq!(
        deal.contact_email.as_deref(),
        Some("0065g00000AAAAAAA2@buyer.example")
    );
    assert_eq!(deal.stage_entered_at, t("2026-03-01T09:00:00Z"));
    assert_eq!(
        deal.last_call_at,
        Some(t("2026-03-02T10:00:00Z")),
        "the completed call task"
    );
    assert_eq!(
        deal.next_meeting_at,
        Some(t("2026-03-20T14:00:00Z")),
        "the coming event"
    );
    let second = syncer.run().await;
    assert_eq!(
        (second.crms[0].deals, second.crms[0].recorded),
        (1, 0),
        "{second:?}"
    );
}
