//! The hot paths, with criterion: a 100-event HubSpot batch verified, parsed and normalised;
//! rule evaluation; draft rendering; the review page; each provider's parser; a call's notes.
//!
//!     cargo bench -p shared --bench hot_paths --features embedded,http-client
//!
//! Targets: < 2 µs per HubSpot event; >= 1 M deal evaluations per second per core.

// criterion's closures return the measured value; a `;` would hide it.
#![allow(clippy::semicolon_if_nothing_returned)]

use shared::ports::{DealStore, DraftStore};
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jiff::Timestamp;
use serde_json::json;
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::assembly::{Adapters, Services, Settings};
use shared::config::Config;
use shared::domain::{
    CallNote, Deal, DealRef, Draft, DraftContext, DraftStatus, Fact, FactUse, Stage, TriggerKind,
};
use shared::providers::signature::{draftgate_signature, hubspot_v3_signature};
use shared::providers::{Incoming, Lookup, Providers};
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};

const NOW: &str = "2026-11-30T10:00:00Z";
const URL: &str = "https://hooks.example/webhooks/hubspot";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn providers() -> Providers {
    Providers::build(&Providers::all_names(), |spec| Some(Secret::new(spec.dev)))
}

fn request(uri: &str, headers: &[(&str, String)], body: Vec<u8>) -> http::Request<Bytes> {
    let mut b = http::Request::builder().method("POST").uri(uri);
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    b.body(Bytes::from(body)).unwrap()
}

fn hubspot_batch(c: &mut Criterion) {
    let config = Config::bundled().unwrap();
    let providers = providers();
    let Lookup::Enabled(hubspot) = providers.get("hubspot") else {
        unreachable!()
    };
    let events: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            json!({ "eventId": 3_816_279_340u64 + i, "subscriptionId": 2465712, "portalId": 44556677, "appId": 1160452,
                    "occurredAt": 1_764_496_800_000u64 + i, "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
                    "objectId": 18_544_521_873u64 + i, "propertyName": "dealstage", "propertyValue": "contractsent",
                    "changeSource": "CRM_UI", "sourceId": "userId:61234567" })
        })
        .collect();
    let body = serde_json::to_vec(&events).unwrap();
    let ts = now().as_millisecond().to_string();
    let sig = hubspot_v3_signature(b"dev-hubspot-client-secret", "POST", URL, &body, &ts);
    let req = request(
        "/webhooks/hubspot",
        &[
            ("content-type", "application/json".into()),
            ("x-hubspot-signature-v3", sig),
            ("x-hubspot-request-timestamp", ts),
        ],
        body,
    );
    let incoming = Incoming {
        request: &req,
        url: URL.into(),
        now: now(),
        config: &config,
    };
    hubspot.verify(&incoming).expect("signed");
    assert_eq!(hubspot.parse(&incoming).unwrap().events.len(), 100);
    let mut g = c.benchmark_group("hubspot");
    g.throughput(Throughput::Elements(100));
    g.bench_function("batch of 100: verify + parse + normalise", |b| {
        b.iter(|| {
            hubspot.verify(&incoming).unwrap();
            hubspot.parse(&incoming).unwrap()
        })
    });
    g.finish();
}

