//! The follow-up rules, pure: given a deal, the config and "now", what fires, what is
//! scheduled, what is stopped and why, and when the deal is next due. Also how each canonical
//! event changes a deal's state.

mod apply;

pub use apply::apply;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::config::Config;
use crate::domain::{occurrence_key, ContactKind, Deal, Firing, Stage, TriggerKind};

/// Why a trigger does not fire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopReason {
    Deleted,
    Parked {
        status: String,
    },
    ParkedByFounder,
    WrongContact {
        email: String,
    },
    Closed {
        stage: Stage,
    },
    UnmappedStage {
        raw_stage: Option<String>,
    },
    NoProposalSent,
    NoCallLogged,
    NoQuote,
    NoLeadInquiry,
    NoMeetingScheduled,
    NoCallNotes,
    NotWritable {
        crm: String,
    },
    NoProposalTemplates,
    NotInProposalStage,
    /// What the trigger reacts to happened too long ago to act on now (a first sync's history).
    TooOld {
        what: &'static str,
        at: Timestamp,
    },
    ProposalSent {
        at: Timestamp,
    },
    Replied {
        at: Timestamp,
    },
    /// Two-way contact after the trigger's reference point: the conversation is live.
    Contact {
        at: Timestamp,
        kind: ContactKind,
    },
    MeetingBooked {
        at: Timestamp,
    },
    NextMeetingScheduled {
        at: Timestamp,
    },
    Declined {
        at: Timestamp,
    },
    StageMoved {
        to: Option<Stage>,
    },
    FollowUpLimit {
        sent: u32,
    },
    MeetingPassed {
        at: Timestamp,
    },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Deleted => write!(f, "the deal was deleted in the CRM"),
            StopReason::Parked { status } => write!(f, "the deal is parked ({status})"),
            StopReason::ParkedByFounder => write!(f, "the deal was parked from the review queue"),
            StopReason::WrongContact { email } => write!(
                f,
                "{email} was marked the wrong contact; the CRM must name another"
            ),
            StopReason::Closed { stage } => write!(f, "the deal is closed ({stage})"),
            StopReason::UnmappedStage { raw_stage } => write!(
                f,
                "the deal's stage `{}` is not mapped to a canonical stage",
                raw_stage.as_deref().unwrap_or("(none)")
            ),
            StopReason::NoProposalSent => write!(f, "no proposal has been sent"),
            StopReason::NoCallLogged => write!(f, "no call has been logged"),
            StopReason::NoQuote => write!(f, "no quote with an expiry date"),
            StopReason::NoLeadInquiry => write!(f, "not a lead inquiry"),
            StopReason::NoMeetingScheduled => write!(f, "no meeting is scheduled"),
            StopReason::NoCallNotes => write!(f, "no call with notes has been logged"),
            StopReason::NotWritable { crm } => {
                write!(
                    f,
                    "draftgate writes nothing back to {crm}, or write-back is off"
                )
            }
            StopReason::NoProposalTemplates => {
                write!(f, "no proposal templates are configured ([[proposals]])")
            }
            StopReason::NotInProposalStage => write!(f, "the deal is not in the proposal stage"),
            StopReason::TooOld { what, at } => {
                write!(f, "{what} at {at}, too long ago to act on")
            }
            StopReason::ProposalSent { at } => write!(f, "a proposal was sent at {at}"),
            StopReason::Replied { at } => write!(f, "the prospect replied at {at}"),
            StopReason::Contact { at, kind } => write!(f, "{} at {at}", kind.words()),
            StopReason::MeetingBooked { at } => write!(f, "a meeting was booked at {at}"),
            StopReason::NextMeetingScheduled { at } => {
                write!(f, "the next meeting is scheduled for {at}")
            }
            StopReason::Declined { at } => write!(f, "the prospect declined at {at}"),
            StopReason::StageMoved { to } => match to {
                Some(s) => write!(f, "the deal moved to {s}"),
                None => write!(f, "the deal moved stage"),
            },
            StopReason::FollowUpLimit { sent } => write!(
                f,
                "{sent} follow-ups went unanswered; draftgate stops there"
            ),
            StopReason::MeetingPassed { at } => write!(f, "the meeting at {at} has passed"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TriggerState {
    /// Due now and not yet claimed.
    Due {
        occurrence: String,
        due_at: Timestamp,
    },
    /// Will fire at `due_at` unless a stop condition arrives first.
    Scheduled {
        occurrence: String,
        due_at: Timestamp,
    },
    /// This occurrence already fired.
    Fired {
        occurrence: String,
        due_at: Timestamp,
    },
    Stopped {
        stop: StopReason,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TriggerStatus {
    pub trigger: TriggerKind,
    #[serde(flatten)]
    pub state: TriggerState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub due: Vec<Firing>,
    pub next_due_at: Option<Timestamp>,
    pub triggers: Vec<TriggerStatus>,
}

/// Stop conditions that silence every trigger of a deal.
fn deal_wide_stop(deal: &Deal, config: &Config) -> Option<StopReason> {
    if deal.deleted {
        return Some(StopReason::Deleted);
    }
    if deal.founder_parked {
        return Some(StopReason::ParkedByFounder);
    }
    if let Some(status) = deal
        .status
        .as_deref()
        .filter(|s| config.is_parked_status(s))
    {
        return Some(StopReason::Parked {
            status: status.to_string(),
        });
    }
    match deal.stage {
        Some(stage) if stage.is_closed() => Some(StopReason::Closed { stage }),
        _ => None,
    }
}

/// How long after a call or a move into the proposal stage draftgate still drafts for it: older
/// ones (a first sync reads months of history) are not news.
const FRESH_FOR: SignedDuration = SignedDuration::from_hours(7 * 24);

fn hours(h: u32) -> SignedDuration {
    SignedDuration::from_hours(h as i64)
}

/// `hours` after local midnight of `date` in `tz`, as wall-clock time: 9 means 09:00 local on
/// that day even across a DST change (a time inside a DST gap moves forward, like a clock).
pub fn local_time_on(date: jiff::civil::Date, hours: u32, tz: &jiff::tz::TimeZone) -> Timestamp {
    let day = date
        .checked_add(jiff::Span::new().days((hours / 24) as i64))
        .unwrap_or(date);
    let at = day.at((hours % 24) as i8, 0, 0, 0);
    tz.to_ambiguous_zoned(at)
        .compatible()
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| Timestamp::MAX)
}

fn replied_since(deal: &Deal, since: Timestamp) -> Result<(), StopReason> {
    match deal.last_inbound_at.filter(|at| *at >= since) {
        Some(at) => Err(StopReason::Replied { at }),
        None => Ok(()),
    }
}

/// Any two-way contact after a follow-up's reference point (a reply, a call, a booked or held
/// meeting, the founder's own mail, another approved send): the conversation is live, and the
/// follow-up has no reason left. The founder's own mail is the follow-up itself.
fn talked_since(deal: &Deal, since: Timestamp, now: Timestamp) -> Result<(), StopReason> {
    match deal.two_way_contact(now).filter(|c| c.at > since) {
        Some(c) if c.kind == ContactKind::Reply => Err(StopReason::Replied { at: c.at }),
        Some(c) => Err(StopReason::Contact {
            at: c.at,
            kind: c.kind,
        }),
        None => Ok(()),
    }
}

fn declined_since(deal: &Deal, since: Timestamp) -> Result<(), StopReason> {
    match deal.declined_at.filter(|at| *at >= since) {
        Some(at) => Err(StopReason::Declined { at }),
        None => Ok(()),
    }
}

/// The current occurrence of `trigger` on `deal` and when it is due, or why there is none.
/// The trigger's current occurrence on the deal (its key and when it is due), or why it has
/// none. A person's holds apply here: a snoozed deal is due no earlier than the snooze's end,
/// an occurrence re-armed for later comes back under a new key at its time, and a contact
/// marked wrong gets no follow-ups.
pub fn occurrence(
    deal: &Deal,
    trigger: TriggerKind,
    config: &Config,
    now: Timestamp,
) -> Result<(String, Timestamp), StopReason> {
    let (mut key, mut due) = base_occurrence(deal, trigger, config, now)?;
    if !trigger.writes_to_prospect() {
        return Ok((key, due));
    }
    // (Most deals have no contact marked wrong: nothing to compare, nothing allocated.)
    if !deal.wrong_contacts.is_empty() {
        let contact = deal
            .contact_email
            .clone()
            .or_else(|| deal.facts.get("contact.email").map(|f| f.value.clone()))
            .map(|e| e.to_ascii_lowercase());
        if let Some(email) = contact.filter(|e| deal.wrong_contacts.contains(e)) {
            return Err(StopReason::WrongContact { email });
        }
    }
    if let Some(r) = deal.rearmed.get(&key) {
        key = format!("{key}#rearm{}", r.times);
        due = due.max(r.at);
    }
    if let Some(until) = deal.snoozed_until {
        due = due.max(until);
    }
    Ok((key, due))
}

fn base_occurrence(
    deal: &Deal,
    trigger: TriggerKind,
    config: &Config,
    now: Timestamp,
) -> Result<(String, Timestamp), StopReason> {
    if let Some(stop) = deal_wide_stop(deal, config) {
        return Err(stop);
    }
    let window = config
        .window(trigger)
        .hours_for(deal.stage, deal.deal_type.as_deref());
    match trigger {
        TriggerKind::ProposalNoReply => proposal_no_reply(deal, window, now),
        TriggerKind::CallNoNextStep => call_no_next_step(deal, window, now),
        TriggerKind::StageUnchanged => stage_unchanged(deal, window, now),
        TriggerKind::QuoteExpired => quote_expired(deal, window, config),
        TriggerKind::LeadNoSecondReply => lead_no_second_reply(deal, window, config, now),
        TriggerKind::MeetingPrep => meeting_prep(deal, window, now),
        TriggerKind::CallNotes => call_notes(deal, window, config, now),
        TriggerKind::ProposalDraft => proposal_draft(deal, window, config, now),
    }
}

fn proposal_no_reply(
    deal: &Deal,
    window: u32,
    now: Timestamp,
) -> Result<(String, Timestamp), StopReason> {
    let sent = deal.proposal_sent_at.ok_or(StopReason::NoProposalSent)?;
    replied_since(deal, sent)?;
    if let Some(at) = deal.meeting_booked_at.filter(|at| *at >= sent) {
        return Err(StopReason::MeetingBooked { at });
    }
    talked_since(deal, sent, now)?;
    declined_since(deal, sent)?;
    if deal.stage_entered_at > sent && deal.stage != Some(Stage::Proposal) {
        return Err(StopReason::StageMoved { to: deal.stage });
    }
    Ok((
        occurrence_key(TriggerKind::ProposalNoReply.as_str(), None, sent),
        sent + hours(window),
    ))
}

fn call_no_next_step(
    deal: &Deal,
    window: u32,
    now: Timestamp,
) -> Result<(String, Timestamp), StopReason> {
    let call = deal.last_call_at.ok_or(StopReason::NoCallLogged)?;
    if let Some(at) = deal.meeting_booked_at.filter(|at| *at >= call) {
        return Err(StopReason::MeetingBooked { at });
    }
    if let Some(at) = deal.next_meeting_at.filter(|at| *at > call) {
        return Err(StopReason::NextMeetingScheduled { at });
    }
    // The prospect wrote after the call, the founder did, or another follow-up went
    // out: the next step is in hand.
    talked_since(deal, call, now)?;
    declined_since(deal, call)?;
    Ok((
        occurrence_key(TriggerKind::CallNoNextStep.as_str(), None, call),
        call + hours(window),
    ))
}

fn stage_unchanged(
    deal: &Deal,
    window: u32,
    now: Timestamp,
) -> Result<(String, Timestamp), StopReason> {
    let Some(stage) = deal.stage else {
        return Err(StopReason::UnmappedStage {
            raw_stage: deal.raw_stage.clone(),
        });
    };
    // Quiet in the same stage: a spell starts at the stage entry or the last
    // conversation, whichever is later, and gets one re-engagement, a window after it
    // (or after draftgate's last follow-up, if that came later). A deal that goes quiet
    // again after a reply is re-engaged one window after the reply, never forgotten.
    let since = quiet_since(deal, now);
    let quiet_from = deal
        .follow_up_sent_at
        .filter(|at| *at > since)
        .unwrap_or(since);
    Ok((
        occurrence_key(
            TriggerKind::StageUnchanged.as_str(),
            Some(stage.as_str()),
            since,
        ),
        quiet_from + hours(window),
    ))
}

fn quote_expired(
    deal: &Deal,
    window: u32,
    config: &Config,
) -> Result<(String, Timestamp), StopReason> {
    let expires = deal.quote_expires_on.ok_or(StopReason::NoQuote)?;
    // A final outreach about a date: only the prospect's answer to the quote settles it
    // (a draft already waiting is still withdrawn by any contact, see `still_holds`).
    if let Some(sent) = deal.quote_sent_at {
        replied_since(deal, sent)?;
    }
    // A quote sent after its own expiry morning is due as soon as we know of it.
    let due = local_time_on(expires, window, &config.timezone())
        .max(deal.quote_sent_at.unwrap_or(Timestamp::MIN));
    Ok((format!("{}#{expires}", TriggerKind::QuoteExpired), due))
}

fn lead_no_second_reply(
    deal: &Deal,
    window: u32,
    config: &Config,
    now: Timestamp,
) -> Result<(String, Timestamp), StopReason> {
    let inquiry = deal.lead_inquiry_at.ok_or(StopReason::NoLeadInquiry)?;
    if matches!(deal.stage, Some(Stage::Proposal | Stage::Negotiating)) {
        return Err(StopReason::StageMoved { to: deal.stage });
    }
    // Wait on our last message to the lead (or on the inquiry if we never answered).
    let anchor = deal
        .last_outbound_at
        .filter(|o| *o >= inquiry)
        .unwrap_or(inquiry);
    // The lead's second message ends this trigger for good: the conversation is on. So
    // does a call or a meeting (our own messages only move the wait).
    if let Some(at) = deal.last_inbound_at.filter(|at| *at > inquiry) {
        return Err(StopReason::Replied { at });
    }
    if let Some(c) = deal
        .two_way_contact(now)
        .filter(|c| c.at > anchor)
        .filter(|c| !matches!(c.kind, ContactKind::FounderMail | ContactKind::FollowUpSent))
    {
        return Err(StopReason::Contact {
            at: c.at,
            kind: c.kind,
        });
    }
    declined_since(deal, inquiry)?;
    if deal.lead_follow_ups >= config.lead_max_follow_ups {
        return Err(StopReason::FollowUpLimit {
            sent: deal.lead_follow_ups,
        });
    }
    Ok((
        occurrence_key(TriggerKind::LeadNoSecondReply.as_str(), None, anchor),
        anchor + hours(window),
    ))
}

fn meeting_prep(
    deal: &Deal,
    window: u32,
    now: Timestamp,
) -> Result<(String, Timestamp), StopReason> {
    let meeting = deal.next_meeting_at.ok_or(StopReason::NoMeetingScheduled)?;
    if now >= meeting {
        return Err(StopReason::MeetingPassed { at: meeting });
    }
    // A meeting booked at short notice gets its brief as soon as it is booked.
    let due = (meeting - hours(window)).max(deal.meeting_booked_at.unwrap_or(Timestamp::MIN));
    Ok((
        occurrence_key(TriggerKind::MeetingPrep.as_str(), None, meeting),
        due,
    ))
}

fn call_notes(
    deal: &Deal,
    window: u32,
    config: &Config,
    now: Timestamp,
) -> Result<(String, Timestamp), StopReason> {
    let wb = &config.writeback;
    let note = deal
        .last_call_note
        .as_ref()
        .ok_or(StopReason::NoCallNotes)?;
    // A call from a first sync's history is not a call to write up now.
    if now.duration_since(note.at) > FRESH_FOR {
        return Err(StopReason::TooOld {
            what: "the call",
            at: note.at,
        });
    }
    if !config.crms.writes_to(&deal.key.crm) || (wb.fields.is_empty() && !wb.log_activities) {
        return Err(StopReason::NotWritable {
            crm: deal.key.crm.clone(),
        });
    }
    Ok((
        occurrence_key(TriggerKind::CallNotes.as_str(), None, note.at),
        note.at + hours(window),
    ))
}

fn proposal_draft(
    deal: &Deal,
    window: u32,
    config: &Config,
    now: Timestamp,
) -> Result<(String, Timestamp), StopReason> {
    if config.proposals.is_empty() {
        return Err(StopReason::NoProposalTemplates);
    }
    if deal.stage != Some(Stage::Proposal) {
        return Err(StopReason::NotInProposalStage);
    }
    let entered = deal.proposal_entered_at.unwrap_or(deal.stage_entered_at);
    if now.duration_since(entered) > FRESH_FOR {
        return Err(StopReason::TooOld {
            what: "the deal entered the proposal stage",
            at: entered,
        });
    }
    if let Some(at) = deal.proposal_document_at.filter(|at| *at >= entered) {
        return Err(StopReason::ProposalSent { at });
    }
    Ok((
        occurrence_key(TriggerKind::ProposalDraft.as_str(), None, entered),
        entered + hours(window),
    ))
}

/// How much a deal's follow-up matters when the budget is short: bigger and staler first.
pub fn priority(deal: &Deal, limits: &crate::config::Limits, now: Timestamp) -> f64 {
    let amount = deal.amount.unwrap_or(0.0).max(0.0) / 1000.0;
    let since = deal.last_contact_at().unwrap_or(deal.stage_entered_at);
    let days = now.duration_since(since).as_secs_f64() / 86_400.0;
    limits.amount_weight * amount + limits.staleness_weight * days.max(0.0)
}

/// Where a deal's spell of quiet in its stage starts: its stage entry, or its last
/// conversation (see [`Deal::last_conversation`]).
pub fn quiet_since(deal: &Deal, now: Timestamp) -> Timestamp {
    deal.last_conversation(now)
        .map_or(deal.stage_entered_at, |c| c.at.max(deal.stage_entered_at))
}

/// Evaluate every trigger of a deal at `now`.
pub fn evaluate(deal: &Deal, config: &Config, now: Timestamp) -> Evaluation {
    let mut due = Vec::new();
    let mut next: Option<Timestamp> = None;
    let mut triggers = Vec::with_capacity(TriggerKind::ALL.len());
    for trigger in TriggerKind::ALL {
        let state = match occurrence(deal, trigger, config, now) {
            Err(stop) => TriggerState::Stopped { stop },
            Ok((occurrence, due_at)) if deal.fired.contains(&occurrence) => {
                TriggerState::Fired { occurrence, due_at }
            }
            Ok((occurrence, due_at)) => {
                // A deal held back by the daily budget is looked at again when the hold ends.
                let wake = match deal.deferred_until {
                    Some(until) if trigger.writes_to_prospect() => due_at.max(until),
                    _ => due_at,
                };
                // Due-but-unclaimed stays in the due index until the evaluator claims it.
                next = Some(next.map_or(wake, |n| n.min(wake)));
                if due_at <= now {
                    due.push(Firing {
                        deal: deal.key.clone(),
                        trigger,
                        occurrence: occurrence.clone(),
                        due_at,
                        fired_at: now,
                    });
                    TriggerState::Due { occurrence, due_at }
                } else {
                    TriggerState::Scheduled { occurrence, due_at }
                }
            }
        };
        triggers.push(TriggerStatus { trigger, state });
    }
    Evaluation {
        due,
        next_due_at: next,
        triggers,
    }
}

/// Re-check before drafting and before sending: does the occurrence a draft was written for
/// (claimed at `since`) still hold? A follow-up is also withdrawn by any two-way contact after
/// `since`: a reply, a call, a meeting, the founder's own mail, another approved send.
pub fn still_holds(
    deal: &Deal,
    trigger: TriggerKind,
    occurrence_key: &str,
    since: Timestamp,
    config: &Config,
    now: Timestamp,
) -> Result<(), StopReason> {
    let contact_since = || match deal.two_way_contact(now) {
        Some(c) if trigger.is_follow_up() && c.at > since => Err(StopReason::Contact {
            at: c.at,
            kind: c.kind,
        }),
        _ => Ok(()),
    };
    match occurrence(deal, trigger, config, now) {
        Err(stop) => Err(stop),
        Ok((current, _)) if current == occurrence_key => contact_since(),
        // Same stage, another occurrence: the quiet the draft was written for was broken by
        // a conversation.
        Ok(_) if trigger == TriggerKind::StageUnchanged && same_stage(occurrence_key, deal) => {
            match deal.last_conversation(now) {
                Some(c) => Err(StopReason::Contact {
                    at: c.at,
                    kind: c.kind,
                }),
                None => Err(StopReason::StageMoved { to: deal.stage }),
            }
        }
        // Another occurrence of a follow-up because of contact since (a newer call, our own
        // mail to a lead): say so, not that the deal moved.
        Ok(_) if trigger.is_follow_up() && deal.stage_entered_at <= since => {
            match deal.two_way_contact(now).filter(|c| c.at > since) {
                Some(c) => Err(StopReason::Contact {
                    at: c.at,
                    kind: c.kind,
                }),
                None => Err(StopReason::StageMoved { to: deal.stage }),
            }
        }
        // A different occurrence means the deal moved on since drafting (new stage, new proposal).
        Ok(_) => Err(StopReason::StageMoved { to: deal.stage }),
    }
}

/// Whether a `stage_unchanged` occurrence key is for the deal's current stage.
fn same_stage(occurrence_key: &str, deal: &Deal) -> bool {
    deal.stage.is_some_and(|s| {
        occurrence_key.starts_with(&format!(
            "{}#{}#",
            TriggerKind::StageUnchanged.as_str(),
            s.as_str()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::{DealEvent, DealRef, EventKind};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn config() -> Config {
        Config::bundled().expect("bundled config")
    }

    fn ev(at: &str, kind: EventKind) -> DealEvent {
        DealEvent {
            id: format!("e-{at}"),
            deal: DealRef::new("hubspot", "1"),
            occurred_at: ts(at),
            source: "hubspot".into(),
            kind,
            snapshot: None,
        }
    }

    fn deal_in_proposal(sent: &str) -> Deal {
        let c = config();
        let mut d = Deal::new(DealRef::new("hubspot", "1"), ts("2026-01-01T00:00:00Z"));
        apply(
            &mut d,
            &ev(
                "2026-01-01T00:00:00Z",
                EventKind::StageChanged {
                    raw_stage: "qualifiedtobuy".into(),
                },
            ),
            &c,
        );
        apply(
            &mut d,
            &ev(
                sent,
                EventKind::StageChanged {
                    raw_stage: "contractsent".into(),
                },
            ),
            &c,
        );
        d
    }

    #[test]
    fn entering_the_proposal_stage_drafts_the_proposal_at_once_until_a_document_goes_out() {
        let c = config();
        let d = deal_in_proposal("2026-01-05T10:00:00Z");
        let e = evaluate(&d, &c, ts("2026-01-05T10:00:00Z"));
        assert_eq!(e.due.len(), 1);
        assert_eq!(e.due[0].trigger, TriggerKind::ProposalDraft);
        let mut sent = d.clone();
        apply(
            &mut sent,
            &ev(
                "2026-01-05T12:00:00Z",
                EventKind::ProposalSent {
                    document_id: "doc".into(),
                    name: None,
                },
            ),
            &c,
        );
        assert!(matches!(
            state_of(
                &evaluate(&sent, &c, ts("2026-01-05T12:00:00Z")),
                TriggerKind::ProposalDraft
            ),
            TriggerState::Stopped {
                stop: StopReason::ProposalSent { .. }
            }
        ));
        // A deal that entered the stage weeks ago (a first sync's history) gets no proposal.
        assert!(matches!(
            state_of(
                &evaluate(&d, &c, ts("2026-01-13T10:00:00Z")),
                TriggerKind::ProposalDraft
            ),
            TriggerState::Stopped {
                stop: StopReason::TooOld { .. }
            }
        ));
        let mut none = c.clone();
        none.proposals.clear();
        assert!(matches!(
            state_of(
                &evaluate(&d, &none, ts("2026-01-05T10:00:00Z")),
                TriggerKind::ProposalDraft
            ),
            TriggerState::Stopped {
                stop: StopReason::NoProposalTemplates
            }
        ));
    }

    fn state_of(e: &Evaluation, t: TriggerKind) -> &TriggerState {
        &e.triggers.iter().find(|s| s.trigger == t).unwrap().state
    }

    #[test]
    fn proposal_no_reply_fires_72_hours_after_the_proposal_and_not_a_second_before() {
        // Without proposal templates, nothing is drafted on entering the stage.
        let mut c = config();
        c.proposals.clear();
        let d = deal_in_proposal("2026-01-05T10:00:00Z");
        let before = evaluate(&d, &c, ts("2026-01-08T09:59:59Z"));
        assert!(before.due.is_empty());
        assert_eq!(before.next_due_at, Some(ts("2026-01-08T10:00:00Z")));
        let at = evaluate(&d, &c, ts("2026-01-08T10:00:00Z"));
        assert_eq!(at.due.len(), 1);
        assert_eq!(at.due[0].trigger, TriggerKind::ProposalNoReply);
        assert_eq!(
            at.due[0].occurrence,
            "proposal_no_reply#2026-01-05T10:00:00.000Z"
        );
    }

    #[test]
    fn a_reply_after_the_proposal_stops_the_follow_up() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        apply(
            &mut d,
            &ev(
                "2026-01-06T10:00:00Z",
                EventKind::ProspectReplied {
                    summary: "Looks good".into(),
                },
            ),
            &c,
        );
        let e = evaluate(&d, &c, ts("2026-01-09T00:00:00Z"));
        assert!(e
            .due
            .iter()
            .all(|f| f.trigger != TriggerKind::ProposalNoReply));
        assert!(matches!(
            state_of(&e, TriggerKind::ProposalNoReply),
            TriggerState::Stopped {
                stop: StopReason::Replied { .. }
            }
        ));
    }

    #[test]
    fn a_booked_meeting_stops_the_follow_up() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        apply(
            &mut d,
            &ev(
                "2026-01-06T10:00:00Z",
                EventKind::MeetingBooked {
                    summary: "Call booked".into(),
                    starts_at: None,
                    meeting_id: None,
                },
            ),
            &c,
        );
        let e = evaluate(&d, &c, ts("2026-01-09T00:00:00Z"));
        assert!(matches!(
            state_of(&e, TriggerKind::ProposalNoReply),
            TriggerState::Stopped {
                stop: StopReason::MeetingBooked { .. }
            }
        ));
    }

    #[test]
    fn a_parked_deal_produces_nothing() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        d.status = Some("parked".into());
        let e = evaluate(&d, &c, ts("2026-03-01T00:00:00Z"));
        assert!(e.due.is_empty());
        assert_eq!(e.next_due_at, None);
    }

    #[test]
    fn moving_stage_stops_the_proposal_follow_up_and_restarts_the_stage_clock() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        apply(
            &mut d,
            &ev(
                "2026-01-06T10:00:00Z",
                EventKind::StageChanged {
                    raw_stage: "decisionmakerboughtin".into(),
                },
            ),
            &c,
        );
        let e = evaluate(&d, &c, ts("2026-01-09T00:00:00Z"));
        assert!(matches!(
            state_of(&e, TriggerKind::ProposalNoReply),
            TriggerState::Stopped {
                stop: StopReason::StageMoved { .. }
            }
        ));
        match state_of(&e, TriggerKind::StageUnchanged) {
            TriggerState::Scheduled { due_at, .. } => {
                let hours = c
                    .window(TriggerKind::StageUnchanged)
                    .hours_for(Some(Stage::Negotiating), None) as i64;
                assert_eq!(
                    *due_at,
                    ts("2026-01-06T10:00:00Z") + SignedDuration::from_hours(hours)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stage_unchanged_fires_after_the_stage_window() {
        let c = config();
        let d = deal_in_proposal("2026-01-05T10:00:00Z");
        let hours = c
            .window(TriggerKind::StageUnchanged)
            .hours_for(Some(Stage::Proposal), None) as i64;
        let due = ts("2026-01-05T10:00:00Z") + SignedDuration::from_hours(hours);
        let e = evaluate(&d, &c, due - SignedDuration::from_secs(1));
        assert!(e
            .due
            .iter()
            .all(|f| f.trigger != TriggerKind::StageUnchanged));
        let e = evaluate(&d, &c, due);
        assert!(e
            .due
            .iter()
            .any(|f| f.trigger == TriggerKind::StageUnchanged));
    }

    #[test]
    fn a_fired_occurrence_does_not_fire_again_and_leaves_the_due_index() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        let now = ts("2026-01-08T10:00:00Z");
        let e = evaluate(&d, &c, now);
        for f in &e.due {
            d.fired.insert(f.occurrence.clone());
        }
        let e2 = evaluate(&d, &c, now);
        assert!(e2.due.is_empty());
        // Only the stage-unchanged trigger remains scheduled.
        assert!(e2.next_due_at.unwrap() > now);
    }

    #[test]
    fn an_out_of_order_stage_change_does_not_move_the_deal_backwards() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        apply(
            &mut d,
            &ev(
                "2026-01-02T00:00:00Z",
                EventKind::StageChanged {
                    raw_stage: "appointmentscheduled".into(),
                },
            ),
            &c,
        );
        assert_eq!(d.stage, Some(Stage::Proposal));
    }

    #[test]
    fn a_draft_is_superseded_when_the_prospect_replied_since_drafting() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        let occ = evaluate(&d, &c, ts("2026-01-08T10:00:00Z")).due[0]
            .occurrence
            .clone();
        assert_eq!(
            still_holds(
                &d,
                TriggerKind::ProposalNoReply,
                &occ,
                ts("2026-01-08T10:00:00Z"),
                &c,
                ts("2026-01-08T12:00:00Z")
            ),
            Ok(())
        );
        apply(
            &mut d,
            &ev(
                "2026-01-08T11:00:00Z",
                EventKind::ProspectReplied {
                    summary: "Yes".into(),
                },
            ),
            &c,
        );
        assert!(matches!(
            still_holds(
                &d,
                TriggerKind::ProposalNoReply,
                &occ,
                ts("2026-01-08T10:00:00Z"),
                &c,
                ts("2026-01-08T12:00:00Z")
            ),
            Err(StopReason::Replied { .. })
        ));
    }

    fn due_of(e: &Evaluation, t: TriggerKind) -> Option<Timestamp> {
        match state_of(e, t) {
            TriggerState::Due { due_at, .. }
            | TriggerState::Scheduled { due_at, .. }
            | TriggerState::Fired { due_at, .. } => Some(*due_at),
            TriggerState::Stopped { .. } => None,
        }
    }

    fn fires_at(d: &Deal, c: &Config, t: TriggerKind, at: Timestamp) {
        let before = evaluate(d, c, at - SignedDuration::from_secs(1));
        assert!(
            before.due.iter().all(|f| f.trigger != t),
            "{t} fired a second early"
        );
        let on = evaluate(d, c, at);
        assert!(
            on.due.iter().any(|f| f.trigger == t),
            "{t} did not fire at {at}: {:?}",
            state_of(&on, t)
        );
    }

    fn qualified_deal() -> Deal {
        let c = config();
        let mut d = Deal::new(DealRef::new("hubspot", "1"), ts("2026-01-01T00:00:00Z"));
        apply(
            &mut d,
            &ev(
                "2026-01-01T00:00:00Z",
                EventKind::StageChanged {
                    raw_stage: "qualifiedtobuy".into(),
                },
            ),
            &c,
        );
        d
    }

    #[test]
    fn call_no_next_step_fires_24_hours_after_the_call_unless_a_meeting_is_booked() {
        let c = config();
        let mut d = qualified_deal();
        apply(
            &mut d,
            &ev(
                "2026-01-02T15:00:00Z",
                EventKind::CallLogged {
                    summary: "Discovery call".into(),
                    note: None,
                },
            ),
            &c,
        );
        fires_at(
            &d,
            &c,
            TriggerKind::CallNoNextStep,
            ts("2026-01-03T15:00:00Z"),
        );
        let mut booked = d.clone();
        apply(
            &mut booked,
            &ev(
                "2026-01-02T16:00:00Z",
                EventKind::MeetingBooked {
                    summary: "Follow-up".into(),
                    starts_at: Some(ts("2026-01-09T10:00:00Z")),
                    meeting_id: Some("m1".into()),
                },
            ),
            &c,
        );
        let e = evaluate(&booked, &c, ts("2026-01-04T00:00:00Z"));
        assert!(matches!(
            state_of(&e, TriggerKind::CallNoNextStep),
            TriggerState::Stopped {
                stop: StopReason::MeetingBooked { .. }
            }
        ));
        let mut declined = d.clone();
        apply(
            &mut declined,
            &ev(
                "2026-01-02T18:00:00Z",
                EventKind::ProspectDeclined {
                    summary: "Not now".into(),
                },
            ),
            &c,
        );
        let e = evaluate(&declined, &c, ts("2026-01-04T00:00:00Z"));
        assert!(matches!(
            state_of(&e, TriggerKind::CallNoNextStep),
            TriggerState::Stopped {
                stop: StopReason::Declined { .. }
            }
        ));
    }

    #[test]
    fn quote_expired_fires_at_nine_in_the_founders_time_zone_on_the_expiry_day() {
        let c = config(); // Europe/Berlin
        let mut d = qualified_deal();
        let quote = |on: &str| EventKind::QuoteSent {
            quote_id: "q1".into(),
            expires_on: on.parse().unwrap(),
        };
        apply(&mut d, &ev("2026-01-05T10:00:00Z", quote("2026-01-20")), &c);
        // Winter: CET = UTC+1, so 09:00 local is 08:00 UTC.
        fires_at(
            &d,
            &c,
            TriggerKind::QuoteExpired,
            ts("2026-01-20T08:00:00Z"),
        );
        let mut reply = d.clone();
        apply(
            &mut reply,
            &ev(
                "2026-01-10T10:00:00Z",
                EventKind::ProspectReplied {
                    summary: "Reviewing".into(),
                },
            ),
            &c,
        );
        assert!(evaluate(&reply, &c, ts("2026-01-21T00:00:00Z"))
            .due
            .iter()
            .all(|f| f.trigger != TriggerKind::QuoteExpired));
    }

    #[test]
    fn quote_expiry_follows_the_local_clock_across_dst_changes() {
        let c = config();
        let tz = c.timezone();
        // Spring forward in Berlin on 2026-03-29: 09:00 CEST is 07:00 UTC.
        assert_eq!(
            local_time_on("2026-03-29".parse().unwrap(), 9, &tz),
            ts("2026-03-29T07:00:00Z")
        );
        assert_eq!(
            local_time_on("2026-03-28".parse().unwrap(), 9, &tz),
            ts("2026-03-28T08:00:00Z")
        );
        // Fall back on 2026-10-25: 09:00 CET is 08:00 UTC again.
        assert_eq!(
            local_time_on("2026-10-25".parse().unwrap(), 9, &tz),
            ts("2026-10-25T08:00:00Z")
        );
        // A time inside the spring-forward gap (02:30) moves forward like a clock: 03:30 CEST.
        assert_eq!(
            local_time_on("2026-03-29".parse().unwrap(), 2, &tz),
            ts("2026-03-29T01:00:00Z")
        );
        let mut d = qualified_deal();
        apply(
            &mut d,
            &ev(
                "2026-03-01T10:00:00Z",
                EventKind::QuoteSent {
                    quote_id: "q".into(),
                    expires_on: "2026-03-29".parse().unwrap(),
                },
            ),
            &c,
        );
        fires_at(
            &d,
            &c,
            TriggerKind::QuoteExpired,
            ts("2026-03-29T07:00:00Z"),
        );
    }

    #[test]
    fn a_lead_gets_at_most_three_unanswered_follow_ups_48_hours_apart() {
        let c = config();
        let mut d = Deal::new(DealRef::new("hubspot", "1"), ts("2026-02-01T00:00:00Z"));
        apply(
            &mut d,
            &ev(
                "2026-02-01T09:00:00Z",
                EventKind::LeadInquiry {
                    summary: "Do you do audits?".into(),
                },
            ),
            &c,
        );
        apply(
            &mut d,
            &ev(
                "2026-02-01T10:00:00Z",
                EventKind::OutboundSent {
                    summary: "Founder answered".into(),
                },
            ),
            &c,
        );
        let mut at = ts("2026-02-01T10:00:00Z");
        for n in 0..3 {
            let due = at + SignedDuration::from_hours(48);
            fires_at(&d, &c, TriggerKind::LeadNoSecondReply, due);
            let sent = due + SignedDuration::from_hours(1);
            apply(
                &mut d,
                &DealEvent {
                    id: format!("f{n}"),
                    ..ev(
                        &sent.to_string(),
                        EventKind::FollowUpSent {
                            draft_id: format!("d{n}"),
                            subject: "Re".into(),
                            trigger: Some(TriggerKind::LeadNoSecondReply),
                        },
                    )
                },
                &c,
            );
            at = sent;
        }
        let e = evaluate(&d, &c, at + SignedDuration::from_hours(100));
        assert!(matches!(
            state_of(&e, TriggerKind::LeadNoSecondReply),
            TriggerState::Stopped {
                stop: StopReason::FollowUpLimit { sent: 3 }
            }
        ));
        // A reply resets the count and stops the current follow-up.
        apply(
            &mut d,
            &ev(
                &(at + SignedDuration::from_hours(2)).to_string(),
                EventKind::ProspectReplied {
                    summary: "Yes".into(),
                },
            ),
            &c,
        );
        assert_eq!(d.lead_follow_ups, 0);
        let e = evaluate(&d, &c, at + SignedDuration::from_hours(100));
        assert!(matches!(
            state_of(&e, TriggerKind::LeadNoSecondReply),
            TriggerState::Stopped {
                stop: StopReason::Replied { .. }
            }
        ));
    }

    #[test]
    fn an_auto_reply_does_not_stop_a_follow_up() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        apply(
            &mut d,
            &ev(
                "2026-01-05T10:05:00Z",
                EventKind::AutoReplyReceived {
                    summary: "Out of office".into(),
                },
            ),
            &c,
        );
        fires_at(
            &d,
            &c,
            TriggerKind::ProposalNoReply,
            ts("2026-01-08T10:00:00Z"),
        );
    }

    #[test]
    fn meeting_prep_is_due_before_the_meeting_and_a_cancellation_stops_it() {
        let c = config();
        let mut d = qualified_deal();
        let booked = EventKind::MeetingBooked {
            summary: "Demo".into(),
            starts_at: Some(ts("2026-01-10T14:00:00Z")),
            meeting_id: Some("m1".into()),
        };
        apply(&mut d, &ev("2026-01-03T10:00:00Z", booked), &c);
        fires_at(&d, &c, TriggerKind::MeetingPrep, ts("2026-01-09T14:00:00Z"));
        let e = evaluate(&d, &c, ts("2026-01-10T14:00:00Z"));
        assert!(matches!(
            state_of(&e, TriggerKind::MeetingPrep),
            TriggerState::Stopped {
                stop: StopReason::MeetingPassed { .. }
            }
        ));
        apply(
            &mut d,
            &ev(
                "2026-01-04T10:00:00Z",
                EventKind::MeetingCancelled {
                    summary: "Cancelled".into(),
                    meeting_id: Some("m1".into()),
                },
            ),
            &c,
        );
        let e = evaluate(&d, &c, ts("2026-01-09T14:00:00Z"));
        assert!(matches!(
            state_of(&e, TriggerKind::MeetingPrep),
            TriggerState::Stopped {
                stop: StopReason::NoMeetingScheduled
            }
        ));
        assert_eq!(due_of(&e, TriggerKind::MeetingPrep), None);
    }

    #[test]
    fn windows_follow_the_deal_type_over_the_stage() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        d.deal_type = Some("newbusiness".into());
        // config: proposal_no_reply 72 h, 96 h for newbusiness.
        fires_at(
            &d,
            &c,
            TriggerKind::ProposalNoReply,
            ts("2026-01-09T10:00:00Z"),
        );
    }

    #[test]
    fn a_parked_status_event_silences_every_trigger() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        apply(
            &mut d,
            &ev(
                "2026-01-06T10:00:00Z",
                EventKind::CallLogged {
                    summary: "Call".into(),
                    note: None,
                },
            ),
            &c,
        );
        apply(
            &mut d,
            &ev(
                "2026-01-06T11:00:00Z",
                EventKind::StatusChanged {
                    status: "On_Hold".into(),
                },
            ),
            &c,
        );
        let e = evaluate(&d, &c, ts("2026-06-01T00:00:00Z"));
        assert!(e.due.is_empty());
        assert_eq!(e.next_due_at, None);
        assert!(e.triggers.iter().all(|t| matches!(
            t.state,
            TriggerState::Stopped {
                stop: StopReason::Parked { .. }
            }
        )));
    }

    fn replied(d: &mut Deal, at: &str) {
        apply(
            d,
            &ev(
                at,
                EventKind::ProspectReplied {
                    summary: "Reply from mia@zenith.example: \"Thanks, we are discussing\"".into(),
                },
            ),
            &config(),
        );
    }

    fn founder_wrote(d: &mut Deal, at: &str) {
        apply(
            d,
            &ev(
                at,
                EventKind::OutboundSent {
                    summary: "Email to mia@zenith.example".into(),
                },
            ),
            &config(),
        );
    }

    #[test]
    fn a_call_restarts_the_quiet_clock_of_a_deal_idle_in_its_stage() {
        let c = config();
        let mut d = qualified_deal();
        // Nine days in the stage, but a call three hours ago: not a deal to nudge.
        apply(
            &mut d,
            &ev(
                "2026-01-09T21:00:00Z",
                EventKind::CallLogged {
                    summary: "Call \"Onboarding workshop intro\" held".into(),
                    note: None,
                },
            ),
            &c,
        );
        let e = evaluate(&d, &c, ts("2026-01-10T00:00:00Z"));
        assert!(e
            .due
            .iter()
            .all(|f| f.trigger != TriggerKind::StageUnchanged));
        fires_at(
            &d,
            &c,
            TriggerKind::StageUnchanged,
            ts("2026-01-16T21:00:00Z"),
        );
    }

    #[test]
    fn a_deal_that_goes_quiet_again_after_a_reply_is_re_engaged_one_window_after_it() {
        let c = config();
        let mut d = qualified_deal();
        fires_at(
            &d,
            &c,
            TriggerKind::StageUnchanged,
            ts("2026-01-08T00:00:00Z"),
        );
        let first = evaluate(&d, &c, ts("2026-01-08T00:00:00Z")).due[0]
            .occurrence
            .clone();
        d.fired.insert(first.clone());
        replied(&mut d, "2026-01-09T10:00:00Z");
        fires_at(
            &d,
            &c,
            TriggerKind::StageUnchanged,
            ts("2026-01-16T10:00:00Z"),
        );
        let second = evaluate(&d, &c, ts("2026-01-16T10:00:00Z"))
            .due
            .into_iter()
            .find(|f| f.trigger == TriggerKind::StageUnchanged)
            .unwrap()
            .occurrence;
        assert_ne!(first, second, "a new occurrence, claimed on its own");
        // A silent deal is still re-engaged: with no contact, the stage entry counts.
        assert_eq!(
            quiet_since(&qualified_deal(), ts("2026-02-01T00:00:00Z")),
            ts("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn a_waiting_re_engagement_is_withdrawn_when_the_prospect_writes() {
        let c = config();
        let mut d = qualified_deal();
        let occ = evaluate(&d, &c, ts("2026-01-08T00:00:00Z")).due[0]
            .occurrence
            .clone();
        d.fired.insert(occ.clone());
        replied(&mut d, "2026-01-08T09:00:00Z");
        assert_eq!(
            still_holds(
                &d,
                TriggerKind::StageUnchanged,
                &occ,
                ts("2026-01-08T00:00:00Z"),
                &c,
                ts("2026-01-08T11:00:00Z")
            ),
            Err(StopReason::Contact {
                at: ts("2026-01-08T09:00:00Z"),
                kind: ContactKind::Reply
            })
        );
        // A stage move is still a stage move.
        apply(
            &mut d,
            &ev(
                "2026-01-08T12:00:00Z",
                EventKind::StageChanged {
                    raw_stage: "decisionmakerboughtin".into(),
                },
            ),
            &c,
        );
        assert!(matches!(
            still_holds(
                &d,
                TriggerKind::StageUnchanged,
                &occ,
                ts("2026-01-08T00:00:00Z"),
                &c,
                ts("2026-01-08T13:00:00Z")
            ),
            Err(StopReason::StageMoved { .. })
        ));
    }

    #[test]
    fn the_founders_own_mail_is_the_follow_up_of_a_proposal_and_a_call() {
        let c = config();
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        founder_wrote(&mut d, "2026-01-06T10:00:00Z");
        assert!(matches!(
            state_of(
                &evaluate(&d, &c, ts("2026-01-09T00:00:00Z")),
                TriggerKind::ProposalNoReply
            ),
            TriggerState::Stopped {
                stop: StopReason::Contact {
                    kind: ContactKind::FounderMail,
                    ..
                }
            }
        ));
        let mut d = qualified_deal();
        apply(
            &mut d,
            &ev(
                "2026-01-02T15:00:00Z",
                EventKind::CallLogged {
                    summary: "Discovery call".into(),
                    note: None,
                },
            ),
            &c,
        );
        replied(&mut d, "2026-01-02T18:00:00Z");
        assert!(matches!(
            state_of(
                &evaluate(&d, &c, ts("2026-01-04T00:00:00Z")),
                TriggerKind::CallNoNextStep
            ),
            TriggerState::Stopped {
                stop: StopReason::Replied { .. }
            }
        ));
    }

    #[test]
    fn a_move_between_two_stages_mapped_to_proposal_drafts_no_second_proposal() {
        let mut c = config();
        c.stages
            .get_mut("hubspot")
            .unwrap()
            .insert("proposalsent".into(), Stage::Proposal);
        let mut d = qualified_deal();
        let into = |d: &mut Deal, at: &str, raw: &str| {
            apply(
                d,
                &ev(
                    at,
                    EventKind::StageChanged {
                        raw_stage: raw.into(),
                    },
                ),
                &c,
            );
        };
        into(&mut d, "2026-01-05T10:00:00Z", "proposalsent");
        let first = evaluate(&d, &c, ts("2026-01-05T10:00:00Z"));
        let proposal = |e: &Evaluation, t| match state_of(e, t) {
            TriggerState::Due { occurrence, .. } | TriggerState::Scheduled { occurrence, .. } => {
                Some(occurrence.clone())
            }
            _ => None,
        };
        let draft_occ = proposal(&first, TriggerKind::ProposalDraft).expect("a proposal to draft");
        let follow_occ = proposal(&first, TriggerKind::ProposalNoReply).expect("its follow-up");
        d.fired.insert(draft_occ.clone());
        into(&mut d, "2026-01-06T10:00:00Z", "contractsent");
        let after = evaluate(&d, &c, ts("2026-01-06T10:00:00Z"));
        assert_eq!(d.raw_stage.as_deref(), Some("contractsent"));
        assert_eq!(d.proposal_entered_at, Some(ts("2026-01-05T10:00:00Z")));
        assert!(matches!(
            state_of(&after, TriggerKind::ProposalDraft),
            TriggerState::Fired { .. }
        ));
        assert_eq!(
            proposal(&after, TriggerKind::ProposalNoReply),
            Some(follow_occ)
        );
    }

    #[test]
    fn a_call_or_another_send_after_the_reference_point_stops_a_follow_up_however_late_it_arrives()
    {
        let c = config();
        // A call at the second the proposal follow-up was due, delivered after it was drafted.
        let mut d = deal_in_proposal("2026-01-05T10:00:00Z");
        let occ = evaluate(&d, &c, ts("2026-01-08T10:00:00Z")).due[0]
            .occurrence
            .clone();
        apply(
            &mut d,
            &ev(
                "2026-01-08T10:00:00Z",
                EventKind::CallLogged {
                    summary: "Walkthrough call".into(),
                    note: None,
                },
            ),
            &c,
        );
        assert!(matches!(
            still_holds(
                &d,
                TriggerKind::ProposalNoReply,
                &occ,
                ts("2026-01-08T10:00:01Z"),
                &c,
                ts("2026-01-08T11:00:00Z")
            ),
            Err(StopReason::Contact {
                kind: ContactKind::Call,
                ..
            })
        ));
        // Another follow-up approved after a call: the call's nudge has no reason left.
        let mut d = qualified_deal();
        apply(
            &mut d,
            &ev(
                "2026-01-02T15:00:00Z",
                EventKind::CallLogged {
                    summary: "Discovery call".into(),
                    note: None,
                },
            ),
            &c,
        );
        apply(
            &mut d,
            &ev(
                "2026-01-03T09:00:00Z",
                EventKind::FollowUpSent {
                    subject: "Re: proposal".into(),
                    trigger: Some(TriggerKind::ProposalNoReply),
                    draft_id: "d1".into(),
                },
            ),
            &c,
        );
        assert!(matches!(
            state_of(
                &evaluate(&d, &c, ts("2026-01-04T00:00:00Z")),
                TriggerKind::CallNoNextStep
            ),
            TriggerState::Stopped {
                stop: StopReason::Contact {
                    kind: ContactKind::FollowUpSent,
                    ..
                }
            }
        ));
    }
}
