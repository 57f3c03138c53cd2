//! The follow-up rules, pure: given a deal, the config and "now", what fires, what is
//! scheduled, what is stopped and why, and when the deal is next due. Also how each canonical
//! event changes a deal's state.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::config::Config;
use crate::domain::{Deal, DealEvent, EventKind, Fact, Firing, Interaction, Stage, TriggerKind};
use crate::keys::sortable;

/// Why a trigger does not fire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopReason {
    Deleted,
    Parked { status: String },
    Closed { stage: Stage },
    UnmappedStage { raw_stage: Option<String> },
    NoProposalSent,
    Replied { at: Timestamp },
    MeetingBooked { at: Timestamp },
    StageMoved { to: Option<Stage> },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Deleted => write!(f, "the deal was deleted in the CRM"),
            StopReason::Parked { status } => write!(f, "the deal is parked ({status})"),
            StopReason::Closed { stage } => write!(f, "the deal is closed ({stage})"),
            StopReason::UnmappedStage { raw_stage } => write!(
                f,
                "the deal's stage `{}` is not mapped to a canonical stage",
                raw_stage.as_deref().unwrap_or("(none)")
            ),
            StopReason::NoProposalSent => write!(f, "no proposal has been sent"),
            StopReason::Replied { at } => write!(f, "the prospect replied at {at}"),
            StopReason::MeetingBooked { at } => write!(f, "a meeting was booked at {at}"),
            StopReason::StageMoved { to } => match to {
                Some(s) => write!(f, "the deal moved to {s}"),
                None => write!(f, "the deal moved stage"),
            },
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
        None => Some(StopReason::UnmappedStage {
            raw_stage: deal.raw_stage.clone(),
        }),
        _ => None,
    }
}

fn hours(h: u32) -> SignedDuration {
    SignedDuration::from_hours(h as i64)
}

/// The current occurrence of `trigger` on `deal` and when it is due, or why there is none.
pub fn occurrence(
    deal: &Deal,
    trigger: TriggerKind,
    config: &Config,
) -> Result<(String, Timestamp), StopReason> {
    if let Some(stop) = deal_wide_stop(deal, config) {
        return Err(stop);
    }
    let window = config
        .window(trigger)
        .hours_for(deal.stage, deal.deal_type.as_deref());
    match trigger {
        TriggerKind::ProposalNoReply => {
            let sent = deal.proposal_sent_at.ok_or(StopReason::NoProposalSent)?;
            if let Some(at) = deal.last_inbound_at.filter(|at| *at >= sent) {
                return Err(StopReason::Replied { at });
            }
            if let Some(at) = deal.meeting_booked_at.filter(|at| *at >= sent) {
                return Err(StopReason::MeetingBooked { at });
            }
            if deal.stage_entered_at > sent && deal.stage != Some(Stage::Proposal) {
                return Err(StopReason::StageMoved { to: deal.stage });
            }
            Ok((
                format!("{trigger}#{}", sortable(sent)),
                sent + hours(window),
            ))
        }
        TriggerKind::StageUnchanged => {
            let stage = deal.stage.expect("deal_wide_stop rules out no stage");
            let since = deal.stage_entered_at;
            Ok((
                format!("{trigger}#{stage}#{}", sortable(since)),
                since + hours(window),
            ))
        }
    }
}