fn providers_parse(c: &mut Criterion) {
    let config = Config::bundled().unwrap();
    let providers = providers();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/payloads/");
    let mut g = c.benchmark_group("parse");
    for (name, file, ctype) in [
        (
            "pipedrive",
            "pipedrive-v2-change-deal.json",
            "application/json",
        ),
        (
            "close",
            "close-opportunity-updated.json",
            "application/json",
        ),
        (
            "salesforce",
            "salesforce-outbound-message-opportunity.xml",
            "text/xml",
        ),
        (
            "pandadoc",
            "pandadoc-document-state-changed.json",
            "application/json",
        ),
    ] {
        let Lookup::Enabled(p) = providers.get(name) else {
            unreachable!()
        };
        let body = std::fs::read(format!("{root}{file}")).unwrap();
        let req = request(
            &format!("/webhooks/{name}"),
            &[("content-type", ctype.into())],
            body,
        );
        let incoming = Incoming {
            request: &req,
            url: format!("https://hooks.example/webhooks/{name}"),
            now: now(),
            config: &config,
        };
        p.parse(&incoming).expect("the fixture parses");
        g.bench_function(name, |b| b.iter(|| p.parse(&incoming).unwrap()));
    }
    // draftgate's own signed JSON (generic): signature and parse.
    let Lookup::Enabled(generic) = providers.get("generic") else {
        unreachable!()
    };
    let body = serde_json::to_vec(&json!({ "events": [
        { "id": "e1", "type": "proposal_sent", "occurred_at": NOW,
          "deal": { "crm": "notion", "id": "p1", "name": "Acme", "amount": 24000, "currency": "EUR",
                    "contact": { "email": "jane@acme.example", "first_name": "Jane" } } } ] }))
    .unwrap();
    let ts = now().as_second().to_string();
    let sig = draftgate_signature(b"dev-generic-secret", &ts, &body);
    let req = request(
        "/webhooks/generic",
        &[
            ("content-type", "application/json".into()),
            ("x-draftgate-timestamp", ts),
            ("x-draftgate-signature", sig),
        ],
        body,
    );
    let incoming = Incoming {
        request: &req,
        url: "https://hooks.example/webhooks/generic".into(),
        now: now(),
        config: &config,
    };
    generic.verify(&incoming).expect("signed");
    g.bench_function("generic (verify + parse)", |b| {
        b.iter(|| {
            generic.verify(&incoming).unwrap();
            generic.parse(&incoming).unwrap()
        })
    });
    g.finish();
}

fn deal() -> Deal {
    let sent: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
    let mut d = Deal::new(DealRef::new("hubspot", "9001"), sent);
    d.name = "Acme Corp - Website relaunch".into();
    d.stage = Some(Stage::Proposal);
    d.raw_stage = Some("contractsent".into());
    d.deal_type = Some("newbusiness".into());
    d.amount = Some(24000.0);
    d.proposal_sent_at = Some(sent);
    d.contact_email = Some("jane@acme.example".into());
    for (k, v) in [
        ("deal.name", "Acme Corp - Website relaunch"),
        ("contact.first_name", "Jane"),
        ("deal.amount", "24000 EUR"),
    ] {
        d.facts.insert(k.into(), Fact::new(v, "HubSpot"));
    }
    d
}

fn rules(c: &mut Criterion) {
    let mut config = Config::bundled().unwrap();
    // As the assembled services have it: every CRM the registry writes to.
    config.crms = shared::providers::crm_traits();
    let d = deal();
    let at = now();
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(1));
    g.bench_function("evaluate one deal (every trigger)", |b| {
        b.iter(|| shared::rules::evaluate(&d, &config, at))
    });
    g.finish();
}

