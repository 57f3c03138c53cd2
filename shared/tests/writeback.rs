//! CRM write-back: each CRM's writer sends exactly the approved diff (mocked CRM APIs), and the
//! whole path (call notes -> proposed diff -> review page -> approval -> write-back queue ->
//! CRM) writes only what was approved, once, and shows a refusal on the review page.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::Request;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::review::Review;
use shared::app::writeback::CrmWriteback;
use shared::app::Core;
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::{
    CallNote, CrmField, Deal, DealRef, DraftStatus, Fact, FieldChange, Stage, TriggerKind,
    WritebackStatus,
};
use shared::ports::{
    Activity, ActivityKind, AuditReader, Clock, CrmWriter, DealStore, DraftStore, QueueConsumer,
};
use shared::providers::close::CloseApi;
use shared::providers::hubspot::HubSpotClient;
use shared::providers::pipedrive::PipedriveApi;
use shared::providers::salesforce::SalesforceApi;
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn change(field: CrmField, from: Option<&str>, to: &str) -> FieldChange {
    FieldChange {
        field,
        from: from.map(Into::into),
        to: to.into(),
        shown: None,
        source: "call notes, line 3".into(),
    }
}

/// The requests the mock received, as (method, path, JSON body), reads left out.
async fn writes(server: &MockServer) -> Vec<(String, String, Value)> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() != "GET")
        .map(|r| {
            (
                r.method.to_string(),
                r.url.path().to_string(),
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn email() -> Activity {
    Activity {
        kind: ActivityKind::Email,
        subject: "Re: Acme website".into(),
        body: "Hi Jane,\n\nChecking in on the proposal.\n".into(),
        at: t("2026-11-26T10:00:00Z"),
        by: "alex@northwind.example".into(),
        to: Some("jane@acme.example".into()),
    }
}

fn diff() -> Vec<FieldChange> {
    vec![
        change(CrmField::NextStep, None, "Send the SOW"),
        change(CrmField::NextStepDate, None, "2026-12-04"),
        change(CrmField::Stage, Some("1"), "4"),
        change(CrmField::Amount, Some("20000"), "24000"),
    ]
}

#[tokio::test]
async fn hubspot_gets_the_diff_as_deal_properties_and_a_task_and_the_email_on_deal_and_contact() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/deals/9001"))
        .respond_with(ok(json!({ "id": "9001", "properties": {},
            "associations": { "contacts": { "results": [{ "id": "501", "type": "deal_to_contact" }] } } })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok(json!({ "id": "e1" })))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ok(json!({ "id": "9001" })))
        .mount(&server)
        .await;
    let api = HubSpotClient::new(&server.uri(), Secret::new("pat"));
    assert_eq!(api.log_activity("9001", &email()).await.unwrap(), "e1");
    let done = api.update_deal("9001", &diff()).await.unwrap();
    assert_eq!(done.len(), 2, "{done:?}");
    let w = writes(&server).await;
    assert_eq!(w.len(), 3);
    assert_eq!(
        (w[0].0.as_str(), w[0].1.as_str()),
        ("POST", "/crm/v3/objects/emails")
    );
    assert_eq!(
        w[0].2,
        json!({
            "properties": { "hs_timestamp": "2026-11-26T10:00:00Z", "hs_email_direction": "EMAIL", "hs_email_status": "SENT",
                            "hs_email_subject": "Re: Acme website", "hs_email_text": "Hi Jane,\n\nChecking in on the proposal.\n" },
            "associations": [
                { "to": { "id": "9001" }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 210 }] },
                { "to": { "id": "501" }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 198 }] }
            ]
        })
    );
    assert_eq!(
        (w[1].0.as_str(), w[1].1.as_str()),
        ("PATCH", "/crm/v3/objects/deals/9001")
    );
    assert_eq!(
        w[1].2,
        json!({ "properties": { "hs_next_step": "Send the SOW", "dealstage": "4", "amount": "24000" } })
    );
    assert_eq!(w[2].1, "/crm/v3/objects/tasks");
    assert_eq!(
        w[2].2["properties"],
        json!({ "hs_timestamp": "2026-12-04T09:00:00Z", "hs_task_subject": "Send the SOW", "hs_task_status": "NOT_STARTED", "hs_task_type": "TODO" })
    );
    assert_eq!(
        w[2].2["associations"][0]["types"][0]["associationTypeId"],
        216
    );
}

