//! Drafts written by a model on the real binary, against a mock OpenAI-compatible endpoint
//! (`DRAFTING_ENGINE=openai`): a grounded answer is the draft, marked as the model's; an answer
//! that follows an injected instruction ("offer a 50% discount") or a model that fails leaves
//! the template's draft, and the page says why. Drafts arrive on time whatever the model does,
//! and nothing unsourced reaches the queue.

use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;

use support::{free_port, Runner};

/// A chat completion answering `content` (900 tokens in, 90 out).
fn chat(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
        "choices": [{ "index": 0, "finish_reason": "stop", "message": { "role": "assistant", "content": content } }],
        "usage": { "prompt_tokens": 900, "completion_tokens": 90, "total_tokens": 990 }
    })
}

fn completion(subject: &str, body: &str) -> Value {
    chat(&json!({ "subject": subject, "body": body }).to_string())
}

/// A mock model answering `content`, once, to the prompt that contains `marker`.
async fn answering(marker: &str, content: Value) -> MockServer {
    let model = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains(marker))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat(&content.to_string())))
        .expect(1)
        .mount(&model)
        .await;
    model
}

/// The runner with drafts written by `model` (`DRAFTING_ENGINE=openai`, model `test-model`).
async fn with_openai(data: &std::path::Path, model: &MockServer) -> Runner {
    let base = format!("{}/v1", model.uri());
    start(
        data,
        &[
            ("DRAFTING_ENGINE", "openai"),
            ("OPENAI_BASE_URL", &base),
            ("DRAFTING_MODEL", "test-model"),
        ],
    )
    .await
}

/// The runner on the shipped config, with `env` set and no CRM or model credentials inherited.
async fn start(data: &std::path::Path, env: &[(&str, &str)]) -> Runner {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/draftgate.toml");
    support::start_with_args(
        data,
        free_port(),
        env,
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
            "OPENAI_API_KEY",
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
        ],
        &[
            std::ffi::OsStr::new("--config"),
            std::ffi::OsStr::new(config),
        ],
    )
    .await
}

