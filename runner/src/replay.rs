//! `draftgate replay SCENARIO`: deals and their events over weeks, on a virtual clock, through
//! the same handlers and store as the runner (intake recording, the sweep, the queue workers,
//! the review endpoint for the founder's decisions), and a report of what happened.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Arc;

use bytes::Bytes;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use shared::adapters::clock::ManualClock;
use shared::adapters::embedded::EmbeddedStore;
use shared::app::review::Review;
use shared::app::sweep::Sweeper;
use shared::assembly::{Adapters, Services, Settings};
use shared::config::Config;
use shared::domain::{
    DealEvent, DealRef, DealSnapshot, Draft, DraftStatus, EventKind, EventType, Fact, TriggerKind,
};
use shared::drafting::missing_marker;
use shared::ports::{AuditReader, Clock, DraftStore};
use shared::providers::intake::{Intake, Summary};
use shared::secret::Secret;
use shared::tokens::{Scope, TokenSigner};

use crate::workers::Workers;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub start: Timestamp,
    pub days: u32,
    #[serde(default = "default_sweep")]
    pub sweep_minutes: u32,
    #[serde(default)]
    pub founder: FounderBehaviour,
    pub deals: Vec<ScenarioDeal>,
}

fn default_sweep() -> u32 {
    15
}

/// How the simulated founder decides drafts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FounderBehaviour {
    #[serde(default = "default_decide")]
    pub decide_after_hours: u32,
    /// Every n-th draft (by creation order) is rejected; 0 = none.
    #[serde(default)]
    pub reject_every: u32,
}

fn default_decide() -> u32 {
    6
}

