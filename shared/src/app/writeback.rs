//! CRM write-back: what draftgate proposes to change in a CRM, and the queue worker that writes
//! it once a person approved.
//!
//! A diff is proposed on a draft (`Draft::crm_update`), limited to the fields the config allows
//! (`[writeback] fields`), shown on the review page, and written only as approved. Writes run
//! from their own queue (SQS FIFO with a DLQ in AWS): a CRM that refuses or does not answer
//! never loses the decision. Each write of a job is recorded when done (a marker per step), so
//! a retried job does not log or write twice; a failure shows on the review page and in the
//! audit log, and the message is retried, then kept in the DLQ for a redrive.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::civil::{Date, Weekday};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{audit, short_hash, Core, WorkError};
use crate::config::Config;
use crate::domain::{
    AuditEntry, AuditKind, CallNote, CrmField, CrmUpdate, Deal, DealRef, Draft, FieldChange, Stage,
    Writeback, WritebackStatus,
};
use crate::ports::{Activity, ActivityKind, CrmError, CrmWriter, Queue, QueueError, QueueMessage};

/// A unit of work on the write-back queue: everything to write, computed when it was approved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WriteJob {
    /// Names the job's writes for idempotency (`draft:<id>`, `outcome:<event id>`).
    pub key: String,
    /// When it was queued (a new approval of the same draft is a new message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<Timestamp>,
    pub deal: DealRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<String>,
    pub ops: Vec<WriteOp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WriteOp {
    Log { activity: Activity },
    Update { changes: Vec<FieldChange> },
}

impl WriteJob {
    pub fn message(&self) -> QueueMessage {
        QueueMessage {
            body: serde_json::to_string(self).expect("serialisable"),
            group_id: format!("{}:{}", self.deal.crm, self.deal.id),
            dedup_id: short_hash(&[
                &self.key,
                &self.queued_at.map(|t| t.to_string()).unwrap_or_default(),
            ]),
        }
    }
}

/// Put `job` on the write-back queue (nothing when it has nothing to write, or its CRM is not
/// one draftgate writes to).
pub async fn enqueue(queue: &dyn Queue, config: &Config, job: &WriteJob) -> Result<(), QueueError> {
    if job.ops.is_empty() || !config.crms.writes_to(&job.deal.crm) {
        return Ok(());
    }
    queue.send(&job.message()).await
}

/// The write-back job of an approved draft: its activity and the changes approved.
pub fn job_for(
    config: &Config,
    draft: &Draft,
    activity: Option<Activity>,
    changes: &[FieldChange],
) -> WriteJob {
    let mut ops = Vec::new();
    let activity_at = activity.as_ref().map(|a| a.at);
    if let Some(a) = activity.filter(|_| config.writeback.log_activities) {
        ops.push(WriteOp::Log { activity: a });
    }
    let allowed: Vec<FieldChange> = changes
        .iter()
        .filter(|c| config.writeback.allows(c.field))
        .cloned()
        .collect();
    if !allowed.is_empty() {
        ops.push(WriteOp::Update { changes: allowed });
    }
    WriteJob {
        queued_at: activity_at,
        key: format!("draft:{}", draft.id),
        deal: draft.deal.clone(),
        draft_id: Some(draft.id.clone()),
        ops,
    }
}

