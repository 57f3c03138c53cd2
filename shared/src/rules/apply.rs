//! How an event changes a deal's state: the CRM's snapshot, the stage, meetings, calls, quotes,
//! the founder's holds and draftgate's own sends. Out-of-order deliveries never move a stage
//! backwards.

use jiff::Timestamp;

use crate::config::Config;
use crate::domain::{
    CallNote, Deal, DealEvent, DealSnapshot, EventKind, Fact, Hold, Interaction, Rearmed, Stage,
    TriggerKind,
};

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

fn inbound(deal: &mut Deal, at: Timestamp) {
    deal.last_inbound_at = deal.last_inbound_at.max(Some(at));
    // The lead answered: the unanswered-follow-up count starts again.
    deal.lead_follow_ups = 0;
}

/// Whether draftgate drafts this deal's proposal (a template for its engagement type).
fn drafts_proposal(deal: &Deal, config: &Config) -> bool {
    config.proposal_for(deal.deal_type.as_deref()).is_some()
}

/// Apply one event to a deal's state. Out-of-order deliveries never move a stage backwards.
pub fn apply(deal: &mut Deal, event: &DealEvent, config: &Config) {
    let at = event.occurred_at;
    if let Some(snap) = &event.snapshot {
        apply_snapshot(deal, event, snap, config);
    }
    match &event.kind {
        EventKind::DealCreated => {
            deal.created_at = deal.created_at.min(at);
        }
        EventKind::StageChanged { raw_stage } => change_stage(deal, event, raw_stage, config),
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
        EventKind::DealUpdated => {}
        EventKind::StatusChanged { status } => {
            deal.status = Some(status.clone()).filter(|s| !s.trim().is_empty());
        }
        EventKind::ProposalSent { name, .. } => {
            if deal.proposal_sent_at.is_none_or(|s| s < at) {
                deal.proposal_sent_at = Some(at);
            }
            deal.proposal_document_at = deal.proposal_document_at.max(Some(at));
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
            inbound(deal, at);
            set_interaction(
                deal,
                interaction(event, "Prospect signed the proposal".into()),
            );
        }
        EventKind::ProspectReplied { summary } => {
            inbound(deal, at);
            set_interaction(deal, interaction(event, summary.clone()));
        }
        // Out-of-office and auto-responders are on the timeline, but they are not replies.
        EventKind::AutoReplyReceived { .. } => {}
        EventKind::LeadInquiry { summary } => {
            if deal.lead_inquiry_at.is_none() {
                deal.lead_inquiry_at = Some(at);
            }
            inbound(deal, at);
            set_interaction(deal, interaction(event, summary.clone()));
        }
        EventKind::OutboundSent { summary } => {
            deal.last_outbound_at = deal.last_outbound_at.max(Some(at));
            deal.founder_mail_at = deal.founder_mail_at.max(Some(at));
            set_interaction(deal, interaction(event, summary.clone()));
        }
        EventKind::MeetingBooked {
            summary,
            starts_at,
            meeting_id,
        } => book_meeting(deal, event, summary, *starts_at, meeting_id, config),
        EventKind::MeetingCancelled {
            summary,
            meeting_id,
        } => cancel_meeting(deal, event, summary, meeting_id),
        EventKind::CallLogged { summary, note } => log_call(deal, event, summary, note.as_deref()),
        EventKind::QuoteSent {
            quote_id,
            expires_on,
        } => send_quote(deal, event, quote_id, *expires_on),
        EventKind::ProspectDeclined { summary } => {
            deal.declined_at = deal.declined_at.max(Some(at));
            set_interaction(deal, interaction(event, summary.clone()));
        }
        EventKind::FounderHold { hold, .. } => apply_hold(deal, hold),
        EventKind::FollowUpSent {
            subject, trigger, ..
        } => follow_up_sent(deal, event, subject, *trigger),
    }
    deal.updated_at = deal.updated_at.max(at);
}

