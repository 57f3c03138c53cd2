//! The weekly pipeline summary: open deals by stage with their value, days since the last
//! activity, next-step status, deals past their stage's milestone, what happened to the week's
//! drafts (created, approved, edited, rejected by reason, superseded), the median time to a
//! decision, and the deals won and lost (the post-mortem list). Sent once a week by email and
//! Slack and kept for `GET /summary`.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::Core;
use crate::domain::{DecisionAction, Draft, DraftStatus, ModelOutcome, Stage, TriggerKind};
use crate::ports::StoreError;

/// The latest summary, kept for the page.
pub const LATEST: &str = "summary:latest";
const MAX_DEALS: usize = 10_000;
const MAX_DRAFTS: usize = 5_000;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageLine {
    pub stage: String,
    pub deals: usize,
    /// Total deal value per currency.
    pub value: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DealLine {
    pub deal: String,
    pub name: String,
    pub stage: String,
    pub amount: Option<f64>,
    pub currency: Option<String>,
    pub days_since_activity: i64,
    pub next_step: String,
    /// In its stage longer than the stage's idle window.
    pub past_milestone: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClosedLine {
    pub deal: String,
    pub name: String,
    pub amount: Option<f64>,
    pub currency: Option<String>,
    pub reason: Option<String>,
    pub closed: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DraftCounts {
    pub created: usize,
    pub approved: usize,
    pub edited: usize,
    pub rejected: usize,
    pub rejected_by_reason: BTreeMap<String, usize>,
    pub superseded: usize,
    pub snoozed: usize,
    pub waiting_now: usize,
    /// What the founder's model did for the week's drafts (all zero without one).
    #[serde(default)]
    pub model: ModelCounts,
}

/// The model's week: calls made, tokens, and how each turn ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCounts {
    pub calls: usize,
    pub tokens: u64,
    /// Its draft was the one shown.
    pub written: usize,
    /// Of those, approved without an edit.
    pub approved_unedited: usize,
    /// Set aside: a claim no source holds, or the guardrail stopped it.
    pub refused: usize,
    /// No usable answer (error, timeout, throttling, not a draft): the template wrote.
    pub fallbacks: usize,
    /// Not asked: the day's calls were spent.
    pub capped: usize,
}

impl ModelCounts {
    fn count(&mut self, draft: &Draft) {
        let Some(m) = &draft.context.model else {
            return;
        };
        self.tokens += m.tokens.unwrap_or(0);
        if !matches!(m.outcome, ModelOutcome::Capped | ModelOutcome::NotAsked) {
            self.calls += 1;
        }
        match m.outcome {
            ModelOutcome::Written => {
                self.written += 1;
                let unedited = draft
                    .decision
                    .as_ref()
                    .is_some_and(|x| x.action == DecisionAction::Approve && !x.edited);
                self.approved_unedited += usize::from(unedited);
            }
            ModelOutcome::Refused => self.refused += 1,
            ModelOutcome::Failed => self.fallbacks += 1,
            ModelOutcome::Capped => self.capped += 1,
            ModelOutcome::NotAsked => {}
        }
    }

    /// The summary's line, or nothing when no model was asked this week.
    fn line(&self) -> Option<String> {
        (self.calls + self.capped > 0).then(|| {
            format!(
                "Model: {} calls, {} tokens; {} drafts written ({} approved unedited), {} set aside for an unsourced claim, {} fallbacks to the template, {} over the daily cap\n",
                self.calls, self.tokens, self.written, self.approved_unedited, self.refused, self.fallbacks, self.capped
            )
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeeklySummary {
    /// ISO week in the founder's time zone, e.g. `2026-W49`.
    pub week: String,
    pub from: String,
    pub to: String,
    pub generated_at: Timestamp,
    pub stages: Vec<StageLine>,
    pub open_deals: Vec<DealLine>,
    pub drafts: DraftCounts,
    pub median_hours_to_decision: Option<f64>,
    pub won: Vec<ClosedLine>,
    pub lost: Vec<ClosedLine>,
}

/// The ISO week (founder's time zone) a time falls in.
pub fn week_label(core: &Core, at: Timestamp) -> String {
    let d = at.to_zoned(core.config.timezone()).date();
    let w = d.iso_week_date();
    format!("{}-W{:02}", w.year(), w.week())
}

fn reason_kind(reason: &str) -> String {
    crate::domain::REJECT_REASONS
        .iter()
        .find(|(k, label)| *k != "other" && reason.starts_with(label))
        .map_or("other", |(k, _)| k)
        .to_string()
}

/// The summary of the seven days up to now.
pub async fn build(core: &Core) -> Result<WeeklySummary, StoreError> {
    let now = core.clock.now();
    let from = now - SignedDuration::from_hours(7 * 24);
    let tz = core.config.timezone();
    let words = |t: Timestamp| super::present::when(t, now, &tz);
    let deals = core.store.all_deals(MAX_DEALS).await?;

    // Open deals by canonical stage; deals without a mapped stage come first, as "no stage".
    let mut stages: BTreeMap<Option<Stage>, StageLine> = BTreeMap::new();
    let mut open_deals = Vec::new();
    let (mut won, mut lost) = (Vec::new(), Vec::new());
    for d in deals.iter().filter(|d| !d.deleted) {
        if let Some(stage) = d.stage.filter(|s| s.is_closed()) {
            if d.stage_entered_at >= from {
                let line = ClosedLine {
                    deal: d.key.to_string(),
                    name: d.name.clone(),
                    amount: d.amount,
                    currency: d.currency.clone(),
                    reason: super::outcome::reason(d),
                    closed: words(d.stage_entered_at),
                };
                if stage == Stage::ClosedWon {
                    won.push(line);
                } else {
                    lost.push(line);
                }
            }
            continue;
        }
        let stage = d.stage;
        let stage_name = stage.map_or("no stage".to_string(), |s| s.as_str().replace('_', " "));
        let line = stages.entry(stage).or_insert_with(|| StageLine {
            stage: stage_name.clone(),
            ..StageLine::default()
        });
        line.deals += 1;
        if let Some(a) = d.amount {
            *line
                .value
                .entry(d.currency.clone().unwrap_or_default())
                .or_default() += a;
        }
        let activity = d
            .last_contact_at()
            .unwrap_or(d.stage_entered_at)
            .max(d.stage_entered_at);
        let idle_hours = core
            .config
            .window(TriggerKind::StageUnchanged)
            .hours_for(stage, d.deal_type.as_deref());
        open_deals.push(DealLine {
            deal: d.key.to_string(),
            name: d.name.clone(),
            stage: stage_name,
            amount: d.amount,
            currency: d.currency.clone(),
            days_since_activity: now.duration_since(activity).as_hours().max(0) / 24,
            next_step: match d.next_meeting_at.filter(|m| *m > now) {
                Some(m) => format!("meeting {}", words(m)),
                None => "no next step booked".into(),
            },
            // Idle past the stage's window since its last conversation, as the engine counts.
            past_milestone: now.duration_since(crate::rules::quiet_since(d, now))
                > SignedDuration::from_hours(idle_hours as i64),
        });
    }
    open_deals.sort_by_key(|d| std::cmp::Reverse(d.days_since_activity));

    let mut drafts: Vec<Draft> = Vec::new();
    for st in DraftStatus::ALL {
        drafts.extend(core.store.drafts_by_status(st, None, MAX_DRAFTS).await?);
    }
    let (counts, median) = count_drafts(&drafts, from);
    Ok(WeeklySummary {
        week: week_label(core, now),
        from: from.to_zoned(tz.clone()).strftime("%a %-d %b").to_string(),
        to: now
            .to_zoned(tz.clone())
            .strftime("%a %-d %b %H:%M")
            .to_string(),
        generated_at: now,
        stages: stages.into_values().collect(),
        open_deals,
        drafts: counts,
        median_hours_to_decision: median.map(|h| (h * 10.0).round() / 10.0),
        won,
        lost,
    })
}

/// The week's drafts by what became of them, and the median hours from draft to decision.
fn count_drafts(drafts: &[Draft], from: Timestamp) -> (DraftCounts, Option<f64>) {
    let mut counts = DraftCounts::default();
    let mut to_decision = Vec::new();
    // The model's turns count on every draft, briefs included.
    for d in drafts.iter().filter(|d| d.created_at >= from) {
        counts.model.count(d);
    }
    for d in drafts.iter().filter(|d| d.status != DraftStatus::Brief) {
        if d.created_at >= from {
            counts.created += 1;
        }
        match d.status {
            DraftStatus::Pending => counts.waiting_now += 1,
            DraftStatus::Snoozed => {
                counts.waiting_now += 1;
                counts.snoozed += 1;
            }
            DraftStatus::Superseded if d.created_at >= from => counts.superseded += 1,
            _ => {}
        }
        let Some(x) = d.decision.as_ref().filter(|x| x.at >= from) else {
            continue;
        };
        to_decision.push(x.at.duration_since(d.created_at).as_secs_f64() / 3600.0);
        match x.action {
            DecisionAction::Approve => {
                counts.approved += 1;
                if x.edited {
                    counts.edited += 1;
                }
            }
            DecisionAction::Reject => {
                counts.rejected += 1;
                let kind = reason_kind(x.reason.as_deref().unwrap_or(""));
                *counts.rejected_by_reason.entry(kind).or_default() += 1;
            }
            DecisionAction::Snooze => {}
        }
    }
    to_decision.sort_by(f64::total_cmp);
    let median = match to_decision.len() {
        0 => None,
        n if n % 2 == 1 => Some(to_decision[n / 2]),
        n => Some((to_decision[n / 2 - 1] + to_decision[n / 2]) / 2.0),
    };
    (counts, median)
}

fn money(value: &BTreeMap<String, f64>) -> String {
    if value.is_empty() {
        return "no value recorded".into();
    }
    value
        .iter()
        .map(|(c, v)| {
            format!("{} {v:.0}", if c.is_empty() { "?" } else { c })
                .trim()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

impl WeeklySummary {
    /// The email / Slack text.
    pub fn text(&self) -> String {
        let mut t = format!(
            "Pipeline, week {} ({} to {})\n\n",
            self.week, self.from, self.to
        );
        t.push_str("Open deals by stage\n");
        for s in &self.stages {
            let plural = if s.deals == 1 { "" } else { "s" };
            t.push_str(&format!(
                "  {}: {} deal{plural}, {}\n",
                s.stage,
                s.deals,
                money(&s.value)
            ));
        }
        if self.stages.is_empty() {
            t.push_str("  none\n");
        }
        let past: Vec<&DealLine> = self
            .open_deals
            .iter()
            .filter(|d| d.past_milestone)
            .collect();
        t.push_str(&format!("\nPast their stage's milestone: {}\n", past.len()));
        for d in past {
            t.push_str(&format!(
                "  {} ({}): {} days since the last activity, {}\n",
                d.name, d.stage, d.days_since_activity, d.next_step
            ));
        }
        let c = &self.drafts;
        t.push_str(&format!(
            "\nDrafts this week: {} created, {} approved ({} edited), {} rejected, {} superseded; {} waiting now\n",
            c.created, c.approved, c.edited, c.rejected, c.superseded, c.waiting_now
        ));
        for (k, n) in &c.rejected_by_reason {
            t.push_str(&format!("  rejected as {}: {n}\n", k.replace('_', " ")));
        }
        if let Some(h) = self.median_hours_to_decision {
            t.push_str(&format!("Median time to a decision: {h} hours\n"));
        }
        if let Some(line) = c.model.line() {
            t.push_str(&line);
        }
        t.push_str(&format!("\nWon this week: {}\n", self.won.len()));
        for d in &self.won {
            t.push_str(&format!("  {} ({})\n", d.name, d.closed));
        }
        t.push_str(&format!(
            "Lost this week (post-mortem): {}\n",
            self.lost.len()
        ));
        for d in &self.lost {
            t.push_str(&format!(
                "  {} ({}): {}\n",
                d.name,
                d.closed,
                d.reason.as_deref().unwrap_or("no reason recorded")
            ));
        }
        t
    }
}