/// `deal.won` / `deal.lost` from the event bus (EventBridge delivers its envelope to the queue):
/// the outcome logged on the deal's record.
fn outcome_job(envelope: &Value) -> Option<WriteJob> {
    let kind = envelope
        .get("detail-type")
        .or_else(|| envelope.get("detail_type"))?
        .as_str()?;
    let outcome = kind.strip_prefix("deal.")?;
    let d = envelope.get("detail")?;
    let deal: DealRef = serde_json::from_value(d.get("deal")?.clone()).ok()?;
    let event_id = d.get("event_id")?.as_str()?;
    let at: Timestamp = d.get("closed_at")?.as_str()?.parse().ok()?;
    let mut body = format!(
        "{} {outcome}.",
        d.get("name").and_then(Value::as_str).unwrap_or("The deal")
    );
    if let Some(amount) = d.get("amount").and_then(Value::as_f64) {
        let currency = d.get("currency").and_then(Value::as_str).unwrap_or("");
        body.push_str(&format!(" Final value: {amount} {currency}."));
    }
    if let Some(reason) = d.get("reason").and_then(Value::as_str) {
        body.push_str(&format!(" Reason: {reason}."));
    }
    Some(WriteJob {
        queued_at: None,
        key: format!("outcome:{event_id}"),
        deal,
        draft_id: None,
        ops: vec![WriteOp::Log {
            activity: Activity {
                kind: ActivityKind::Note,
                subject: format!("Outcome logged by draftgate: {outcome}"),
                body: body.trim().to_string(),
                at,
                by: "draftgate".into(),
                to: None,
            },
        }],
    })
}

/// The write-back worker (the crm-writeback function; the runner's worker).
pub struct CrmWriteback {
    pub core: Core,
    pub writers: HashMap<String, Arc<dyn CrmWriter>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteOutcome {
    pub written: Vec<String>,
    pub skipped: usize,
}

impl CrmWriteback {
    pub async fn handle(&self, body: &str) -> Result<WriteOutcome, WorkError> {
        let value: Value =
            serde_json::from_str(body).map_err(|e| WorkError::Invalid(e.to_string()))?;
        let job = if value.get("ops").is_some() {
            serde_json::from_value::<WriteJob>(value)
                .map_err(|e| WorkError::Invalid(e.to_string()))?
        } else {
            match outcome_job(&value) {
                Some(job) if self.core.config.writeback.log_activities => job,
                Some(_) => {
                    return Ok(WriteOutcome {
                        written: vec![],
                        skipped: 1,
                    })
                }
                None => {
                    return Err(WorkError::Invalid(
                        "neither a write job nor a deal.won / deal.lost event".into(),
                    ))
                }
            }
        };
        let span = tracing::info_span!("crm_write", deal = %job.deal, job = %job.key);
        let _ = &span;
        self.run(&job).await
    }

    async fn run(&self, job: &WriteJob) -> Result<WriteOutcome, WorkError> {
        let c = &self.core;
        let mut outcome = WriteOutcome {
            written: Vec::new(),
            skipped: 0,
        };
        // Only for a draft a person approved, once its message is out: nothing is written for
        // a rejected, superseded or unsent draft.
        if let Some(id) = &job.draft_id {
            use crate::domain::DraftStatus as S;
            let status = c.store.get_draft(id).await?.map(|d| d.status);
            match status {
                Some(S::Sent | S::Approved | S::Brief) => {}
                Some(S::Sending) => {
                    return Err(WorkError::Retryable(
                        "the draft's message is still being sent".into(),
                    ))
                }
                other => {
                    let why = match other {
                        Some(s) => format!("the draft is {s}, not approved"),
                        None => "the draft does not exist".into(),
                    };
                    audit(
                        &*c.audit,
                        AuditEntry::new(
                            c.clock.now(),
                            AuditKind::CrmWriteSkipped,
                            "crm-writeback",
                            json!({ "job": job.key, "reason": why }),
                        )
                        .deal(&job.deal)
                        .draft(id),
                    )
                    .await?;
                    tracing::info!(reason = %why, "CRM write-back skipped");
                    outcome.skipped = job.ops.len();
                    return Ok(outcome);
                }
            }
        }
        let Some(writer) = self.writers.get(&job.deal.crm).cloned() else {
            let why = format!(
                "no API credentials for {} are configured, so nothing can be written",
                job.deal.crm
            );
            self.failed(job, &why).await?;
            return Err(WorkError::Retryable(why.into()));
        };
        for (i, op) in job.ops.iter().enumerate() {
            let marker = format!("crm-write:{}:{i}", job.key);
            if c.store.marker(&marker).await?.is_some() {
                outcome.skipped += 1;
                continue;
            }
            let result = match op {
                WriteOp::Log { activity } => writer
                    .log_activity(&job.deal.id, activity)
                    .await
                    .map(|id| vec![format!("{:?} logged ({id})", activity.kind).to_lowercase()]),
                WriteOp::Update { changes } => {
                    // Only what the config allows now, whatever was queued.
                    let allowed: Vec<FieldChange> = changes
                        .iter()
                        .filter(|ch| c.config.writeback.allows(ch.field))
                        .cloned()
                        .collect();
                    if allowed.is_empty() {
                        Ok(vec![])
                    } else {
                        writer.update_deal(&job.deal.id, &allowed).await
                    }
                }
            };
            match result {
                Ok(lines) => {
                    c.store
                        .set_marker(&marker, &c.clock.now().to_string())
                        .await?;
                    outcome.written.extend(lines);
                }
                Err(e) => {
                    let why = describe(&e);
                    self.failed(job, &why).await?;
                    return Err(WorkError::Retryable(why.into()));
                }
            }
        }
        self.done(job, &outcome).await?;
        tracing::info!(
            written = outcome.written.len(),
            skipped = outcome.skipped,
            "CRM write-back done"
        );
        Ok(outcome)
    }

