//! The per-deal cap reads one deal, not the queue: evaluating a deal on DynamoDB (the
//! emulator, which counts every request and bills read units by DynamoDB's item-size rules)
//! costs the same requests and read units with 10 and with 10,000 drafts waiting for other
//! deals, and the cap still holds with 10,001 waiting. Alone in its test binary, so the
//! emulator's counts are this test's.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use shared::adapters::aws::{DynamoAuditLog, DynamoPipelineStore};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::evaluate::Evaluator;
use shared::app::{record_event, Core, EvaluateRequest};
use shared::assembly::{Adapters, Services, Settings};
use shared::domain::{
    DealEvent, DealRef, DealSnapshot, Draft, DraftContext, DraftStatus, EventKind, Fact,
    TriggerKind,
};
use shared::ports::{AuditReader, Clock, DraftStore};

async fn counts() -> BTreeMap<String, f64> {
    let url = format!("{}/draftgate/counts", support::aws::emulator().endpoint);
    let v: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("DynamoDB"))
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or_default()))
        .collect()
}

async fn reset_counts() {
    let url = format!("{}/draftgate/counts", support::aws::emulator().endpoint);
    reqwest::Client::new().delete(url).send().await.unwrap();
}

fn waiting(id: String, deal: DealRef, at: Timestamp) -> Draft {
    Draft {
        id,
        deal,
        deal_name: "Another deal".into(),
        trigger: TriggerKind::ProposalNoReply,
        occurrence: "proposal_no_reply#x".into(),
        status: DraftStatus::Pending,
        to: Some("someone@example.com".into()),
        subject: "Following up".into(),
        body: "Hi, any thoughts on the proposal?\n".into(),
        missing: Vec::new(),
        context: DraftContext {
            trigger_label: "Proposal sent, no reply".into(),
            due_at: at,
            fired_at: at,
            days_since_last_contact: Some(4),
            last_interaction: None,
            facts: Vec::new(),
            stage: None,
            template: "proposal_no_reply/default".into(),
            model: None,
        },
        created_at: at,
        notified_at: None,
        snoozed_until: None,
        decision: None,
        outgoing: None,
        sent: None,
        crm_update: None,
        document: None,
        writeback: None,
        superseded_reason: None,
    }
}

/// A deal whose proposal went out four days ago: its follow-up is due.
async fn due_deal(core: &Core, id: &str) -> DealRef {
    let deal = DealRef::new("notion", id);
    let now = core.clock.now();
    let mut facts = BTreeMap::new();
    facts.insert("deal.name".into(), Fact::new(id, "test"));
    let event = DealEvent {
        id: format!("proposal-{id}"),
        deal: deal.clone(),
        occurred_at: now - SignedDuration::from_hours(96),
        source: "generic:notion".into(),
        kind: EventKind::ProposalSent {
            document_id: format!("doc-{id}"),
            name: None,
        },
        snapshot: Some(DealSnapshot {
            name: Some(id.into()),
            contact_email: Some(format!("{id}@example.com")),
            facts,
            ..DealSnapshot::default()
        }),
    };
    record_event(
        &*core.store,
        &*core.audit,
        &core.config,
        &*core.clock,
        &event,
        "test",
    )
    .await
    .unwrap();
    deal
}

/// Evaluate one deal: the emulator's counts for it.
async fn evaluate(evaluator: &Evaluator, deal: &DealRef) -> BTreeMap<String, f64> {
    reset_counts().await;
    let body = serde_json::to_string(&EvaluateRequest {
        deal: deal.clone(),
        due_at: None,
    })
    .unwrap();
    evaluator.handle(&body).await.unwrap();
    counts().await
}

async fn add_waiting(store: &Arc<DynamoPipelineStore>, from: usize, to: usize, at: Timestamp) {
    futures_util::stream::iter(from..to)
        .map(|i| {
            let store = store.clone();
            async move {
                let d = waiting(
                    format!("other-{i:05}"),
                    DealRef::new("notion", format!("other-{i}")),
                    at,
                );
                assert!(store.create_draft(&d).await.unwrap());
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // prints the counted requests for the record
async fn evaluating_a_deal_reads_the_same_with_10_or_10000_drafts_waiting_elsewhere() {
    let stack = tokio::task::spawn_blocking(support::aws::template_stack)
        .await
        .unwrap();
    let sdk = support::aws::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let store = Arc::new(DynamoPipelineStore::new(
        dynamo.clone(),
        &stack["PIPELINE_TABLE"],
    ));
    let audit = Arc::new(DynamoAuditLog::new(dynamo, &stack["AUDIT_TABLE"]));
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let mut config = shared::config::Config::bundled().unwrap();
    config.limits.daily_draft_budget = 100;
    config.limits.per_deal_open_drafts = 1;
    let local = EmbeddedStore::open_in_memory().unwrap();
    let services = Services::build(
        Adapters {
            draft_queue: Some(local.queue("drafts")),
            ..Adapters::new(store.clone(), audit.clone(), clock.clone())
        },
        Settings::new(Arc::new(config)),
    );
    let core = services.core();
    let evaluator = services.evaluator();
    let at = clock.now() - SignedDuration::from_hours(1);
    let (small, large) = (
        due_deal(&core, "small").await,
        due_deal(&core, "large").await,
    );
    let capped = due_deal(&core, "capped").await;

    add_waiting(&store, 0, 10, at).await;
    let with_10 = evaluate(&evaluator, &small).await;

    add_waiting(&store, 10, 10_000, at).await;
    let with_10000 = evaluate(&evaluator, &large).await;
    eprintln!("evaluating one deal, 10 drafts waiting elsewhere: {with_10:?}");
    eprintln!("evaluating one deal, 10,000 drafts waiting elsewhere: {with_10000:?}");
    assert_eq!(
        with_10.get("DynamoDB:ReadUnits"),
        with_10000.get("DynamoDB:ReadUnits"),
        "read units"
    );
    let requests = |c: &BTreeMap<String, f64>| {
        c.iter()
            .filter(|(k, _)| !k.ends_with("Units"))
            .map(|(k, v)| (k.clone(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(requests(&with_10), requests(&with_10000), "requests");
    assert!(
        with_10000.get("DynamoDB:ReadUnits").copied().unwrap_or(0.0) < 10.0,
        "{with_10000:?}"
    );

    // The cap with 10,001 waiting: the deal's own waiting draft holds its next one back.
    assert!(store
        .create_draft(&waiting("capped-own".into(), capped.clone(), at))
        .await
        .unwrap());
    assert_eq!(store.open_drafts(&capped).await.unwrap(), 1);
    evaluate(&evaluator, &capped).await;
    let held = audit
        .entries(Some(&capped))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "trigger.held")
        .count();
    assert_eq!(held, 1, "the cap held the second draft back");
    assert_eq!(
        local.queue("drafts").depth().unwrap(),
        2,
        "small and large only"
    );
}