impl Default for FounderBehaviour {
    fn default() -> Self {
        FounderBehaviour {
            decide_after_hours: default_decide(),
            reject_every: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioDeal {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub amount: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub deal_type: Option<String>,
    #[serde(default)]
    pub contact: ScenarioContact,
    pub events: Vec<ScenarioEvent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioContact {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEvent {
    pub at: Timestamp,
    /// The event's type, named as everywhere ([`EventType`]).
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub document: Option<String>,
    #[serde(default)]
    pub starts_at: Option<Timestamp>,
    #[serde(default)]
    pub meeting_id: Option<String>,
    #[serde(default)]
    pub quote_id: Option<String>,
    #[serde(default)]
    pub expires_on: Option<Date>,
    #[serde(default)]
    pub status: Option<String>,
    /// A logged call's notes.
    #[serde(default)]
    pub note: Option<String>,
}

const SOURCE: &str = "scenario";

/// Ground truth for "never nudge a live conversation": whether, by the scenario's own events,
/// the prospect answered (or signed) after the follow-up's reference point and before it was
/// drafted, or the founder wrote to the prospect herself, or (for a re-engagement) a call or a
/// meeting broke the quiet. `deal_events` are the deal's events up to the draft's creation.
fn conversation_before_drafting(d: &Draft, deal_events: &[&DealEvent]) -> bool {
    if !d.trigger.is_follow_up() {
        return false;
    }
    // The reference point: the occurrence's own time, or for a quote the quote it is about.
    let anchor = match d.trigger {
        TriggerKind::QuoteExpired => deal_events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::QuoteSent { .. }))
            .map(|e| e.occurred_at)
            .max(),
        _ => d
            .occurrence
            .split("#rearm")
            .next()
            .and_then(|k| k.rsplit('#').next())
            .and_then(|s| s.parse::<Timestamp>().ok()),
    };
    let Some(anchor) = anchor else {
        return false;
    };
    deal_events.iter().any(|e| {
        e.occurred_at > anchor
            && match &e.kind {
                EventKind::ProspectReplied { .. } | EventKind::ProposalCompleted { .. } => true,
                // The founder's own mail is the follow-up (not for a quote's final outreach or a
                // lead's, which count only the prospect's answers).
                EventKind::OutboundSent { .. } => !matches!(
                    d.trigger,
                    TriggerKind::QuoteExpired | TriggerKind::LeadNoSecondReply
                ),
                // A call or a booked meeting is a conversation (a booking cancelled later was one
                // all the same); only a quote's final outreach waits for an answer alone.
                EventKind::CallLogged { .. } | EventKind::MeetingBooked { .. } => {
                    d.trigger != TriggerKind::QuoteExpired
                }
                _ => false,
            }
    })
}

fn to_kind(deal: &ScenarioDeal, e: &ScenarioEvent, index: usize) -> Result<EventKind, String> {
    let summary = || e.summary.clone().unwrap_or_default();
    let need = |field: &str| {
        format!(
            "deal {} event {index} ({}): `{field}` is required",
            deal.id, e.kind
        )
    };
    Ok(match e.kind {
        EventType::DealCreated => EventKind::DealCreated,
        EventType::StageChanged => EventKind::StageChanged {
            raw_stage: e.stage.clone().ok_or_else(|| need("stage"))?,
        },
        EventType::StatusChanged => EventKind::StatusChanged {
            status: e.status.clone().unwrap_or_default(),
        },
        EventType::ProposalSent => EventKind::ProposalSent {
            document_id: format!("doc-{}-{index}", deal.id),
            name: e.document.clone(),
        },
        EventType::ProspectReplied => EventKind::ProspectReplied { summary: summary() },
        EventType::AutoReplyReceived => EventKind::AutoReplyReceived { summary: summary() },
        EventType::LeadInquiry => EventKind::LeadInquiry { summary: summary() },
        EventType::OutboundSent => EventKind::OutboundSent { summary: summary() },
        EventType::CallLogged => EventKind::CallLogged {
            summary: summary(),
            note: e.note.clone(),
        },
        EventType::MeetingBooked => EventKind::MeetingBooked {
            summary: summary(),
            starts_at: e.starts_at,
            meeting_id: e.meeting_id.clone(),
        },
        EventType::MeetingCancelled => EventKind::MeetingCancelled {
            summary: summary(),
            meeting_id: e.meeting_id.clone(),
        },
        EventType::QuoteSent => EventKind::QuoteSent {
            quote_id: e
                .quote_id
                .clone()
                .unwrap_or_else(|| format!("Q-{}", deal.id)),
            expires_on: e.expires_on.ok_or_else(|| need("expires_on"))?,
        },
        EventType::ProspectDeclined => EventKind::ProspectDeclined { summary: summary() },
        EventType::DealDeleted => EventKind::DealDeleted,
        other => {
            return Err(format!(
                "deal {} event {index}: a scenario cannot replay `{other}` events",
                deal.id
            ))
        }
    })
}

fn snapshot(deal: &ScenarioDeal, first_stage: Option<&str>) -> DealSnapshot {
    let mut facts = BTreeMap::new();
    let source = |prop: &str| format!("scenario CRM property {prop}");
    facts.insert(
        "deal.name".to_string(),
        Fact::new(&deal.name, source("dealname")),
    );
    if let Some(a) = deal.amount {
        facts.insert(
            "deal.amount".into(),
            Fact::new(
                format!("{a} {}", deal.currency.as_deref().unwrap_or("")).trim(),
                source("amount"),
            ),
        );
    }
    let c = &deal.contact;
    for (key, v, prop) in [
        ("contact.email", &c.email, "email"),
        ("contact.first_name", &c.first_name, "firstname"),
        ("contact.last_name", &c.last_name, "lastname"),
        ("contact.company", &c.company, "company"),
    ] {
        if let Some(v) = v {
            facts.insert(key.into(), Fact::new(v, source(prop)));
        }
    }
    DealSnapshot {
        name: Some(deal.name.clone()),
        raw_stage: first_stage.map(str::to_string),
        amount: deal.amount,
        currency: deal.currency.clone(),
        deal_type: deal.deal_type.clone(),
        contact_email: c.email.clone(),
        facts,
        ..Default::default()
    }
}

/// Every scenario event as a canonical event, in time order.
pub fn events(scenario: &Scenario) -> Result<Vec<DealEvent>, String> {
    let mut out = Vec::new();
    for deal in &scenario.deals {
        for (i, e) in deal.events.iter().enumerate() {
            out.push(DealEvent {
                id: format!("scenario:{}:{i}", deal.id),
                deal: DealRef::new("hubspot", deal.id.clone()),
                occurred_at: e.at,
                source: SOURCE.into(),
                kind: to_kind(deal, e, i)?,
                snapshot: (i == 0).then(|| snapshot(deal, e.stage.as_deref())),
            });
        }
    }
    out.sort_by_key(|e| e.occurred_at);
    Ok(out)
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct DayRow {
    pub date: String,
    pub drafts: usize,
    pub briefs: usize,
    pub sent: usize,
    /// Drafts waiting for the founder at the end of the day.
    pub queue: usize,
    pub deferred: usize,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub days: u32,
    pub deals: usize,
    pub events: usize,
    pub drafts: usize,
    pub briefs: usize,
    pub by_trigger: BTreeMap<String, usize>,
    pub approved: usize,
    pub rejected: usize,
    pub sent: usize,
    pub superseded: usize,
    pub incomplete: usize,
    /// Firings later than one sweep interval after their due time.
    pub late: usize,
    /// ... of which the daily budget or the per-deal cap held back on purpose.
    pub late_by_budget_or_cap: usize,
    pub max_unexplained_lateness_secs: i64,
    pub deferrals: usize,
    /// Must be zero: drafts written for a deal parked at the time, or (any follow-up) while the
    /// conversation was live: after the prospect answered or the founder wrote herself.
    pub drafts_on_parked_deals: usize,
    pub drafts_after_reply: usize,
    /// Must be zero: trigger occurrences drafted twice, drafts sent twice.
    pub duplicate_drafts: usize,
    pub duplicate_sends: usize,
    pub max_queue: usize,
    pub per_day: Vec<DayRow>,
}

struct Engine {
    store: Arc<EmbeddedStore>,
    clock: Arc<ManualClock>,
    intake: Intake,
    sweeper: Sweeper,
    workers: Workers,
    review: Review,
    tokens: TokenSigner,
    founder: String,
}

impl Engine {
    fn new(config: Arc<Config>) -> Result<Engine, String> {
        let store = EmbeddedStore::open_in_memory().map_err(|e| e.to_string())?;
        let clock = Arc::new(ManualClock::new(Timestamp::UNIX_EPOCH));
        let draft_q = store.queue("drafts");
        let tokens = TokenSigner::new(Secret::new("replay"));
        let services = Services::build(
            Adapters::embedded(&store, clock.clone()),
            Settings {
                public_base_url: "http://replay.invalid".into(),
                tokens: Some(tokens.clone()),
                ..Settings::new(config.clone())
            },
        );
        Ok(Engine {
            intake: services.intake(),
            sweeper: services.sweeper(),
            workers: Workers {
                evaluate_q: store.queue("evaluate"),
                draft_q,
                evaluator: services.evaluator(),
                writeback: None,
                drafter: services.drafter(),
            },
            review: services.review(),
            founder: config.founder.email.clone(),
            tokens,
            store,
            clock,
        })
    }

    /// The founder decides through the review endpoint, as in a browser.
    async fn decide(&self, draft: &Draft, reject: bool) -> u16 {
        let token = self.tokens.sign(
            Scope::Draft(&draft.id),
            &self.founder,
            self.clock.now() + SignedDuration::from_hours(1),
        );
        let mut form = vec![
            ("token", token),
            (
                "action",
                if reject { "reject" } else { "approve" }.to_string(),
            ),
        ];
        if reject {
            form.push(("reason", "not the right moment".into()));
        } else if draft.is_incomplete() {
            // The founder fills the gaps before approving.
            let mut body = draft.body.clone();
            for m in &draft.missing {
                body = body.replace(&missing_marker(m), "there");
            }
            form.push(("body", body));
        }
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("/review/{}", draft.id))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Bytes::from(
                serde_urlencoded::to_string(&form).expect("form"),
            ))
            .expect("request");
        self.review.handle(req).await.status().as_u16()
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub async fn replay(scenario: &Scenario, config: Arc<Config>) -> Result<Report, String> {
    let events = events(scenario)?;
    let engine = Engine::new(config.clone())?;
    let step = SignedDuration::from_mins(scenario.sweep_minutes as i64);
    let end = scenario.start + SignedDuration::from_hours(24 * scenario.days as i64);
    let decide_after = SignedDuration::from_hours(scenario.founder.decide_after_hours as i64);
    let tz = config.timezone();
    let day_of = |t: Timestamp| t.to_zoned(tz.clone()).date();

    let mut report = Report {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        days: scenario.days,
        deals: scenario.deals.len(),
        events: events.len(),
        ..Default::default()
    };
    let mut next_event = 0;
    let mut decided = 0usize;
    let mut per_day: BTreeMap<Date, DayRow> = BTreeMap::new();
    let mut t = scenario.start;
    while t <= end {
        // Events that happened up to now, each recorded at its own time.
        let mut summary = Summary::default();
        while next_event < events.len() && events[next_event].occurred_at <= t {
            let e = events[next_event].clone();
            engine.clock.set(e.occurred_at.max(t - step));
            engine
                .intake
                .record_all(vec![e], &mut summary)
                .await
                .map_err(err)?;
            next_event += 1;
        }
        engine.clock.set(t);
        // The founder decides drafts that have waited long enough.
        let pending = engine
            .store
            .drafts_by_status(DraftStatus::Pending, None, 10_000)
            .await
            .map_err(err)?;
        for draft in pending.iter().filter(|d| d.created_at + decide_after <= t) {
            decided += 1;
            let reject = scenario.founder.reject_every > 0
                && decided.is_multiple_of(scenario.founder.reject_every as usize);
            engine.decide(draft, reject).await;
        }
        // The scheduled sweep and everything it causes.
        let swept = engine.sweeper.run().await.map_err(err)?;
        engine.workers.drain().await;
        per_day.entry(day_of(t)).or_default().deferred += swept.deferred;
        let queue = engine
            .store
            .drafts_by_status(DraftStatus::Pending, None, 10_000)
            .await
            .map_err(err)?
            .len();
        per_day.entry(day_of(t)).or_default().queue = queue;
        report.max_queue = report.max_queue.max(queue);
        t += step;
    }

    // Tally the drafts and decisions.
    let mut drafts = Vec::new();
    for status in DraftStatus::ALL {
        drafts.extend(
            engine
                .store
                .drafts_by_status(status, None, 100_000)
                .await
                .map_err(err)?,
        );
    }
    drafts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    tally_drafts(&mut report, &mut per_day, &drafts, &events, &config);
    tally_audit(&engine, &mut report, step).await?;
    report.per_day = per_day
        .into_iter()
        .map(|(date, mut row)| {
            row.date = date.to_string();
            row
        })
        .collect();
    Ok(report)
}

/// Drafts and briefs by day and trigger, decisions, and the checks against the scenario's own
/// events (drafts on parked deals, drafts in a live conversation).
fn tally_drafts(
    report: &mut Report,
    per_day: &mut BTreeMap<Date, DayRow>,
    drafts: &[Draft],
    events: &[DealEvent],
    config: &Config,
) {
    let tz = config.timezone();
    let day_of = |t: Timestamp| t.to_zoned(tz.clone()).date();
    for d in drafts {
        let row = per_day.entry(day_of(d.created_at)).or_default();
        if d.status == DraftStatus::Brief {
            report.briefs += 1;
            row.briefs += 1;
        } else {
            report.drafts += 1;
            row.drafts += 1;
            *report
                .by_trigger
                .entry(d.trigger.as_str().to_string())
                .or_default() += 1;
        }
        report.incomplete += usize::from(d.is_incomplete() && d.status != DraftStatus::Brief);
        match d.status {
            DraftStatus::Sent => {
                report.approved += 1;
                report.sent += 1;
                if let Some(s) = &d.sent {
                    per_day.entry(day_of(s.at)).or_default().sent += 1;
                }
            }
            DraftStatus::Rejected => report.rejected += 1,
            DraftStatus::Superseded => report.superseded += 1,
            _ => {}
        }
        // Ground truth from the scenario itself, not from the engine's state.
        let deal_events: Vec<&DealEvent> = events
            .iter()
            .filter(|e| e.deal == d.deal && e.occurred_at <= d.created_at)
            .collect();
        let parked = deal_events
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::StatusChanged { status } => Some(config.is_parked_status(status)),
                _ => None,
            })
            .unwrap_or(false);
        report.drafts_on_parked_deals += usize::from(parked && d.status != DraftStatus::Brief);
        report.drafts_after_reply += usize::from(conversation_before_drafting(d, &deal_events));
    }
}

/// Lateness, deferrals, duplicate drafts and duplicate sends, from the audit log and the outbox.
async fn tally_audit(
    engine: &Engine,
    report: &mut Report,
    step: SignedDuration,
) -> Result<(), String> {
    let audit = engine.store.entries(None).await.map_err(err)?;
    let held: std::collections::HashSet<String> = audit
        .iter()
        .filter(|e| e.kind == "trigger.deferred" || e.kind == "trigger.held")
        .filter_map(|e| e.deal.as_ref().map(ToString::to_string))
        .collect();
    report.deferrals = audit
        .iter()
        .filter(|e| e.kind == "trigger.deferred")
        .count();
    let mut drafted: HashMap<(String, String), usize> = HashMap::new();
    for e in audit.iter().filter(|e| e.kind == "draft.created") {
        let key = (
            e.deal.as_ref().map(ToString::to_string).unwrap_or_default(),
            e.detail["occurrence"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        *drafted.entry(key).or_default() += 1;
    }
    report.duplicate_drafts = drafted.values().filter(|n| **n > 1).count();
    let mut sends: HashMap<String, usize> = HashMap::new();
    for m in engine
        .store
        .outbox_entries()
        .map_err(err)?
        .into_iter()
        .filter(|m| m.kind == "prospect")
    {
        *sends.entry(m.draft_id.unwrap_or_default()).or_default() += 1;
    }
    report.duplicate_sends = sends.values().filter(|n| **n > 1).count();
    for e in audit.iter().filter(|e| e.kind == "trigger.fired") {
        let late = e.detail["late_by_secs"].as_i64().unwrap_or(0);
        if late > step.as_secs() {
            report.late += 1;
            if e.deal
                .as_ref()
                .is_some_and(|d| held.contains(&d.to_string()))
            {
                report.late_by_budget_or_cap += 1;
            } else {
                report.max_unexplained_lateness_secs =
                    report.max_unexplained_lateness_secs.max(late);
            }
        }
    }
    Ok(())
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "Replay: {} ({} days, {} deals, {} events)",
        r.scenario, r.days, r.deals, r.events
    );
    if !r.description.is_empty() {
        let _ = writeln!(w, "{}", r.description);
    }
    let _ = writeln!(
        w,
        "\nDrafts: {} ({} incomplete), internal briefs: {}",
        r.drafts, r.incomplete, r.briefs
    );
    let _ = writeln!(
        w,
        "Decisions: {} approved and sent, {} rejected, {} superseded before sending",
        r.approved, r.rejected, r.superseded
    );
    let _ = writeln!(w, "\nDrafts per trigger");
    for (t, n) in &r.by_trigger {
        let _ = writeln!(w, "  {t:<22} {n:>4}");
    }
    let _ = writeln!(w, "\nChecks");
    let _ = writeln!(w, "  fired later than one sweep interval   {:>4} ({} held back by the budget or the per-deal cap)", r.late, r.late_by_budget_or_cap);
    let _ = writeln!(
        w,
        "  worst unexplained lateness            {:>4} s",
        r.max_unexplained_lateness_secs
    );
    let _ = writeln!(
        w,
        "  budget deferrals                      {:>4}",
        r.deferrals
    );
    let _ = writeln!(
        w,
        "  drafts on parked deals (must be 0)    {:>4}",
        r.drafts_on_parked_deals
    );
    let _ = writeln!(
        w,
        "  live-conversation drafts (must be 0)  {:>4}",
        r.drafts_after_reply
    );
    let _ = writeln!(
        w,
        "  occurrences drafted twice (must be 0) {:>4}",
        r.duplicate_drafts
    );
    let _ = writeln!(
        w,
        "  drafts sent twice (must be 0)         {:>4}",
        r.duplicate_sends
    );
    let _ = writeln!(
        w,
        "  largest review queue                  {:>4}",
        r.max_queue
    );
    let _ = writeln!(
        w,
        "\nPer day (founder's time zone)\n  date        drafts briefs sent queue deferred"
    );
    for d in &r.per_day {
        if d.drafts + d.briefs + d.sent + d.queue + d.deferred == 0 {
            continue;
        }
        let _ = writeln!(
            w,
            "  {}  {:>5} {:>6} {:>4} {:>5} {:>8}",
            d.date, d.drafts, d.briefs, d.sent, d.queue, d.deferred
        );
    }
    let _ = writeln!(w, "  (days with nothing happening are left out)");
    out
}

pub fn load(path: &std::path::Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: line {}: {e}", path.display(), e.line()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const STAGES: [&str; 7] = [
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    ];
    const KINDS: [&str; 13] = [
        "stage_changed",
        "proposal_sent",
        "prospect_replied",
        "auto_reply",
        "call_logged",
        "meeting_booked",
        "meeting_cancelled",
        "status_changed",
        "quote_sent",
        "lead_inquiry",
        "outbound",
        "prospect_declined",
        "status_changed",
    ];

    fn start() -> Timestamp {
        "2026-03-23T07:00:00Z".parse().unwrap()
    }

    /// One random event: kind, minutes after the start, and a small integer for its details.
    fn event() -> impl Strategy<Value = (usize, i64, u32)> {
        (0..KINDS.len(), 0i64..(9 * 24 * 60), 0u32..1000)
    }

    fn deal() -> impl Strategy<Value = (usize, Option<u32>, Vec<(usize, i64, u32)>)> {
        (
            0..STAGES.len() - 2,
            prop::option::of(1_000u32..90_000),
            prop::collection::vec(event(), 1..9),
        )
    }

    /// A generated deal: first stage index, amount, and its events (kind index, offset, value).
    type GenDeal = (usize, Option<u32>, Vec<(usize, i64, u32)>);

    fn scenario(deals: Vec<GenDeal>) -> Scenario {
        let deals = deals
            .into_iter()
            .enumerate()
            .map(|(i, (first, amount, mut evs))| {
                evs.sort_by_key(|e| e.1);
                let mut events = vec![ScenarioEvent {
                    at: start(),
                    kind: EventType::DealCreated,
                    stage: Some(STAGES[first].into()),
                    summary: None,
                    document: None,
                    starts_at: None,
                    meeting_id: None,
                    quote_id: None,
                    expires_on: None,
                    status: None,
                    note: None,
                }];
                for (k, mins, n) in evs {
                    let at = start() + SignedDuration::from_mins(mins + 1);
                    let kind = KINDS[k];
                    events.push(ScenarioEvent {
                        at,
                        kind: EventType::parse(kind).unwrap(),
                        stage: (kind == "stage_changed")
                            .then(|| STAGES[n as usize % STAGES.len()].into()),
                        summary: Some(format!("{kind} {n}")),
                        document: None,
                        starts_at: (kind == "meeting_booked")
                            .then(|| at + SignedDuration::from_hours(1 + (n % 96) as i64)),
                        meeting_id: matches!(kind, "meeting_booked" | "meeting_cancelled")
                            .then(|| format!("m{}", n % 2)),
                        quote_id: None,
                        expires_on: (kind == "quote_sent").then(|| {
                            (at + SignedDuration::from_hours(24 * (1 + (n % 6) as i64)))
                                .to_zoned(jiff::tz::TimeZone::UTC)
                                .date()
                        }),
                        status: (kind == "status_changed").then(|| {
                            ["parked", "", "on_hold", "deprioritized"][n as usize % 4].into()
                        }),
                        note: None,
                    });
                }
                ScenarioDeal {
                    id: format!("P{i}"),
                    name: format!("Deal {i}"),
                    amount: amount.map(f64::from),
                    currency: Some("EUR".into()),
                    deal_type: None,
                    contact: ScenarioContact {
                        email: Some(format!("p{i}@example.com")),
                        first_name: Some("Pat".into()),
                        last_name: None,
                        company: Some("Co".into()),
                    },
                    events,
                }
            })
            .collect();
        Scenario {
            name: "property".into(),
            description: String::new(),
            start: start(),
            days: 12,
            sweep_minutes: 15,
            founder: FounderBehaviour {
                decide_after_hours: 5,
                reject_every: 4,
            },
            deals,
        }
    }

    fn run(s: &Scenario) -> Report {
        let config = Arc::new(Config::bundled().unwrap());
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(replay(s, config))
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Over random event sequences: nothing for parked deals or after a reply, one draft per
        /// occurrence and one send per draft, and every trigger fires within one sweep interval of
        /// its due time unless the budget or the per-deal cap held it back on purpose.
        #[test]
        fn the_engine_keeps_its_promises(deals in prop::collection::vec(deal(), 1..5)) {
            let r = run(&scenario(deals));
            prop_assert_eq!(r.drafts_on_parked_deals, 0, "{}", render(&r));
            prop_assert_eq!(r.drafts_after_reply, 0, "{}", render(&r));
            prop_assert_eq!(r.duplicate_drafts, 0);
            prop_assert_eq!(r.duplicate_sends, 0);
            prop_assert_eq!(r.late, r.late_by_budget_or_cap, "{}", render(&r));
            prop_assert_eq!(r.max_unexplained_lateness_secs, 0);
        }
    }

    #[test]
    fn a_parked_deal_with_a_waiting_proposal_produces_nothing_and_an_unparked_one_resumes() {
        let mut s = scenario(vec![]);
        let ev = |at: &str, kind: &str, stage: Option<&str>, status: Option<&str>| ScenarioEvent {
            at: at.parse().unwrap(),
            kind: EventType::parse(kind).unwrap(),
            stage: stage.map(Into::into),
            summary: None,
            document: None,
            starts_at: None,
            meeting_id: None,
            quote_id: None,
            expires_on: None,
            status: status.map(Into::into),
            note: None,
        };
        s.deals.push(ScenarioDeal {
            id: "X".into(),
            name: "Parked".into(),
            amount: Some(1000.0),
            currency: None,
            deal_type: None,
            contact: ScenarioContact {
                email: Some("x@example.com".into()),
                first_name: Some("X".into()),
                ..Default::default()
            },
            events: vec![
                ev(
                    "2026-03-23T08:00:00Z",
                    "deal_created",
                    Some("contractsent"),
                    None,
                ),
                ev(
                    "2026-03-24T08:00:00Z",
                    "status_changed",
                    None,
                    Some("parked"),
                ),
                ev("2026-03-30T08:00:00Z", "status_changed", None, Some("")),
            ],
        });
        let r = run(&s);
        assert_eq!(r.drafts_on_parked_deals, 0);
        // Parked through the 72 h mark; once un-parked, the overdue follow-up fires at the next sweep.
        assert_eq!(
            r.by_trigger.get("proposal_no_reply"),
            Some(&1),
            "{}",
            render(&r)
        );
        let first = r.per_day.iter().find(|d| d.drafts > 0).unwrap();
        assert_eq!(first.date, "2026-03-30");
    }

    /// The shipped scenario's report, as `draftgate replay examples/scenarios/b2b-services-90-days.json`
    /// prints it. A change here is a change in what the founder would see over a quarter.
    #[test]
    fn the_shipped_quarter_replays_to_its_known_report() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/scenarios/b2b-services-90-days.json"
        );
        let r = run(&load(std::path::Path::new(path)).unwrap());
        let text = render(&r);
        assert_eq!((r.deals, r.events, r.days), (32, 229, 90));
        // Waiting drafts whose reason went (a reply, a follow-up sent on the same deal) leave the
        // queue at once, superseded, instead of when the founder reaches them.
        // Deals entering the proposal stage get their proposal drafted (8); a proposal document
        // sent meanwhile supersedes the waiting draft.
        // Stage nudges count their quiet from the last conversation, so a deal that talks gets its
        // nudge a window after it (or not at all when it moves on first).
        assert_eq!((r.drafts, r.briefs, r.incomplete), (72, 25, 7), "{text}");
        let by: Vec<(&str, usize)> = r.by_trigger.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            by,
            vec![
                ("call_no_next_step", 5),
                ("lead_no_second_reply", 9),
                ("proposal_draft", 8),
                ("proposal_no_reply", 8),
                ("quote_expired", 4),
                ("stage_unchanged", 38)
            ],
            "{text}"
        );
        assert_eq!(
            (r.approved, r.sent, r.rejected, r.superseded),
            (53, 53, 8, 11),
            "{text}"
        );
        // The must-be-zero checks.
        assert_eq!(
            (
                r.drafts_on_parked_deals,
                r.drafts_after_reply,
                r.duplicate_drafts,
                r.duplicate_sends
            ),
            (0, 0, 0, 0)
        );
        // Only the follow-ups the budget held back on Friday 13 February fired late.
        assert_eq!(
            (
                r.late,
                r.late_by_budget_or_cap,
                r.max_unexplained_lateness_secs,
                r.deferrals
            ),
            (4, 4, 0, 4),
            "{text}"
        );
        let day = |d: &str| {
            r.per_day
                .iter()
                .find(|row| row.date == d)
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(
            (day("2026-02-13").drafts, day("2026-02-13").deferred),
            (10, 4),
            "{text}"
        );
        assert_eq!(
            day("2026-02-14").drafts,
            4,
            "the deferred follow-ups go out the next day"
        );
        // The quote expiring on the DST change day (Berlin) is drafted that day, next to a
        // re-engagement due the same day.
        assert_eq!(day("2026-03-29").drafts, 2, "{text}");
        assert_eq!(r.max_queue, 8);
    }