/// Evaluate every trigger of a deal at `now`.
pub fn evaluate(deal: &Deal, config: &Config, now: Timestamp) -> Evaluation {
    let mut due = Vec::new();
    let mut next: Option<Timestamp> = None;
    let mut triggers = Vec::new();
    for trigger in TriggerKind::ALL {
        let state = match occurrence(deal, trigger, config) {
            Err(stop) => TriggerState::Stopped { stop },
            Ok((occurrence, due_at)) if deal.fired.contains(&occurrence) => {
                TriggerState::Fired { occurrence, due_at }
            }
            Ok((occurrence, due_at)) => {
                // Due-but-unclaimed stays in the due index until the evaluator claims it.
                next = Some(next.map_or(due_at, |n| n.min(due_at)));
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

/// Re-check before sending: does the occurrence a draft was written for still hold?
pub fn still_holds(
    deal: &Deal,
    trigger: TriggerKind,
    occurrence_key: &str,
    config: &Config,
) -> Result<(), StopReason> {
    match occurrence(deal, trigger, config) {
        Err(stop) => Err(stop),
        Ok((current, _)) if current == occurrence_key => Ok(()),
        // A different occurrence means the deal moved on since drafting (new stage, new proposal).
        Ok(_) => Err(StopReason::StageMoved { to: deal.stage }),
    }
}

fn interaction(event: &DealEvent, summary: String) -> Interaction {
    Interaction {
        at: event.occurred_at,
        summary,
        source: event.source.clone(),
    }
}

fn set_interaction(deal: &mut Deal, new: Interaction) {
    if deal
        .last_interaction
        .as_ref()
        .is_none_or(|old| old.at <= new.at)
    {
        deal.last_interaction = Some(new);
    }
}

/// Apply one event to a deal's state. Out-of-order deliveries never move a stage backwards.
pub fn apply(deal: &mut Deal, event: &DealEvent, config: &Config) {
    let at = event.occurred_at;
    if let Some(snap) = &event.snapshot {
        if let Some(name) = &snap.name {
            deal.name = name.clone();
        }
        for (k, v) in &snap.facts {
            deal.facts.insert(k.clone(), v.clone());
        }
        deal.pipeline = snap.pipeline.clone().or(deal.pipeline.take());
        deal.status = snap.status.clone().or(deal.status.take());
        deal.deal_type = snap.deal_type.clone().or(deal.deal_type.take());
        deal.amount = snap.amount.or(deal.amount);
        deal.currency = snap.currency.clone().or(deal.currency.take());
        deal.contact_email = snap.contact_email.clone().or(deal.contact_email.take());
        // The snapshot's stage only seeds a deal we know nothing about yet; stage changes come
        // from the stage-change events themselves, which carry when they happened.
        let is_stage_change = matches!(event.kind, EventKind::StageChanged { .. });
        if deal.raw_stage.is_none() && !is_stage_change {
            if let Some(raw) = &snap.raw_stage {
                deal.raw_stage = Some(raw.clone());
                deal.stage = config.canonical_stage(&event.source_crm(), raw);
                deal.stage_entered_at = at;
                if deal.stage == Some(Stage::Proposal) && deal.proposal_sent_at.is_none() {
                    deal.proposal_sent_at = Some(at);
                }
            }
        }
    }
    match &event.kind {
        EventKind::DealCreated => {
            deal.created_at = deal.created_at.min(at);
        }
        EventKind::StageChanged { raw_stage } => {
            let newer = at >= deal.stage_entered_at || deal.raw_stage.is_none();
            if newer && deal.raw_stage.as_deref() != Some(raw_stage) {
                let previous_entry = deal.stage_entered_at;
                deal.raw_stage = Some(raw_stage.clone());
                deal.stage = config.canonical_stage(&event.source_crm(), raw_stage);
                deal.stage_entered_at = at;
                // Moving into the proposal stage is how a CRM-only founder says "proposal sent".
                if deal.stage == Some(Stage::Proposal)
                    && deal.proposal_sent_at.is_none_or(|s| s < previous_entry)
                {
                    deal.proposal_sent_at = Some(at);
                    deal.last_outbound_at = deal.last_outbound_at.max(Some(at));
                    set_interaction(
                        deal,
                        interaction(
                            event,
                            "Proposal sent (deal moved to the proposal stage)".into(),
                        ),
                    );
                }
            }
        }
        EventKind::PropertyChanged { name, value } => {
            deal.facts.insert(
                format!("deal.{name}"),
                Fact::new(
                    value.clone(),
                    format!("{} deal property {name}", event.source),
                ),
            );
        }
        EventKind::DealDeleted => deal.deleted = true,
        EventKind::ProposalSent { name, .. } => {
            if deal.proposal_sent_at.is_none_or(|s| s < at) {
                deal.proposal_sent_at = Some(at);
            }
            deal.last_outbound_at = deal.last_outbound_at.max(Some(at));
            let label = name.clone().unwrap_or_else(|| "Proposal".into());
            set_interaction(
                deal,
                interaction(event, format!("Proposal \"{label}\" sent")),
            );
        }
        EventKind::ProposalViewed { .. } => {
            set_interaction(
                deal,
                interaction(event, "Prospect opened the proposal".into()),
            );
        }
        EventKind::ProposalCompleted { .. } => {
            deal.last_inbound_at = deal.last_inbound_at.max(Some(at));
            set_interaction(
                deal,
                interaction(event, "Prospect signed the proposal".into()),
            );
        }
        EventKind::ProspectReplied { summary } => {
            deal.last_inbound_at = deal.last_inbound_at.max(Some(at));
            set_interaction(deal, interaction(event, summary.clone()));
        }
        EventKind::MeetingBooked { summary } => {
            deal.meeting_booked_at = deal.meeting_booked_at.max(Some(at));
            set_interaction(deal, interaction(event, summary.clone()));
        }
        EventKind::FollowUpSent { subject, .. } => {
            deal.last_outbound_at = deal.last_outbound_at.max(Some(at));
            set_interaction(
                deal,
                interaction(event, format!("Follow-up sent: \"{subject}\"")),
            );
        }
    }
    deal.updated_at = deal.updated_at.max(at);
}

impl DealEvent {
    /// The CRM whose stage ids this event speaks (the deal's CRM, whatever tool sent the event).
    pub fn source_crm(&self) -> String {
        self.deal.crm.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::DealRef;

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

    fn state_of(e: &Evaluation, t: TriggerKind) -> &TriggerState {
        &e.triggers.iter().find(|s| s.trigger == t).unwrap().state
    }

    #[test]
    fn proposal_no_reply_fires_72_hours_after_the_proposal_and_not_a_second_before() {
        let c = config();
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
                let hours = c.stage_unchanged.hours_for(Some(Stage::Negotiating), None) as i64;
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
        let hours = c.stage_unchanged.hours_for(Some(Stage::Proposal), None) as i64;
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
            still_holds(&d, TriggerKind::ProposalNoReply, &occ, &c),
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
            still_holds(&d, TriggerKind::ProposalNoReply, &occ, &c),
            Err(StopReason::Replied { .. })
        ));
    }
}