/// What the CRM says about the deal now, over what draftgate knew.
fn apply_snapshot(deal: &mut Deal, event: &DealEvent, snap: &DealSnapshot, config: &Config) {
    let at = event.occurred_at;
    if let Some(name) = &snap.name {
        // A name is a label: it is shown in subjects, lists and lines, on one line.
        deal.name = crate::domain::headers::one_line(name);
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
    if let Some(c) = &snap.conversation {
        deal.conversation = Some(c.clone());
    }
    // The snapshot's stage only seeds a deal we know nothing about yet; stage changes come
    // from the stage-change events themselves, which carry when they happened.
    let is_stage_change = matches!(event.kind, EventKind::StageChanged { .. });
    if deal.raw_stage.is_none() && !is_stage_change {
        if let Some(raw) = &snap.raw_stage {
            deal.raw_stage = Some(raw.clone());
            deal.stage = config.canonical_stage(event.source_crm(), raw);
            deal.stage_entered_at = at;
            if deal.stage == Some(Stage::Proposal) {
                deal.proposal_entered_at = Some(at);
            }
            if deal.stage == Some(Stage::Proposal)
                && !drafts_proposal(deal, config)
                && deal.proposal_sent_at.is_none()
            {
                deal.proposal_sent_at = Some(at);
            }
        }
    }
}

/// A stage change. Out-of-order deliveries never move a stage backwards.
fn change_stage(deal: &mut Deal, event: &DealEvent, raw_stage: &str, config: &Config) {
    let at = event.occurred_at;
    let newer = at >= deal.stage_entered_at || deal.raw_stage.is_none();
    if newer && deal.raw_stage.as_deref() != Some(raw_stage) {
        let previous_entry = deal.stage_entered_at;
        let was = deal.stage;
        deal.raw_stage = Some(raw_stage.to_string());
        deal.stage = config.canonical_stage(event.source_crm(), raw_stage);
        deal.stage_entered_at = at;
        // Between two of the CRM's stages that are both `proposal` (a "Proposal sent"
        // and a "Contract sent"), the deal is still where its proposal was drafted: no
        // second proposal.
        if deal.stage == Some(Stage::Proposal) && was != Some(Stage::Proposal) {
            deal.proposal_entered_at = Some(at);
        }
        // Moving into the proposal stage is how a CRM-only founder says "proposal sent",
        // unless draftgate drafts the proposal (a template for the deal's engagement
        // type): then it is sent when that draft is approved, or a proposal tool says so.
        if deal.stage == Some(Stage::Proposal)
            && !drafts_proposal(deal, config)
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

fn book_meeting(
    deal: &mut Deal,
    event: &DealEvent,
    summary: &str,
    starts_at: Option<Timestamp>,
    meeting_id: &Option<String>,
    config: &Config,
) {
    let at = event.occurred_at;
    deal.meeting_booked_at = deal.meeting_booked_at.max(Some(at));
    deal.meeting_contact_at = deal.meeting_contact_at.max(Some(at));
    if let Some(start) = starts_at {
        deal.next_meeting_at = Some(start);
        deal.next_meeting_id = meeting_id.clone();
        deal.facts.insert(
            "meeting.starts_at".into(),
            Fact::new(
                start
                    .to_zoned(config.timezone())
                    .strftime("%A %-d %B, %H:%M")
                    .to_string(),
                format!("{} meeting booking", event.source),
            ),
        );
    }
    set_interaction(deal, interaction(event, summary.to_string()));
}

fn cancel_meeting(deal: &mut Deal, event: &DealEvent, summary: &str, meeting_id: &Option<String>) {
    let same = meeting_id.is_none() || *meeting_id == deal.next_meeting_id;
    if same {
        deal.next_meeting_at = None;
        deal.next_meeting_id = None;
        // The booking no longer stands, so follow-ups it silenced may fire again.
        deal.meeting_booked_at = None;
        deal.facts.remove("meeting.starts_at");
    }
    set_interaction(deal, interaction(event, summary.to_string()));
}

fn log_call(deal: &mut Deal, event: &DealEvent, summary: &str, note: Option<&str>) {
    let at = event.occurred_at;
    let newest = deal.last_call_at.is_none_or(|last| at >= last);
    deal.last_call_at = deal.last_call_at.max(Some(at));
    if let Some(text) = note.map(str::trim).filter(|t| !t.is_empty()) {
        if newest {
            deal.last_call_note = Some(CallNote {
                at,
                text: text.to_string(),
                source: format!("{} {}", event.source, event.id),
            });
        }
    }
    set_interaction(deal, interaction(event, summary.to_string()));
}

fn send_quote(deal: &mut Deal, event: &DealEvent, quote_id: &str, expires_on: jiff::civil::Date) {
    let at = event.occurred_at;
    deal.quote_sent_at = deal.quote_sent_at.max(Some(at));
    deal.quote_expires_on = Some(expires_on);
    deal.last_outbound_at = deal.last_outbound_at.max(Some(at));
    deal.facts.insert(
        "quote.expires_on".into(),
        Fact::new(
            expires_on.to_string(),
            format!("{} quote {quote_id}", event.source),
        ),
    );
    set_interaction(
        deal,
        interaction(event, format!("Quote sent, valid until {expires_on}")),
    );
}

/// A founder's hold: park, unpark, snooze, re-arm a trigger, or a contact not to write to.
fn apply_hold(deal: &mut Deal, hold: &Hold) {
    match hold {
        Hold::Park => deal.founder_parked = true,
        Hold::Unpark => deal.founder_parked = false,
        Hold::Snooze { until } => deal.snoozed_until = Some(*until),
        Hold::Rearm { occurrence, at, .. } => {
            let base = occurrence
                .split("#rearm")
                .next()
                .unwrap_or(occurrence)
                .to_string();
            let entry = deal
                .rearmed
                .entry(base)
                .or_insert(Rearmed { times: 0, at: *at });
            entry.times += 1;
            entry.at = *at;
        }
        Hold::WrongContact { email } => {
            deal.wrong_contacts.insert(email.to_ascii_lowercase());
        }
        Hold::TemplateFeedback { .. } => {}
    }
}

fn follow_up_sent(deal: &mut Deal, event: &DealEvent, subject: &str, trigger: Option<TriggerKind>) {
    let at = event.occurred_at;
    deal.last_outbound_at = deal.last_outbound_at.max(Some(at));
    deal.follow_up_sent_at = deal.follow_up_sent_at.max(Some(at));
    // The drafted proposal went out: its follow-up counts from now.
    if trigger == Some(TriggerKind::ProposalDraft) {
        deal.proposal_document_at = deal.proposal_document_at.max(Some(at));
        deal.proposal_sent_at = deal.proposal_sent_at.max(Some(at));
    }
    // Every unanswered follow-up counts toward the lead's cap, whichever trigger wrote it.
    deal.lead_follow_ups += 1;
    set_interaction(
        deal,
        interaction(event, format!("Follow-up sent: \"{subject}\"")),
    );
}

impl DealEvent {
    /// The CRM whose stage ids this event speaks (the deal's CRM, whatever tool sent the event).
    pub fn source_crm(&self) -> &str {
        &self.deal.crm
    }
}