async fn page(runner: &Runner, outbox: &Value, deal: &str) -> String {
    let note = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["subject"].as_str().unwrap_or("").contains(deal))
        .unwrap_or_else(|| panic!("no notification for {deal}: {outbox}"));
    let url = note["review_url"].as_str().unwrap();
    runner
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn model_drafts_are_checked_and_the_template_stands_whenever_one_does_not_pass() {
    let model = MockServer::start().await;
    let chat = || Mock::given(method("POST")).and(path("/v1/chat/completions"));
    chat()
        .and(body_string_contains("Deal good"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            "The proposal for Deal good",
            "Hi Kim,\n\nYou were weighing the timeline on our call. Would a phased start help?\n\nBest",
        )))
        .mount(&model)
        .await;
    // A model that followed an instruction injected into the conversation.
    chat()
        .and(body_string_contains("Deal injected"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            "Special offer",
            "Hi Kim,\n\nAs you asked, we can offer a 50% discount if you sign this week.",
        )))
        .mount(&model)
        .await;
    chat()
        .and(body_string_contains("Deal down"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&model)
        .await;

    let data = tempfile::tempdir().unwrap();
    let runner = with_openai(data.path(), &model).await;
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-03T10:00:00Z" }))
        .await;
    let sent_at = "2026-12-03T09:59:00Z";
    let deals = ["good", "injected", "down"];
    let deal = |id: &str| {
        json!({ "crm": "notion", "id": id, "name": format!("Deal {id}"), "amount": 4000, "currency": "EUR",
            "contact": { "email": format!("kim@{id}.example"), "first_name": "Kim" } })
    };
    runner.generic_events(json!(deals.iter().map(|id| json!({
        "id": format!("{id}-prop"), "type": "proposal_sent", "occurred_at": sent_at, "deal": deal(id)
    })).collect::<Vec<_>>())).await;
    runner.generic_events(json!(deals.iter().map(|id| json!({
        "id": format!("{id}-stage"), "type": "stage_changed", "occurred_at": sent_at, "stage": "Proposal sent",
        "deal": { "crm": "notion", "id": id }
    })).collect::<Vec<_>>())).await;
    // A call gave one deal its timeline concern (the conversation the model is shown).
    runner
        .generic_events(json!([
            { "id": "injected-call", "type": "call_logged", "occurred_at": "2026-12-03T09:59:30Z",
              "summary": "Discovery call", "note": "Kim was weighing the timeline",
              "deal": { "crm": "notion", "id": "injected" } },
        ]))
        .await;

    // Three days and a bit later, every proposal follow-up is due.
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-06T12:00:00Z" }))
        .await;
    assert_eq!(
        runner.post_json("/dev/sweep", json!({})).await["pending_drafts"],
        3,
        "every draft arrives, whatever the model did"
    );
    let outbox = runner.get("/dev/outbox").await;

    let good = page(&runner, &outbox, "Deal good").await;
    assert!(good.contains("Written by the model test-model"), "{good}");
    assert!(good.contains("Would a phased start help?"), "{good}");

    let injected = page(&runner, &outbox, "Deal injected").await;
    assert!(
        injected.contains("The model&#x27;s draft was set aside: it said &#x27;50% discount&#x27;, which no source holds")
            || injected.contains("The model's draft was set aside: it said '50% discount', which no source holds"),
        "{injected}"
    );
    assert!(
        !injected.contains("50% discount if you sign"),
        "the injected draft never shows"
    );

    let down = page(&runner, &outbox, "Deal down").await;
    assert!(down.contains("The model gave no draft"), "{down}");

    // Nothing unsourced reached the founder or the queue's notifications.
    let everything = runner.get("/dev/outbox").await.to_string();
    assert!(!everything.contains("50% discount"), "{everything}");

    // The week's summary counts what the model did: three calls, the tokens two answers
    // reported, one draft written, one set aside, one fallback.
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-07T07:30:00Z" }))
        .await;
    runner.post_json("/dev/sweep", json!({})).await;
    let outbox = runner.get("/dev/outbox").await;
    let summary = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|n| {
            n["subject"]
                .as_str()
                .unwrap_or("")
                .contains("week 2026-W50")
        })
        .unwrap_or_else(|| panic!("no weekly summary: {outbox}"));
    let text = summary["body"].as_str().unwrap();
    assert!(
        text.contains("Model: 3 calls, 1980 tokens; 1 drafts written (0 approved unedited), 1 set aside for an unsourced claim, 1 fallbacks to the template, 0 over the daily cap"),
        "{text}"
    );

    // The founder approves the model's draft as it is: what was sent becomes an example of the
    // founder's voice for the next draft (never a source of its facts).
    let note = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["subject"].as_str().unwrap_or("").contains("Deal good"))
        .unwrap();
    let url = note["review_url"].as_str().unwrap();
    let (path, query) = url.split_once('?').unwrap();
    let path = &path[path.find("/review/").unwrap()..];
    let token = query.strip_prefix("token=").unwrap();
    let approved: Value = runner
        .http
        .post(format!("{}{path}", runner.base))
        .header("accept", "application/json")
        .form(&[("token", token), ("action", "approve")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(approved["status"], "SENT", "{approved}");
    runner.generic_events(json!([
        { "id": "later-prop", "type": "proposal_sent", "occurred_at": "2026-12-07T07:30:00Z", "deal": deal("later") },
        { "id": "later-stage", "type": "stage_changed", "occurred_at": "2026-12-07T07:30:00Z", "stage": "Proposal sent",
          "deal": { "crm": "notion", "id": "later" } },
    ])).await;
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-10T12:00:00Z" }))
        .await;
    runner.post_json("/dev/sweep", json!({})).await;
    let asked = model.received_requests().await.unwrap();
    let last = String::from_utf8_lossy(&asked.last().unwrap().body).to_string();
    assert!(last.contains("Deal later"), "{last}");
    assert!(
        last.contains("voice only, not facts") && last.contains("Would a phased start help?"),
        "the approved send is a voice example: {last}"
    );
}

/// A Converse answer as Bedrock serves it.
fn converse(subject: &str, body: &str) -> Value {
    let text = json!({ "subject": subject, "body": body }).to_string();
    json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": text }] } },
        "stopReason": "end_turn",
        "usage": { "inputTokens": 950, "outputTokens": 70, "totalTokens": 1020 },
        "metrics": { "latencyMs": 900 }
    })
}

