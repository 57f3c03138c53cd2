//! `draftgate explain DEAL`: a deal's timeline and, for each trigger, why it fired, when it will
//! fire, or which stop condition holds, on the runner's store and clock.

use std::fmt::Write;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use shared::app::draft_id_for;
use shared::config::Config;
use shared::domain::{DealRef, EventKind};
use shared::ports::{AuditReader, PipelineStore};
use shared::rules::{self, TriggerState};

/// `hubspot:123`, or a bare id meaning HubSpot.
pub fn parse_deal(arg: &str) -> DealRef {
    match arg.split_once(':') {
        Some((crm, id)) => DealRef::new(crm, id),
        None => DealRef::new("hubspot", arg),
    }
}

pub fn human(d: SignedDuration) -> String {
    let secs = d.as_secs().abs();
    let (days, hours, mins) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    let text = match (days, hours) {
        (0, 0) => format!("{mins}m"),
        (0, h) => format!("{h}h {mins}m"),
        (d, h) => format!("{d}d {h}h"),
    };
    if d.is_negative() {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

fn when(t: Timestamp, now: Timestamp) -> String {
    format!(
        "{} ({})",
        t.strftime("%Y-%m-%d %H:%M UTC"),
        human(t.duration_since(now))
    )
}

fn event_text(kind: &EventKind) -> String {
    match kind {
        EventKind::StageChanged { raw_stage } => format!("stage changed to {raw_stage}"),
        EventKind::PropertyChanged { name, value } => format!("{name} = {value}"),
        EventKind::ProposalSent { name, .. } => format!(
            "proposal sent{}",
            name.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
        ),
        EventKind::ProspectReplied { summary }
        | EventKind::AutoReplyReceived { summary }
        | EventKind::LeadInquiry { summary }
        | EventKind::OutboundSent { summary }
        | EventKind::CallLogged { summary, .. }
        | EventKind::ProspectDeclined { summary }
        | EventKind::MeetingCancelled { summary, .. } => {
            format!("{}: {summary}", kind.label().replace('_', " "))
        }
        EventKind::MeetingBooked {
            summary, starts_at, ..
        } => match starts_at {
            Some(s) => format!(
                "meeting booked for {}: {summary}",
                s.strftime("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("meeting booked: {summary}"),
        },
        EventKind::QuoteSent {
            quote_id,
            expires_on,
        } => format!("quote {quote_id} sent, valid until {expires_on}"),
        EventKind::StatusChanged { status } => format!("status set to `{status}`"),
        EventKind::FollowUpSent { subject, .. } => format!("follow-up sent: \"{subject}\""),
        EventKind::FounderHold { hold, by, note } => format!(
            "{} (by {by}{})",
            hold.describe(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string()),
            note.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
        ),
        other => other.label().replace('_', " "),
    }
}

pub async fn explain(
    store: &dyn PipelineStore,
    audit_log: &dyn AuditReader,
    config: &Config,
    deal_ref: &DealRef,
    now: Timestamp,
) -> Result<String, String> {
    let deal = store
        .get_deal(deal_ref)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no deal {deal_ref} in this store"))?;
    let timeline = store.timeline(deal_ref).await.map_err(|e| e.to_string())?;
    let mut out = String::new();
    let w = &mut out;
    write_deal(w, &deal, deal_ref, now);
    let _ = writeln!(w, "\nTimeline (oldest first)");
    for e in &timeline {
        let _ = writeln!(
            w,
            "  {}  {:<9} {}",
            e.occurred_at.strftime("%Y-%m-%d %H:%M"),
            e.source,
            event_text(&e.kind)
        );
    }
    let _ = writeln!(w, "\nTriggers at {}", now.strftime("%Y-%m-%d %H:%M UTC"));
    let evaluation = rules::evaluate(&deal, config, now);
    for status in &evaluation.triggers {
        let t = status.trigger;
        let line = match &status.state {
            TriggerState::Fired { occurrence, due_at } => {
                let id = draft_id_for(&deal.key, occurrence);
                let draft = store.get_draft(&id).await.map_err(|e| e.to_string())?;
                let draft = draft
                    .map(|d| format!("draft {} is {}", d.id, d.status))
                    .unwrap_or_else(|| "draft not written yet".into());
                format!("fired: was due {}; {draft}", when(*due_at, now))
            }
            // Held back by the daily budget or the per-deal cap: looked at again then.
            TriggerState::Due { due_at, .. } => match deal.deferred_until.filter(|u| *u > now) {
                Some(until) if t.writes_to_prospect() => format!(
                    "due since {}, held back (the daily budget, or an undecided draft of this \
                     deal); looked at again {}",
                    when(*due_at, now),
                    when(until, now)
                ),
                _ => format!(
                    "due now (since {}); fires on the next sweep",
                    when(*due_at, now)
                ),
            },
            TriggerState::Scheduled { due_at, .. } => match deal.last_conversation(now) {
                // The quiet clock restarted with a conversation: say so.
                Some(c)
                    if t == shared::domain::TriggerKind::StageUnchanged
                        && c.at > deal.stage_entered_at =>
                {
                    format!(
                        "quiet since {} ({} {}) — re-engagement due {} unless a stop condition comes first",
                        when(c.at, now),
                        c.kind.words(),
                        shared::app::present::ago(c.at, now),
                        when(*due_at, now)
                    )
                }
                _ => format!(
                    "will fire {} unless a stop condition comes first",
                    when(*due_at, now)
                ),
            },
            TriggerState::Stopped { stop } => format!("will not fire: {stop}"),
        };
        let _ = writeln!(w, "  {:<22} {line}", t.as_str());
    }
    let audit = audit_log
        .entries(Some(deal_ref))
        .await
        .map_err(|e| e.to_string())?;
    let decisions: Vec<_> = audit
        .iter()
        .filter(|e| !e.kind.as_str().starts_with("event."))
        .collect();
    if !decisions.is_empty() {
        let _ = writeln!(w, "\nAudit (fired, drafted, decided, sent)");
        for e in decisions {
            let _ = writeln!(
                w,
                "  {}  {:<17} {}",
                e.at.strftime("%Y-%m-%d %H:%M"),
                e.kind,
                e.actor
            );
        }
    }
    Ok(out)
}

/// The deal as it stands: stage, amount, contact, when it is next due, and any hold.
fn write_deal(w: &mut String, deal: &shared::domain::Deal, deal_ref: &DealRef, now: Timestamp) {
    let _ = writeln!(w, "Deal {deal_ref}: {}", deal.name);
    let stage = deal
        .stage
        .map(|s| s.to_string())
        .unwrap_or_else(|| "unmapped".into());
    let _ = writeln!(
        w,
        "  stage {stage} ({}) since {}; amount {}; type {}; status {}",
        deal.raw_stage.as_deref().unwrap_or("-"),
        when(deal.stage_entered_at, now),
        deal.amount
            .map(|a| format!("{a} {}", deal.currency.as_deref().unwrap_or("")))
            .unwrap_or_else(|| "-".into())
            .trim(),
        deal.deal_type.as_deref().unwrap_or("-"),
        deal.status.as_deref().unwrap_or("-"),
    );
    let _ = writeln!(
        w,
        "  contact {}",
        deal.contact_email.as_deref().unwrap_or("(no email)")
    );
    match deal.next_due_at {
        Some(t) => {
            let _ = writeln!(w, "  next due {}", when(t, now));
        }
        None => {
            let _ = writeln!(w, "  next due: never (nothing can fire)");
        }
    }
    if let Some(until) = deal.deferred_until.filter(|u| *u > now) {
        let _ = writeln!(
            w,
            "  held back by the draft budget or the per-deal cap until {}",
            when(until, now)
        );
    }
}

/// On the runner's store in `data`, or with `aws` on its DynamoDB tables (the runner's clock
/// offset still read from `data` when it is there).
pub async fn run(data: &Path, config: &Config, deal: &str, aws: bool) -> Result<String, String> {
    let local = data.join("draftgate.sqlite3").exists();
    if !local && !aws {
        return Err(format!(
            "no runner store in {} (start `draftgate serve --data {}` first)",
            data.display(),
            data.display()
        ));
    }
    let embedded = if local {
        Some(shared::adapters::embedded::EmbeddedStore::open(data).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let offset_ms: i64 = embedded
        .as_ref()
        .and_then(|s| s.meta_get(crate::server::CLOCK_OFFSET_KEY).ok().flatten())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let now = Timestamp::now() + SignedDuration::from_millis(offset_ms);
    let deal = parse_deal(deal);
    if aws {
        let (store, audit) = crate::aws::tables(|k| std::env::var(k).ok()).await?;
        return explain(&store, &audit, config, &deal, now).await;
    }
    let store = embedded.expect("checked above");
    explain(&*store, &*store, config, &deal, now).await
}