    /// One deal of the shipped scenario, replayed alone.
    fn shipped_deal(id: &str) -> Report {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/scenarios/b2b-services-90-days.json"
        );
        let mut s = load(std::path::Path::new(path)).unwrap();
        s.deals.retain(|d| d.id == id);
        assert_eq!(s.deals.len(), 1, "{id}");
        run(&s)
    }

    fn drafted_on(r: &Report) -> Vec<(&str, usize)> {
        r.per_day
            .iter()
            .filter(|d| d.drafts > 0)
            .map(|d| (d.date.as_str(), d.drafts))
            .collect()
    }

    #[test]
    fn a_prospect_who_answered_mid_stage_is_re_engaged_a_window_after_the_answer() {
        let r = shipped_deal("D31");
        assert_eq!(
            r.by_trigger.get("stage_unchanged"),
            Some(&1),
            "{}",
            render(&r)
        );
        // Entered qualified 02-02; Lucius wrote 02-06: the nudge comes 02-13, not 02-09.
        assert_eq!(drafted_on(&r), vec![("2026-02-13", 1)], "{}", render(&r));
        assert_eq!(r.drafts_after_reply, 0);
    }

    #[test]
    fn the_founders_own_mail_is_the_proposal_follow_up() {
        let r = shipped_deal("D32");
        assert_eq!(
            r.by_trigger.get("proposal_no_reply"),
            None,
            "{}",
            render(&r)
        );
        assert_eq!(
            r.by_trigger.get("stage_unchanged"),
            Some(&1),
            "{}",
            render(&r)
        );
        // Her mail of 02-17 15:00 starts the quiet: the proposal stage's nudge comes 02-24.
        assert!(
            drafted_on(&r).contains(&("2026-02-24", 1)),
            "{}",
            render(&r)
        );
        assert_eq!(r.drafts_after_reply, 0);
    }
}