    async fn set_state(
        &self,
        job: &WriteJob,
        status: WritebackStatus,
        error: Option<String>,
    ) -> Result<(), WorkError> {
        let Some(id) = &job.draft_id else {
            return Ok(());
        };
        let c = &self.core;
        for _ in 0..4 {
            let Some(mut draft) = c.store.get_draft(id).await? else {
                return Ok(());
            };
            let expected = draft.status;
            let previous = draft.writeback.clone();
            let changes = job
                .ops
                .iter()
                .find_map(|o| match o {
                    WriteOp::Update { changes } => Some(changes.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            draft.writeback = Some(Writeback {
                status,
                at: c.clock.now(),
                changes,
                attempts: previous.map_or(0, |p| p.attempts) + 1,
                error: error.clone(),
            });
            match c.store.update_draft(&draft, expected).await {
                Err(crate::ports::StoreError::Conflict) => continue,
                other => return other.map_err(WorkError::from),
            }
        }
        Ok(())
    }

    async fn failed(&self, job: &WriteJob, why: &str) -> Result<(), WorkError> {
        tracing::warn!(deal = %job.deal, job = %job.key, error = %why, "CRM write-back failed; the queue retries it");
        self.set_state(job, WritebackStatus::Failed, Some(why.to_string()))
            .await?;
        let mut entry = AuditEntry::new(
            self.core.clock.now(),
            AuditKind::CrmWriteFailed,
            "crm-writeback",
            json!({ "job": job.key, "error": why }),
        )
        .deal(&job.deal);
        if let Some(id) = &job.draft_id {
            entry = entry.draft(id);
        }
        audit(&*self.core.audit, entry).await?;
        Ok(())
    }

    async fn done(&self, job: &WriteJob, outcome: &WriteOutcome) -> Result<(), WorkError> {
        self.set_state(job, WritebackStatus::Done, None).await?;
        let mut entry = AuditEntry {
            id: format!("crm-written-{}", short_hash(&[&job.key])),
            ..AuditEntry::new(
                self.core.clock.now(),
                AuditKind::CrmWritten,
                "crm-writeback",
                json!({ "job": job.key, "requests": outcome.written, "ops": job.ops }),
            )
        }
        .deal(&job.deal);
        if let Some(id) = &job.draft_id {
            entry = entry.draft(id);
        }
        audit(&*self.core.audit, entry).await?;
        Ok(())
    }
}

/// A CRM error as the founder reads it on the review page (no URLs, no credentials).
fn describe(e: &CrmError) -> String {
    match e {
        CrmError::NotFound(path) => format!("the CRM has no record at {path}"),
        CrmError::Unavailable(cause) => format!("the CRM did not answer: {cause}"),
        CrmError::Invalid(why) => format!("the CRM refused the write: {why}"),
    }
}

// ---- Proposing a CRM update from a call's notes ----

/// The CRM update a call's notes call for: the next step (and its date) the notes name, a stage
/// move they state (or a proposal they promise, from the qualified stage), an amount they
/// state, and the notes themselves as the deal's note. Every value comes from the notes' own
/// text and names that line as its source; only fields the config allows are proposed.
pub fn call_update(deal: &Deal, note: &CallNote, config: &Config) -> CrmUpdate {
    call_update_read(deal, note, config, None)
}

/// What a model read in free-text call notes. It only points at the notes' own words; draftgate
/// turns them into values with the same readers as labelled lines (a date from `date_words`,
/// an amount from `amount_words`), and keeps nothing whose words the notes do not hold.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct NotesReading {
    /// The people on the call, as the notes name them.
    #[serde(default)]
    pub attendees: Vec<String>,
    /// What was discussed, in a sentence or two.
    #[serde(default)]
    pub discussed: Option<String>,
    #[serde(default)]
    pub next_step: Option<String>,
    /// The notes' words that say when the next step is ("by Friday", "2026-12-11").
    #[serde(default)]
    pub next_step_date_words: Option<String>,
    /// qualified | proposal | negotiating, with the notes' words that say so.
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub stage_words: Option<String>,
    /// The notes' words that state the deal's value ("budget is around 24k").
    #[serde(default)]
    pub amount_words: Option<String>,
}

/// The longest next step or summary kept from a model's reading (characters).
const MAX_READ: usize = 300;

/// `words`, when the notes hold them (case and spacing aside).
fn quoted<'a>(notes: &str, words: Option<&'a str>) -> Option<&'a str> {
    let squash = |t: &str| {
        t.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let w = words?.trim();
    (w.chars().count() >= 2 && squash(notes).contains(&squash(w))).then_some(w)
}

/// Fill what labelled lines did not say from a model's reading, keeping only what the notes'
/// own words hold (labelled lines always win).
fn apply_reading(read: &mut LabelledNotes<'_>, note: &CallNote, call_day: Date, r: &NotesReading) {
    let text = note.text.as_str();
    let from = |w: &str| {
        format!(
            "call notes: '{}' ({})",
            crate::domain::headers::one_line(w),
            note.source
        )
    };
    let grounded = |t: &str| {
        !t.trim().is_empty()
            && t.chars().count() <= MAX_READ
            && crate::domain::grounding::unsourced(t, &[text], &[]).is_empty()
    };
    if read.next_step.is_none() {
        if let Some(step) = r.next_step.as_deref().filter(|s| grounded(s)) {
            let step = crate::domain::headers::one_line(step);
            read.next_step = Some((
                step.clone(),
                format!(
                    "call notes, as read by the model, every fact in it checked against them ({})",
                    note.source
                ),
            ));
        }
    }
    if read.next_date.is_none() {
        if let Some(w) = quoted(text, r.next_step_date_words.as_deref()) {
            if let Some(d) = date_in(w, call_day) {
                read.next_date = Some((d, from(w)));
            }
        }
    }
    if read.stage.is_none() {
        if let (Some(stage), Some(w)) = (
            r.stage.as_deref().and_then(stage_named),
            quoted(text, r.stage_words.as_deref()),
        ) {
            read.stage = Some((stage, from(w)));
        }
    }
    if read.amount.is_none() {
        if let Some(w) = quoted(text, r.amount_words.as_deref()) {
            if let Some(n) = money(w) {
                read.amount = Some((n, from(w)));
            }
        }
    }
}

/// The note logged on the deal: who was on the call and what was discussed, as a model read
/// them (each name held by the notes, the summary checked against them), then the notes.
fn read_note(note: &CallNote, r: &NotesReading, rest: &str) -> String {
    let text = note.text.as_str();
    let mut out = Vec::new();
    let names: Vec<String> = r
        .attendees
        .iter()
        .filter_map(|a| quoted(text, Some(a)))
        .map(crate::domain::headers::one_line)
        .collect();
    if !names.is_empty() {
        out.push(format!("Attendees: {}.", names.join(", ")));
    }
    if let Some(d) = r.discussed.as_deref().filter(|d| {
        d.chars().count() <= MAX_READ
            && !d.trim().is_empty()
            && crate::domain::grounding::unsourced(d, &[text], &[]).is_empty()
    }) {
        out.push(crate::domain::headers::one_line(d));
    }
    out.push(rest.to_string());
    out.join(" ")
}

/// [`call_update`], with what a model read in free-text notes filling what labelled lines do
/// not say.
pub fn call_update_read(
    deal: &Deal,
    note: &CallNote,
    config: &Config,
    reading: Option<&NotesReading>,
) -> CrmUpdate {
    let tz = config.timezone();
    let call_day = note.at.to_zoned(tz).date();
    let mut read = read_labelled_lines(note, call_day);
    if let Some(r) = reading {
        apply_reading(&mut read, note, call_day, r);
    }
    // Promising a proposal from the qualified stage moves the deal to the proposal stage.
    if read.stage.is_none() && deal.stage == Some(Stage::Qualified) {
        if let Some((step, source)) = &read.next_step {
            if step.to_lowercase().contains("proposal") {
                read.stage = Some((
                    Stage::Proposal,
                    format!("{source}: the next step is a proposal"),
                ));
            }
        }
    }
    let changes = proposed_changes(deal, &read, config);
    let rest = read.rest.join(" ");
    let rest = match reading {
        Some(r) => read_note(note, r, &rest),
        None => rest,
    };
    let summary = crate::domain::checks::excerpt(rest.trim(), 600);
    CrmUpdate {
        changes,
        note: (!summary.is_empty()).then_some(summary),
    }
}

/// What labelled lines of call notes say (`Next step:`, `Due:`, `Stage:`, `Budget:`, `Lost
/// because:`), each with the line it came from; the other lines, for the note.
struct LabelledNotes<'a> {
    next_step: Option<(String, String)>,
    next_date: Option<(Date, String)>,
    stage: Option<(Stage, String)>,
    amount: Option<(f64, String)>,
    reason: Option<(String, String)>,
    rest: Vec<&'a str>,
}

fn read_labelled_lines(note: &CallNote, call_day: Date) -> LabelledNotes<'_> {
    let mut next_step: Option<(String, String)> = None;
    let mut next_date: Option<(Date, String)> = None;
    let mut stage: Option<(Stage, String)> = None;
    let mut amount: Option<(f64, String)> = None;
    let mut reason: Option<(String, String)> = None;
    let mut rest = Vec::new();
    let lines: Vec<&str> = note.text.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        let bare = line.trim_start_matches(['-', '*', '•', ' ']);
        let Some((label, value)) = bare.split_once(':') else {
            rest.push(*line);
            continue;
        };
        let label = label.trim().to_lowercase();
        let mut value = value.trim().to_string();
        let source = format!("call notes, line {} ({})", i + 1, note.source);
        match label.as_str() {
            "next step" | "next steps" | "next" | "action" | "action item" => {
                // "Next steps:" followed by a list: its first item.
                if value.is_empty() {
                    if let Some(item) = lines.get(i + 1) {
                        value = item.trim_start_matches(['-', '*', '•', ' ']).to_string();
                    }
                }
                if !value.is_empty() {
                    if next_date.is_none() {
                        if let Some(d) = date_in(&value, call_day) {
                            next_date = Some((d, source.clone()));
                        }
                    }
                    next_step = Some((value, source));
                }
            }
            "due" | "by" | "next step date" | "follow up on" | "follow-up on" | "follow up" => {
                if let Some(d) = date_in(&value, call_day) {
                    next_date = Some((d, source));
                }
            }
            "stage" | "move to" | "move stage to" => {
                if let Some(s) = stage_named(&value) {
                    stage = Some((s, source));
                }
            }
            "budget" | "amount" | "value" | "deal value" => {
                if let Some(n) = money(&value) {
                    amount = Some((n, source));
                }
            }
            "lost because" | "close reason" | "reason lost" | "loss reason" => {
                if !value.is_empty() {
                    reason = Some((value, source));
                }
            }
            _ => rest.push(*line),
        }
    }
    LabelledNotes {
        next_step,
        next_date,
        stage,
        amount,
        reason,
        rest,
    }
}