#[tokio::test]
async fn pipedrive_gets_the_diff_on_the_deal_and_the_next_step_as_a_task_activity() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok(json!({ "success": true, "data": { "id": 77 } })))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ok(json!({ "success": true, "data": { "id": 12 } })))
        .mount(&server)
        .await;
    let api = PipedriveApi::new(&server.uri(), Secret::new("token"));
    assert_eq!(api.log_activity("12", &email()).await.unwrap(), "77");
    api.update_deal("12", &diff()).await.unwrap();
    let w = writes(&server).await;
    assert_eq!(
        w.iter()
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect::<Vec<_>>(),
        [
            "POST /api/v2/activities",
            "PATCH /api/v2/deals/12",
            "POST /api/v2/activities"
        ]
    );
    assert_eq!(
        w[0].2,
        json!({ "subject": "Re: Acme website", "type": "email", "deal_id": 12, "done": true, "due_date": "2026-11-26",
                "note": "<p>Hi Jane,</p>\n<p>Checking in on the proposal.</p>\n" })
    );
    assert_eq!(w[1].2, json!({ "stage_id": 4, "value": 24000.0 }));
    assert_eq!(
        w[2].2,
        json!({ "subject": "Send the SOW", "type": "task", "deal_id": 12, "done": false, "due_date": "2026-12-04" })
    );
    // A stage Pipedrive cannot hold (not a stage id) is refused before any request.
    let before = writes(&server).await.len();
    let bad = [change(CrmField::Stage, None, "proposal")];
    assert!(api.update_deal("12", &bad).await.is_err());
    assert_eq!(writes(&server).await.len(), before);
}

