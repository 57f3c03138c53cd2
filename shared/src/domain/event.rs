//! What happened to a deal (the one event vocabulary), and what draftgate publishes.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::deal::{DealRef, DealSnapshot};
use super::trigger::TriggerKind;

/// What happened to a deal, in canonical terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    DealCreated,
    StageChanged {
        raw_stage: String,
    },
    PropertyChanged {
        name: String,
        value: String,
    },
    DealDeleted,
    /// The CRM's details of the deal changed (name, amount, contact): carried in the snapshot.
    DealUpdated,
    ProposalSent {
        document_id: String,
        name: Option<String>,
    },
    ProposalViewed {
        document_id: String,
    },
    ProposalCompleted {
        document_id: String,
    },
    ProspectReplied {
        summary: String,
    },
    /// An automatic answer (out of office, auto-responder): kept on the timeline, never a reply.
    AutoReplyReceived {
        summary: String,
    },
    /// A first inbound inquiry from a lead.
    LeadInquiry {
        summary: String,
    },
    /// We wrote to the prospect outside draftgate (e.g. the founder's own mail).
    OutboundSent {
        summary: String,
    },
    MeetingBooked {
        summary: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        starts_at: Option<Timestamp>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meeting_id: Option<String>,
    },
    MeetingCancelled {
        summary: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meeting_id: Option<String>,
    },
    CallLogged {
        summary: String,
        /// The notes taken on the call, in full, when the CRM carries them: the source of the
        /// "CRM update after a call" draft.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    QuoteSent {
        quote_id: String,
        /// The last day the quote is valid, as a calendar date.
        expires_on: jiff::civil::Date,
    },
    ProspectDeclined {
        summary: String,
    },
    StatusChanged {
        status: String,
    },
    FollowUpSent {
        draft_id: String,
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger: Option<TriggerKind>,
    },
    /// A person's hold on the deal, given with a rejection (or lifted): what they said about
    /// the deal itself rather than the draft.
    FounderHold {
        hold: Hold,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

/// What a rejection's reason does to the deal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hold {
    /// No more drafts for the deal until it is unparked.
    Park,
    Unpark,
    /// No drafts for the deal before `until`.
    Snooze {
        until: Timestamp,
    },
    /// Wrong timing: this trigger's occurrence comes back at `at`, as a new draft.
    Rearm {
        trigger: TriggerKind,
        occurrence: String,
        at: Timestamp,
    },
    /// The deal's contact is the wrong person: no drafts to this address.
    WrongContact {
        email: String,
    },
    /// The draft was bad: feedback on its template, kept for the founder.
    TemplateFeedback {
        template: String,
    },
}

impl Hold {
    pub fn describe(&self) -> String {
        match self {
            Hold::Park => "parked by the founder: no drafts until unparked".into(),
            Hold::Unpark => "unparked by the founder".into(),
            Hold::Snooze { until } => format!("snoozed by the founder until {until}"),
            Hold::Rearm { trigger, at, .. } => {
                format!("wrong timing: {trigger} comes back at {at}")
            }
            Hold::WrongContact { email } => {
                format!("wrong contact: no drafts to {email} until the CRM names another")
            }
            Hold::TemplateFeedback { template } => {
                format!("feedback on template {template}")
            }
        }
    }
}

impl EventKind {
    pub fn label(&self) -> &'static str {
        match self {
            EventKind::DealCreated => "deal_created",
            EventKind::StageChanged { .. } => "stage_changed",
            EventKind::PropertyChanged { .. } => "property_changed",
            EventKind::DealDeleted => "deal_deleted",
            EventKind::DealUpdated => "deal_updated",
            EventKind::ProposalSent { .. } => "proposal_sent",
            EventKind::ProposalViewed { .. } => "proposal_viewed",
            EventKind::ProposalCompleted { .. } => "proposal_completed",
            EventKind::ProspectReplied { .. } => "prospect_replied",
            EventKind::AutoReplyReceived { .. } => "auto_reply_received",
            EventKind::LeadInquiry { .. } => "lead_inquiry",
            EventKind::OutboundSent { .. } => "outbound_sent",
            EventKind::MeetingBooked { .. } => "meeting_booked",
            EventKind::MeetingCancelled { .. } => "meeting_cancelled",
            EventKind::CallLogged { .. } => "call_logged",
            EventKind::QuoteSent { .. } => "quote_sent",
            EventKind::ProspectDeclined { .. } => "prospect_declined",
            EventKind::StatusChanged { .. } => "status_changed",
            EventKind::FollowUpSent { .. } => "follow_up_sent",
            EventKind::FounderHold { .. } => "founder_hold",
        }
    }
}

/// One accepted provider event. `id` is the provider's idempotency key, so a redelivery
/// carries the same id and is recognised as a duplicate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DealEvent {
    pub id: String,
    pub deal: DealRef,
    pub occurred_at: Timestamp,
    pub source: String,
    #[serde(flatten)]
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<DealSnapshot>,
}

/// Published on the event bus for downstream automation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub detail_type: String,
    pub detail: serde_json::Value,
}