/// The changes the notes call for, each only where the config allows the field and the CRM
/// does not have it already.
fn proposed_changes(deal: &Deal, read: &LabelledNotes<'_>, config: &Config) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let allow = |f: CrmField| config.writeback.allows(f);
    let current_step = deal.facts.get("deal.next_step").map(|f| f.value.clone());
    if let Some((step, source)) = read.next_step.clone().filter(|_| allow(CrmField::NextStep)) {
        if current_step.as_deref() != Some(step.as_str()) {
            changes.push(FieldChange {
                field: CrmField::NextStep,
                from: current_step,
                to: step,
                shown: None,
                source,
            });
        }
    }
    if let Some((date, source)) = read
        .next_date
        .clone()
        .filter(|_| allow(CrmField::NextStepDate))
    {
        changes.push(FieldChange {
            field: CrmField::NextStepDate,
            from: None,
            to: date.to_string(),
            shown: Some(date.strftime("%a %-d %b %Y").to_string()),
            source,
        });
    }
    if let Some((target, source)) = read.stage.clone().filter(|_| allow(CrmField::Stage)) {
        if deal.stage != Some(target) {
            if let Some(raw) = raw_stage_for(config, &deal.key.crm, target) {
                changes.push(FieldChange {
                    field: CrmField::Stage,
                    from: deal.raw_stage.clone(),
                    to: raw.clone(),
                    shown: Some(format!("{} ({raw})", target.as_str().replace('_', " "))),
                    source,
                });
            }
        }
    }
    if let Some((value, source)) = read.amount.clone().filter(|_| allow(CrmField::Amount)) {
        if deal.amount != Some(value) {
            changes.push(FieldChange {
                field: CrmField::Amount,
                from: deal.amount.map(|a| a.to_string()),
                to: value.to_string(),
                shown: None,
                source,
            });
        }
    }
    if let Some((text, source)) = read.reason.clone().filter(|_| allow(CrmField::CloseReason)) {
        changes.push(FieldChange {
            field: CrmField::CloseReason,
            from: None,
            to: text,
            shown: None,
            source,
        });
    }
    changes
}