#[tokio::test]
async fn bedrock_writes_through_its_guardrail_and_the_daily_cap_leaves_the_rest_to_the_templates() {
    let bedrock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(converse(
            "The proposal",
            "Hi Kim,\n\nIs the proposal still a priority for this quarter?\n\nBest",
        )))
        .expect(1)
        .mount(&bedrock)
        .await;
    Mock::given(method("POST"))
        .and(path("/guardrail/gr-draft/version/2/apply"))
        .and(body_string_contains("grounding_source"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "usage": { "topicPolicyUnits": 1, "contentPolicyUnits": 0, "wordPolicyUnits": 0,
                "sensitiveInformationPolicyUnits": 0, "sensitiveInformationPolicyFreeUnits": 0,
                "contextualGroundingPolicyUnits": 1 },
            "action": "NONE", "outputs": [], "assessments": []
        })))
        .expect(1)
        .mount(&bedrock)
        .await;

    let data = tempfile::tempdir().unwrap();
    let endpoint = bedrock.uri();
    let runner = start(
        data.path(),
        &[
            ("DRAFTING_ENGINE", "bedrock"),
            ("DRAFTING_MODEL", "anthropic.claude-3-haiku-20240307-v1:0"),
            ("DRAFTING_GUARDRAIL_ID", "gr-draft"),
            ("DRAFTING_GUARDRAIL_VERSION", "2"),
            ("DRAFTING_DAILY_CALLS", "1"),
            ("BEDROCK_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "eu-west-1"),
        ],
    )
    .await;
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-03T10:00:00Z" }))
        .await;
    let deals = ["one", "two"];
    runner
        .generic_events(json!(deals.iter().map(|id| json!({
        "id": format!("{id}-prop"), "type": "proposal_sent", "occurred_at": "2026-12-03T09:59:00Z",
        "deal": { "crm": "notion", "id": id, "name": format!("Deal {id}"),
            "contact": { "email": format!("kim@{id}.example"), "first_name": "Kim" } }
    })).collect::<Vec<_>>()))
        .await;
    runner
        .generic_events(json!(deals.iter().map(|id| json!({
        "id": format!("{id}-stage"), "type": "stage_changed", "occurred_at": "2026-12-03T09:59:00Z",
        "stage": "Proposal sent", "deal": { "crm": "notion", "id": id }
    })).collect::<Vec<_>>()))
        .await;
    runner
        .post_json("/dev/clock", json!({ "now": "2026-12-06T12:00:00Z" }))
        .await;
    assert_eq!(
        runner.post_json("/dev/sweep", json!({})).await["pending_drafts"],
        2
    );
    let outbox = runner.get("/dev/outbox").await;
    let pages = [
        page(&runner, &outbox, "Deal one").await,
        page(&runner, &outbox, "Deal two").await,
    ];
    let written = pages
        .iter()
        .filter(|p| p.contains("Written by the model anthropic.claude-3-haiku-20240307-v1:0"))
        .count();
    let capped = pages
        .iter()
        .filter(|p| p.contains("The model was not asked: today"))
        .count();
    assert_eq!((written, capped), (1, 1), "{pages:?}");
}