#[tokio::test]
async fn close_gets_the_diff_on_the_opportunity_in_cents_and_activities_on_its_lead() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/opportunity/oppo_1/"))
        .respond_with(ok(
            json!({ "id": "oppo_1", "lead_id": "lead_9", "contact_id": "cont_3" }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok(json!({ "id": "acti_1" })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ok(json!({ "id": "oppo_1" })))
        .mount(&server)
        .await;
    let api = CloseApi::new(&server.uri(), Secret::new("key"));
    api.log_activity("oppo_1", &email()).await.unwrap();
    let mut changes = diff();
    changes[2] = change(CrmField::Stage, None, "stat_proposal");
    api.update_deal("oppo_1", &changes).await.unwrap();
    let w = writes(&server).await;
    assert_eq!(
        w.iter()
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect::<Vec<_>>(),
        [
            "POST /api/v1/activity/email/",
            "PUT /api/v1/opportunity/oppo_1/",
            "POST /api/v1/task/"
        ]
    );
    assert_eq!(
        w[0].2,
        json!({ "lead_id": "lead_9", "contact_id": "cont_3", "direction": "outgoing", "status": "sent",
                "subject": "Re: Acme website", "body_text": "Hi Jane,\n\nChecking in on the proposal.\n",
                "date_sent": "2026-11-26T10:00:00Z", "to": ["jane@acme.example"] })
    );
    assert_eq!(
        w[1].2,
        json!({ "status_id": "stat_proposal", "value": 2400000 })
    );
    assert_eq!(
        w[2].2,
        json!({ "lead_id": "lead_9", "text": "Send the SOW", "date": "2026-12-04" })
    );
}

#[tokio::test]
async fn salesforce_gets_the_diff_on_the_opportunity_and_tasks_for_the_date_and_the_email() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(ok(
            json!({ "access_token": "00D-token", "instance_url": server.uri() }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/data/v61.0/sobjects/Task"))
        .respond_with(ok(json!({ "id": "00T1", "success": true })))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let api = SalesforceApi::new(&server.uri(), Secret::new("id"), Secret::new("secret"));
    api.log_activity("006A", &email()).await.unwrap();
    let mut changes = diff();
    changes[2] = change(CrmField::Stage, None, "Proposal/Price Quote");
    api.update_deal("006A", &changes).await.unwrap();
    let w: Vec<_> = writes(&server)
        .await
        .into_iter()
        .filter(|(_, p, _)| p != "/services/oauth2/token")
        .collect();
    assert_eq!(w.len(), 3, "{w:?}");
    assert_eq!(
        w[0].2,
        json!({ "WhatId": "006A", "Subject": "Re: Acme website", "Description": "Hi Jane,\n\nChecking in on the proposal.\n",
                "Status": "Completed", "ActivityDate": "2026-11-26", "TaskSubtype": "Email" })
    );
    assert_eq!(w[1].1, "/services/data/v61.0/sobjects/Opportunity/006A");
    assert_eq!(
        w[1].2,
        json!({ "NextStep": "Send the SOW", "StageName": "Proposal/Price Quote", "Amount": 24000.0 })
    );
    assert_eq!(
        w[2].2,
        json!({ "WhatId": "006A", "Subject": "Send the SOW", "Status": "Not Started", "ActivityDate": "2026-12-04" })
    );
}

// ---- The whole path on the embedded store, with HubSpot mocked ----

struct World {
    store: Arc<EmbeddedStore>,
    clock: Arc<ManualClock>,
    core: Core,
    review: Review,
    tokens: TokenSigner,
}

impl World {
    async fn new(server: &MockServer) -> (World, CrmWriteback) {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let clock = Arc::new(ManualClock::new(t("2026-11-26T16:00:00Z")));
        let mut config = shared::config::Config::bundled().unwrap();
        config.writeback.fields = CrmField::ALL.to_vec();
        let tokens = TokenSigner::new(Secret::new("test-key"));
        let writer: Arc<dyn CrmWriter> =
            Arc::new(HubSpotClient::new(&server.uri(), Secret::new("pat")));
        let services = Services::build(
            Adapters {
                crm_writers: HashMap::from([("hubspot".to_string(), writer)]),
                ..Adapters::embedded(&store, clock.clone())
            },
            Settings {
                public_base_url: "http://localhost".into(),
                tokens: Some(tokens.clone()),
                ..Settings::new(Arc::new(config))
            },
        );
        let core = services.core();
        let review = services.review();
        let worker = services.writeback();
        (
            World {
                store,
                clock,
                core,
                review,
                tokens,
            },
            worker,
        )
    }

    /// A qualified HubSpot deal whose call at 15:00 came with these notes.
    async fn deal_with_call(&self, id: &str, notes: &str) -> DealRef {
        let key = DealRef::new("hubspot", id);
        let mut deal = Deal::new(key.clone(), t("2026-11-20T10:00:00Z"));
        deal.version = 1;
        deal.name = format!("Deal {id}");
        deal.stage = Some(Stage::Qualified);
        deal.raw_stage = Some("qualifiedtobuy".into());
        deal.contact_email = Some("jane@acme.example".into());
        deal.facts = BTreeMap::from([(
            "deal.name".to_string(),
            Fact::new(format!("Deal {id}"), "HubSpot deal property dealname"),
        )]);
        let at = t("2026-11-26T15:00:00Z");
        deal.last_call_at = Some(at);
        deal.last_call_note = Some(CallNote {
            at,
            text: notes.into(),
            source: format!("hubspot call-{id}"),
        });
        deal.next_due_at = Some(at);
        self.store.put_deal(&deal).await.unwrap();
        key
    }

    async fn draft_of(&self, deal: &DealRef) -> shared::domain::Draft {
        support::sweep_and_drain(&self.core, &self.store, &self.clock, &self.tokens).await;
        let drafts = self
            .store
            .drafts_by_status(DraftStatus::Pending, None, 100)
            .await
            .unwrap();
        drafts
            .into_iter()
            .find(|d| &d.deal == deal && d.trigger == TriggerKind::CallNotes)
            .expect("a CRM update draft")
    }

    async fn post(&self, id: &str, form: &[(&str, &str)]) -> (u16, String) {
        let token = self.tokens.sign(
            Scope::Draft(id),
            "alex@northwind.example",
            self.clock.now() + SignedDuration::from_hours(1),
        );
        let mut all = vec![("token", token.as_str())];
        all.extend_from_slice(form);
        let req = Request::builder()
            .method("POST")
            .uri(format!("/review/{id}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(bytes::Bytes::from(
                serde_urlencoded::to_string(&all).unwrap(),
            ))
            .unwrap();
        let resp = self.review.handle(req).await;
        let status = resp.status().as_u16();
        (
            status,
            String::from_utf8(resp.into_body().to_vec()).unwrap(),
        )
    }

    async fn page(&self, id: &str) -> String {
        let token = self.tokens.sign(
            Scope::Draft(id),
            "alex@northwind.example",
            self.clock.now() + SignedDuration::from_hours(1),
        );
        let req = Request::builder()
            .uri(format!("/review/{id}?token={token}"))
            .body(bytes::Bytes::new())
            .unwrap();
        String::from_utf8(self.review.handle(req).await.into_body().to_vec()).unwrap()
    }

    /// Run the write-back worker over the queue once; how many jobs failed.
    async fn write_back(&self, worker: &CrmWriteback) -> usize {
        let q = self.store.queue("crm-writes");
        let mut failed = 0;
        for d in q.receive(10).await.unwrap() {
            match worker.handle(&d.body).await {
                Ok(_) => q.ack(&d.receipt).await.unwrap(),
                Err(_) => {
                    failed += 1;
                    q.release(&d.receipt, std::time::Duration::ZERO).unwrap();
                }
            }
        }
        failed
    }
}

const NOTES: &str = "Walked through the migration plan; they worry about downtime.\nNext step: send the proposal by Friday\nBudget: 24k";

#[tokio::test]
async fn a_call_note_becomes_a_diff_and_only_the_ticked_changes_are_written_once_despite_a_refusal()
{
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/deals/9001"))
        .respond_with(ok(
            json!({ "id": "9001", "properties": {}, "associations": {} }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/notes"))
        .respond_with(ok(json!({ "id": "note-1" })))
        .mount(&server)
        .await;
    // HubSpot refuses the deal update four times (the client's retries), then takes it.
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(4)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ok(json!({ "id": "9001" })))
        .mount(&server)
        .await;
    let (w, worker) = World::new(&server).await;
    let deal = w.deal_with_call("9001", NOTES).await;
    let draft = w.draft_of(&deal).await;
    assert_eq!(draft.to, None, "a CRM update goes to no prospect");
    let fields: Vec<CrmField> = draft
        .crm_update
        .as_ref()
        .unwrap()
        .changes
        .iter()
        .map(|c| c.field)
        .collect();
    assert_eq!(
        fields,
        [
            CrmField::NextStep,
            CrmField::NextStepDate,
            CrmField::Stage,
            CrmField::Amount
        ]
    );
    let page = w.page(&draft.id).await;
    for text in [
        "send the proposal by Friday",
        "Fri 27 Nov 2026",
        "proposal (contractsent)",
        "applied only if you approve",
        "Approve and update hubspot",
    ] {
        assert!(page.contains(text), "the page shows {text}");
    }
    assert_eq!(
        writes(&server).await.len(),
        0,
        "nothing written before approval"
    );

    // The founder keeps the next step and the stage, unticks the date and the amount.
    let (status, body) = w
        .post(
            &draft.id,
            &[
                ("action", "approve"),
                ("crm_form", "1"),
                ("apply_next_step", "1"),
                ("apply_stage", "1"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"APPROVED\""), "{body}");
    assert_eq!(
        w.store
            .outbox_entries()
            .unwrap()
            .iter()
            .filter(|e| e.kind == "prospect")
            .count(),
        0,
        "no mail to the prospect"
    );

    assert_eq!(
        w.write_back(&worker).await,
        1,
        "the refused update fails the job"
    );
    let d = w.store.get_draft(&draft.id).await.unwrap().unwrap();
    assert_eq!(
        d.writeback.as_ref().unwrap().status,
        WritebackStatus::Failed
    );
    assert!(w
        .page(&draft.id)
        .await
        .contains("CRM update not written yet"));
    let audit = w.store.entries(Some(&deal)).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "crm.write_failed"));

    assert_eq!(w.write_back(&worker).await, 0, "the retry goes through");
    assert_eq!(w.write_back(&worker).await, 0, "nothing left");
    let sent = writes(&server).await;
    let notes: Vec<_> = sent
        .iter()
        .filter(|(_, p, _)| p == "/crm/v3/objects/notes")
        .collect();
    assert_eq!(notes.len(), 1, "the retry does not log the note twice");
    assert_eq!(
        notes[0].2["properties"]["hs_note_body"],
        "<p><strong>Call notes: Deal 9001, Thu 26 Nov 2026</strong></p>\n<p>Walked through the migration plan; they worry about downtime.</p>\n",
        "HubSpot keeps notes as HTML"
    );
    let patches: Vec<_> = sent.iter().filter(|(m, _, _)| m == "PATCH").collect();
    assert_eq!(patches.len(), 5, "4 refused, 1 applied");
    assert_eq!(
        patches[4].2,
        json!({ "properties": { "hs_next_step": "send the proposal by Friday", "dealstage": "contractsent" } }),
        "exactly the ticked changes"
    );
    assert!(
        !sent.iter().any(|(_, p, _)| p == "/crm/v3/objects/tasks"),
        "the unticked date makes no task"
    );
    let d = w.store.get_draft(&draft.id).await.unwrap().unwrap();
    assert_eq!(d.writeback.as_ref().unwrap().status, WritebackStatus::Done);
    assert!(w.page(&draft.id).await.contains("Written to hubspot"));
}

#[tokio::test]
async fn nothing_is_written_for_a_rejected_or_superseded_draft() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ok(json!({ "id": "x" })))
        .mount(&server)
        .await;
    let (w, worker) = World::new(&server).await;
    let a = w.deal_with_call("1", NOTES).await;
    let draft_a = w.draft_of(&a).await;
    let (status, _) = w
        .post(
            &draft_a.id,
            &[
                ("action", "reject"),
                ("reason_kind", "other"),
                ("reason", "not now"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let b = w.deal_with_call("2", NOTES).await;
    let draft_b = w.draft_of(&b).await;
    // The deal was deleted in the CRM: the CRM update's reason is gone.
    let mut deal = w.store.get_deal(&b).await.unwrap().unwrap();
    deal.deleted = true;
    deal.version += 1;
    w.store.put_deal(&deal).await.unwrap();
    let (status, body) = w.post(&draft_b.id, &[("action", "approve")]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        w.store
            .get_draft(&draft_b.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        DraftStatus::Superseded
    );
    // Even a job for the rejected draft (queued by hand) writes nothing.
    let job = shared::app::writeback::job_for(&w.core.config, &draft_a, None, &diff());
    let outcome = worker
        .handle(&serde_json::to_string(&job).unwrap())
        .await
        .unwrap();
    assert_eq!(outcome.written.len(), 0);
    assert_eq!(w.write_back(&worker).await, 0);
    assert_eq!(writes(&server).await.len(), 0, "no write reached the CRM");
}