/// The CRM's own id of a canonical open stage: the first of its ids the config maps there.
fn raw_stage_for(config: &Config, crm: &str, stage: Stage) -> Option<String> {
    if stage.is_closed() {
        return None;
    }
    config
        .stages
        .get(crm)?
        .iter()
        .find(|(id, s)| **s == stage && !matches!(id.as_str(), "won" | "lost"))
        .map(|(id, _)| id.clone())
}

fn stage_named(text: &str) -> Option<Stage> {
    let t = text.trim().to_lowercase();
    let t = t.trim_end_matches('.');
    match t {
        "qualified" | "qualification" => Some(Stage::Qualified),
        "proposal" | "proposal sent" | "proposal stage" => Some(Stage::Proposal),
        "negotiating" | "negotiation" | "negotiations" => Some(Stage::Negotiating),
        _ => None,
    }
}

/// An amount as notes write it: `€24,000`, `24000 EUR`, `24k`.
fn money(text: &str) -> Option<f64> {
    let t = text.to_lowercase();
    let digits: String = t
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | 'k'))
        .collect();
    let thousands = digits.ends_with('k');
    let n: f64 = digits.trim_end_matches('k').replace(',', "").parse().ok()?;
    Some(if thousands { n * 1000.0 } else { n })
}

/// A date in the notes' words, relative to the call's day: `2026-12-04`, `Friday`, `tomorrow`,
/// `next week`, `in 3 days`.
fn date_in(text: &str, call_day: Date) -> Option<Date> {
    let t = text.to_lowercase();
    for word in t.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
        if let Ok(d) = word.trim_end_matches('.').parse::<Date>() {
            return Some(d);
        }
    }
    if t.contains("tomorrow") {
        return call_day.tomorrow().ok();
    }
    if t.contains("next week") {
        return call_day.checked_add(jiff::Span::new().days(7)).ok();
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    for w in words.windows(3) {
        if w[0] == "in" && w[2].starts_with("day") {
            // Notes may say anything: a day count out of range is no date, never a panic.
            if let Ok(n) = w[1].parse::<i64>() {
                return jiff::Span::new()
                    .try_days(n)
                    .ok()
                    .and_then(|span| call_day.checked_add(span).ok());
            }
        }
    }
    const DAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    for (name, day) in DAYS {
        if t.split(|c: char| !c.is_alphabetic()).any(|w| w == name) {
            return call_day.nth_weekday(1, day).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::bundled().unwrap();
        c.writeback.fields = CrmField::ALL.to_vec();
        c
    }

    fn deal() -> Deal {
        let mut d = Deal::new(
            DealRef::new("hubspot", "9001"),
            "2026-11-20T10:00:00Z".parse().unwrap(),
        );
        d.stage = Some(Stage::Qualified);
        d.raw_stage = Some("qualifiedtobuy".into());
        d.amount = Some(20000.0);
        d
    }

    fn note(text: &str) -> CallNote {
        CallNote {
            // A Thursday.
            at: "2026-11-26T15:00:00Z".parse().unwrap(),
            text: text.into(),
            source: "hubspot call-1".into(),
        }
    }

    #[test]
    fn a_models_reading_of_free_notes_keeps_only_what_the_notes_words_hold() {
        let text = "Good call with Dana Whitfield and Raj from Acme.\nThey are ready for a proposal and the budget is around 24k.\nDana will review it with legal by next Tuesday.";
        let reading = NotesReading {
            attendees: vec!["Dana Whitfield".into(), "Raj".into(), "Tom Hanks".into()],
            discussed: Some("Acme is ready for a proposal; budget around 24k.".into()),
            next_step: Some("Dana will review it with legal".into()),
            next_step_date_words: Some("by next Tuesday".into()),
            stage: Some("proposal".into()),
            stage_words: Some("ready for a proposal".into()),
            amount_words: Some("budget is around 24k".into()),
        };
        let u = call_update_read(&deal(), &note(text), &config(), Some(&reading));
        let by: HashMap<CrmField, &FieldChange> = u.changes.iter().map(|c| (c.field, c)).collect();
        assert_eq!(by[&CrmField::NextStep].to, "Dana will review it with legal");
        // Our reader, not the model, turns the words into a date: Tuesday after Thu 26 Nov.
        assert_eq!(by[&CrmField::NextStepDate].to, "2026-12-01");
        assert!(by[&CrmField::NextStepDate]
            .source
            .contains("'by next Tuesday'"));
        assert_eq!(by[&CrmField::Stage].to, "contractsent");
        assert_eq!(by[&CrmField::Amount].to, "24000");
        let logged = u.note.unwrap();
        assert!(
            logged.starts_with("Attendees: Dana Whitfield, Raj. Acme is ready"),
            "{logged}"
        );
        assert!(
            !logged.contains("Tom Hanks"),
            "a name the notes do not hold"
        );

        // Words the notes do not hold, an invented amount, a stage with no words: nothing.
        let invented = NotesReading {
            next_step: Some("Send the 30% discount offer".into()),
            next_step_date_words: Some("on 2026-12-24".into()),
            stage: Some("negotiating".into()),
            stage_words: Some("they want to negotiate".into()),
            amount_words: Some("budget is 90k".into()),
            discussed: Some("They agreed to 90000 EUR.".into()),
            ..NotesReading::default()
        };
        let u = call_update_read(&deal(), &note(text), &config(), Some(&invented));
        assert!(u.changes.is_empty(), "{:?}", u.changes);
        assert!(!u.note.unwrap().contains("90000"));
        // Labelled lines win over the reading.
        let labelled = "Next step: call Raj\nDue: 2026-12-03";
        let u = call_update_read(&deal(), &note(labelled), &config(), Some(&reading));
        let by: HashMap<CrmField, &FieldChange> = u.changes.iter().map(|c| (c.field, c)).collect();
        assert_eq!(by[&CrmField::NextStep].to, "call Raj");
        assert_eq!(by[&CrmField::NextStepDate].to, "2026-12-03");
    }

    #[test]
    fn notes_name_the_next_step_its_date_the_stage_and_the_budget_each_with_its_line() {
        let u = call_update(
            &deal(),
            &note("Walked through the migration plan.\nThey worry about downtime.\nNext step: send the proposal by Friday\nBudget: €24,000"),
            &config(),
        );
        let by: HashMap<CrmField, &FieldChange> = u.changes.iter().map(|c| (c.field, c)).collect();
        assert_eq!(by[&CrmField::NextStep].to, "send the proposal by Friday");
        assert_eq!(
            by[&CrmField::NextStepDate].to,
            "2026-11-27",
            "the Friday after the call"
        );
        assert_eq!(
            by[&CrmField::Stage].to,
            "contractsent",
            "a promised proposal moves a qualified deal"
        );
        assert_eq!(by[&CrmField::Stage].from.as_deref(), Some("qualifiedtobuy"));
        assert_eq!(by[&CrmField::Amount].to, "24000");
        assert!(by[&CrmField::NextStep].source.contains("line 3"));
        assert_eq!(
            u.note.as_deref(),
            Some("Walked through the migration plan. They worry about downtime.")
        );
    }

    #[test]
    fn only_allowed_fields_are_proposed_and_unchanged_values_are_not() {
        let mut c = config();
        c.writeback.fields = vec![CrmField::NextStep];
        let u = call_update(
            &deal(),
            &note(
                "Next steps:\n- book a workshop on 2026-12-03\nStage: negotiation\nBudget: 20000",
            ),
            &c,
        );
        assert_eq!(u.changes.len(), 1, "{:?}", u.changes);
        assert_eq!(u.changes[0].to, "book a workshop on 2026-12-03");
        let c = config();
        let u = call_update(&deal(), &note("Budget: 20k"), &c);
        assert!(
            u.changes.is_empty(),
            "the amount is already 20000: {:?}",
            u.changes
        );
    }

    #[test]
    fn dates_read_as_notes_write_them() {
        let thu: Date = "2026-11-26".parse().unwrap();
        assert_eq!(
            date_in("tomorrow", thu),
            Some("2026-11-27".parse().unwrap())
        );
        assert_eq!(
            date_in("call them next week", thu),
            Some("2026-12-03".parse().unwrap())
        );
        assert_eq!(
            date_in("in 10 days", thu),
            Some("2026-12-06".parse().unwrap())
        );
        assert_eq!(
            date_in("by Monday", thu),
            Some("2026-11-30".parse().unwrap())
        );
        assert_eq!(
            date_in("on 2027-01-05.", thu),
            Some("2027-01-05".parse().unwrap())
        );
        assert_eq!(date_in("soon", thu), None);
        // Found by the call_notes fuzz target: a day count beyond any calendar.
        assert_eq!(
            date_in("ge in 000000003404998151422704695 day 88", thu),
            None
        );
        assert_eq!(date_in("in 99999999 days", thu), None);
        assert_eq!(money("€24,000"), Some(24000.0));
        assert_eq!(money("about 12.5k EUR"), Some(12500.0));
    }

    #[test]
    fn a_bus_outcome_becomes_one_note_keyed_by_its_event() {
        let job = outcome_job(&json!({
            "detail-type": "deal.lost",
            "detail": { "schema_version": 1, "event_id": "e1", "deal": { "crm": "hubspot", "id": "9" },
                        "name": "Acme", "amount": 1200.0, "currency": "EUR", "reason": "budget", "closed_at": "2026-11-26T10:00:00Z" }
        }))
        .unwrap();
        assert_eq!(job.key, "outcome:e1");
        let WriteOp::Log { activity } = &job.ops[0] else {
            panic!()
        };
        assert_eq!(
            activity.body,
            "Acme lost. Final value: 1200 EUR. Reason: budget."
        );
    }
}