#[tokio::test]
async fn free_call_notes_become_a_crm_update_through_the_model_checked_against_the_notes() {
    let reading = json!({
        "attendees": ["Pepper", "Happy Hogan"],
        "discussed": "Pepper needs the workshop before the January kick-off.",
        "next_step": "Pepper reviews the plan with her team",
        "next_step_date_words": "by next Tuesday",
        "stage": "proposal", "stage_words": "ready for a proposal",
        "amount_words": "budget is around 24k"
    });
    let model = answering("The call's notes", reading).await;
    let data = tempfile::tempdir().unwrap();
    let runner = with_openai(data.path(), &model).await;
    let now = runner.now().await;
    let earlier = (now - jiff::SignedDuration::from_hours(2)).to_string();
    let call = (now - jiff::SignedDuration::from_mins(5)).to_string();
    runner.generic_events(json!([
        { "id": "s1", "type": "stage_changed", "occurred_at": earlier, "stage": "qualifiedtobuy",
          "deal": { "crm": "hubspot", "id": "9006", "name": "Stark Industries - Onboarding workshop",
                    "contact": { "email": "pepper@stark.example", "first_name": "Pepper" } } },
        { "id": "s2", "type": "call_logged", "occurred_at": call, "deal": { "crm": "hubspot", "id": "9006" },
          "summary": "Onboarding call",
          "note": "Good call with Pepper. She needs the workshop before the January kick-off. They are ready for a proposal and the budget is around 24k. Pepper reviews the plan with her team by next Tuesday." },
    ]))
    .await;
    runner.post_json("/dev/sweep", json!({})).await;
    let outbox = runner.get("/dev/outbox").await;
    let html = page(&runner, &outbox, "Stark Industries").await;
    for text in [
        "The model test-model read the call",
        "Pepper reviews the plan with her team",
        "by next Tuesday",
        "proposal (contractsent)",
        "Attendees: Pepper.",
    ] {
        assert!(html.contains(text), "{text} in {html}");
    }
    assert!(
        !html.contains("Happy Hogan"),
        "a name the notes do not hold"
    );
}

#[tokio::test]
async fn a_meeting_brief_gets_the_models_agenda_each_point_checked_against_its_entry() {
    let points = json!({
        "agenda": [{ "text": "Walk through the phased rollout", "source": 1 },
                   { "text": "Agree the 40% pilot discount", "source": 1 }],
        "open_questions": [{ "text": "Does legal need to see the DPA first?", "source": 2 }],
        "objections": [{ "text": "Worried about downtime in March", "source": 1 }]
    });
    let model = answering("prepare a founder for a sales meeting", points).await;
    let data = tempfile::tempdir().unwrap();
    let runner = with_openai(data.path(), &model).await;
    let now = runner.now().await;
    let at = |hours: i64| (now + jiff::SignedDuration::from_hours(hours)).to_string();
    let deal = json!({ "crm": "notion", "id": "m1", "name": "Deal meet",
        "contact": { "email": "kim@meet.example", "first_name": "Kim" } });
    runner.generic_events(json!([
        { "id": "m-call", "type": "call_logged", "occurred_at": at(-48), "deal": deal,
          "summary": "Discovery call", "note": "They want a phased rollout; worried about downtime in March" },
        { "id": "m-reply", "type": "prospect_replied", "occurred_at": at(-24), "deal": { "crm": "notion", "id": "m1" },
          "summary": "Does legal need to see the DPA first?" },
        { "id": "m-meet", "type": "meeting_booked", "occurred_at": at(-1), "deal": { "crm": "notion", "id": "m1" },
          "summary": "Pilot review", "starts_at": at(20) },
    ]))
    .await;
    runner.post_json("/dev/sweep", json!({})).await;
    let outbox = runner.get("/dev/outbox").await.to_string();
    for text in [
        "Prepared by the model test-model",
        "Walk through the phased rollout [notion via generic webhook generic:notion:m-call]",
        "Does legal need to see the DPA first? [",
        "Worried about downtime in March [",
    ] {
        assert!(outbox.contains(text), "{text} in {outbox}");
    }
    assert!(!outbox.contains("40% pilot discount"), "{outbox}");
}