fn drafting(c: &mut Criterion) {
    let config = Config::bundled().unwrap();
    let d = deal();
    let facts = shared::app::drafts::template_facts(&d, &config, now());
    let mut g = c.benchmark_group("drafting");
    g.bench_function("render proposal_no_reply", |b| {
        b.iter(|| {
            config
                .templates
                .render(TriggerKind::ProposalNoReply, Some("newbusiness"), &facts)
                .unwrap()
        })
    });
    let proposal = config.proposal_for(Some("newbusiness")).unwrap();
    g.bench_function("render a proposal (text)", |b| {
        b.iter(|| shared::drafting::render(&proposal.template, &facts))
    });
    let text = shared::drafting::render(&proposal.template, &facts).body;
    g.bench_function("proposal as HTML", |b| {
        b.iter(|| shared::drafting::markdown_html(&text))
    });
    let note = CallNote {
        at: now(),
        text: "Walked through the migration plan; they worry about downtime.\nNext step: send the proposal by Friday\nBudget: 24k".into(),
        source: "bench".into(),
    };
    g.bench_function("call notes into a CRM update", |b| {
        b.iter(|| shared::app::writeback::call_update(&d, &note, &config))
    });
    // A model's follow-up checked against the deal's facts, twelve conversation lines and the
    // template: the work draftgate adds around a model call.
    let rendered = config
        .templates
        .render(TriggerKind::ProposalNoReply, Some("newbusiness"), &facts)
        .unwrap();
    let conversation: Vec<String> = (0..12)
        .map(|i| format!("2026-12-0{} call: Pricing walkthrough {i}. Notes: they worry about downtime in March and want a phased start for the 40 person team", i % 9 + 1))
        .collect();
    let mut trusted: Vec<&str> = facts.values().map(|f| f.value.as_str()).collect();
    trusted.extend([rendered.subject.as_str(), rendered.body.as_str()]);
    trusted.extend(conversation.iter().map(String::as_str));
    let answer = format!(
        "Following up on the proposal\nHi {first},\n\nWhen we last spoke you mentioned downtime in March and a phased start for the 40 person team. \
         The proposal for {deal} covers both: we can start with one team and move the rest once the first is live. \
         Would a short call this week help to settle the timing?\n\nBest,\n{founder}",
        first = facts["contact.first_name"].value,
        deal = facts["deal.name"].value,
        founder = facts["founder.name"].value,
    );
    assert!(shared::domain::grounding::unsourced(&answer, &trusted, &[]).is_empty());
    g.bench_function("grounding check of a model's follow-up", |b| {
        b.iter(|| shared::domain::grounding::unsourced(&answer, &trusted, &[]))
    });
    g.finish();
}

fn review_page(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = EmbeddedStore::open_in_memory().unwrap();
    let clock = Arc::new(ManualClock::new(now()));
    let config = Arc::new(Config::bundled().unwrap());
    let tokens = TokenSigner::new(Secret::new("bench-key"));
    let review = Services::build(
        Adapters::embedded(&store, clock),
        Settings {
            public_base_url: "https://hooks.example".into(),
            tokens: Some(tokens.clone()),
            ..Settings::new(config.clone())
        },
    )
    .review();
    let d = deal();
    let draft = Draft {
        id: "d1".into(),
        deal: d.key.clone(),
        deal_name: d.name.clone(),
        trigger: TriggerKind::ProposalNoReply,
        occurrence: "proposal_no_reply#bench".into(),
        status: DraftStatus::Pending,
        to: d.contact_email.clone(),
        subject: "Re: Acme Corp - Website relaunch".into(),
        body: "Hi Jane,\n\nI wanted to check whether you had a chance to look at the proposal.\n\nBest,\nAlex\n".into(),
        missing: vec![],
        context: DraftContext {
            trigger_label: TriggerKind::ProposalNoReply.label().into(),
            due_at: now(),
            fired_at: now(),
            days_since_last_contact: Some(4),
            last_interaction: None,
            facts: vec![FactUse {
                variable: "contact.first_name".into(),
                value: "Jane".into(),
                source: "HubSpot contact property firstname".into(),
            }],
            stage: Some(Stage::Proposal),
            template: "templates/proposal_no_reply.txt".into(),
            model: None,
        },
        created_at: now(),
        notified_at: None,
        snoozed_until: None,
        decision: None,
        outgoing: None,
        sent: None,
        superseded_reason: None,
        crm_update: None,
        document: None,
        writeback: None,
    };
    rt.block_on(async {
        let mut d = d.clone();
        d.version = 1;
        store.put_deal(&d).await.unwrap();
        store.create_draft(&draft).await.unwrap();
    });
    let token = tokens.sign(
        Scope::Draft("d1"),
        &config.founder.email,
        now() + jiff::SignedDuration::from_hours(1),
    );
    let uri = format!("/review/d1?token={token}");
    let mut g = c.benchmark_group("review");
    g.bench_function("draft page (GET, embedded store)", |b| {
        b.iter_batched(
            || {
                http::Request::builder()
                    .uri(&uri)
                    .body(Bytes::new())
                    .unwrap()
            },
            |req| {
                let resp = rt.block_on(review.handle(req));
                assert_eq!(resp.status(), 200);
                resp
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    hubspot_batch,
    providers_parse,
    rules,
    drafting,
    review_page
);
criterion_main!(benches);
