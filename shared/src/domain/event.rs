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
    /// The hold in words, its times as `when` writes them (the founder's local time).
    pub fn describe(&self, when: impl Fn(Timestamp) -> String) -> String {
        match self {
            Hold::Park => "parked by the founder: no drafts until unparked".into(),
            Hold::Unpark => "unparked by the founder".into(),
            Hold::Snooze { until } => format!("snoozed by the founder until {}", when(*until)),
            Hold::Rearm { trigger, at, .. } => {
                format!(
                    "wrong timing: \"{}\" comes back at {}",
                    trigger.label(),
                    when(*at)
                )
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

/// The kinds of [`EventKind`] without their fields: the one vocabulary of event type names.
/// Every route and file that names an event type (the generic and inbox webhooks, replay
/// scenarios, the sample pipeline) reads it into this enum, so a name means the same everywhere;
/// the serde names are the tags `EventKind` is stored with. The aliases are the shorter names
/// some formats use (`reply`, `outbound`, `auto_reply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    DealCreated,
    StageChanged,
    PropertyChanged,
    DealDeleted,
    DealUpdated,
    ProposalSent,
    ProposalViewed,
    ProposalCompleted,
    #[serde(alias = "reply")]
    ProspectReplied,
    #[serde(alias = "auto_reply")]
    AutoReplyReceived,
    LeadInquiry,
    #[serde(alias = "outbound")]
    OutboundSent,
    MeetingBooked,
    MeetingCancelled,
    CallLogged,
    QuoteSent,
    ProspectDeclined,
    StatusChanged,
    FollowUpSent,
    FounderHold,
}

impl EventType {
    pub const ALL: [EventType; 20] = [
        EventType::DealCreated,
        EventType::StageChanged,
        EventType::PropertyChanged,
        EventType::DealDeleted,
        EventType::DealUpdated,
        EventType::ProposalSent,
        EventType::ProposalViewed,
        EventType::ProposalCompleted,
        EventType::ProspectReplied,
        EventType::AutoReplyReceived,
        EventType::LeadInquiry,
        EventType::OutboundSent,
        EventType::MeetingBooked,
        EventType::MeetingCancelled,
        EventType::CallLogged,
        EventType::QuoteSent,
        EventType::ProspectDeclined,
        EventType::StatusChanged,
        EventType::FollowUpSent,
        EventType::FounderHold,
    ];

    /// The type's name (as stored, and as the webhooks and files write it).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::DealCreated => "deal_created",
            EventType::StageChanged => "stage_changed",
            EventType::PropertyChanged => "property_changed",
            EventType::DealDeleted => "deal_deleted",
            EventType::DealUpdated => "deal_updated",
            EventType::ProposalSent => "proposal_sent",
            EventType::ProposalViewed => "proposal_viewed",
            EventType::ProposalCompleted => "proposal_completed",
            EventType::ProspectReplied => "prospect_replied",
            EventType::AutoReplyReceived => "auto_reply_received",
            EventType::LeadInquiry => "lead_inquiry",
            EventType::OutboundSent => "outbound_sent",
            EventType::MeetingBooked => "meeting_booked",
            EventType::MeetingCancelled => "meeting_cancelled",
            EventType::CallLogged => "call_logged",
            EventType::QuoteSent => "quote_sent",
            EventType::ProspectDeclined => "prospect_declined",
            EventType::StatusChanged => "status_changed",
            EventType::FollowUpSent => "follow_up_sent",
            EventType::FounderHold => "founder_hold",
        }
    }

    /// A type by one of its names (canonical or alias); `None` for anything else.
    pub fn parse(name: &str) -> Option<EventType> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }

    /// The shorter name a type is also read from (the serde alias).
    pub fn alias(self) -> Option<&'static str> {
        match self {
            EventType::ProspectReplied => Some("reply"),
            EventType::AutoReplyReceived => Some("auto_reply"),
            EventType::OutboundSent => Some("outbound"),
            _ => None,
        }
    }

    /// Why `name` is not one of `types`, for an error message.
    pub fn refusal(name: &str, types: &[EventType]) -> String {
        let list = EventType::names(types);
        match EventType::parse(name) {
            Some(t) => format!("type `{t}` is not taken by this webhook; expected one of {list}"),
            None => format!("unknown type `{name}`; expected one of {list}"),
        }
    }

    /// `types`' names, for an error message ("expected one of …").
    pub fn names(types: &[EventType]) -> String {
        types
            .iter()
            .map(|t| match t.alias() {
                Some(alias) => format!("{} (or {alias})", t.as_str()),
                None => t.as_str().to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventKind {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::DealCreated => EventType::DealCreated,
            EventKind::StageChanged { .. } => EventType::StageChanged,
            EventKind::PropertyChanged { .. } => EventType::PropertyChanged,
            EventKind::DealDeleted => EventType::DealDeleted,
            EventKind::DealUpdated => EventType::DealUpdated,
            EventKind::ProposalSent { .. } => EventType::ProposalSent,
            EventKind::ProposalViewed { .. } => EventType::ProposalViewed,
            EventKind::ProposalCompleted { .. } => EventType::ProposalCompleted,
            EventKind::ProspectReplied { .. } => EventType::ProspectReplied,
            EventKind::AutoReplyReceived { .. } => EventType::AutoReplyReceived,
            EventKind::LeadInquiry { .. } => EventType::LeadInquiry,
            EventKind::OutboundSent { .. } => EventType::OutboundSent,
            EventKind::MeetingBooked { .. } => EventType::MeetingBooked,
            EventKind::MeetingCancelled { .. } => EventType::MeetingCancelled,
            EventKind::CallLogged { .. } => EventType::CallLogged,
            EventKind::QuoteSent { .. } => EventType::QuoteSent,
            EventKind::ProspectDeclined { .. } => EventType::ProspectDeclined,
            EventKind::StatusChanged { .. } => EventType::StatusChanged,
            EventKind::FollowUpSent { .. } => EventType::FollowUpSent,
            EventKind::FounderHold { .. } => EventType::FounderHold,
        }
    }

    /// The event's type name, as stored.
    pub fn label(&self) -> &'static str {
        self.event_type().as_str()
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

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    #[test]
    fn each_type_name_is_its_serde_name_and_the_tag_its_kind_is_stored_with() {
        for t in EventType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            if let Some(alias) = t.alias() {
                assert_eq!(EventType::parse(alias), Some(t));
            }
        }
        // A kind serialises with the tag its type names (so stored events still read).
        let kinds = [
            EventKind::DealCreated,
            EventKind::AutoReplyReceived {
                summary: "x".into(),
            },
            EventKind::OutboundSent {
                summary: "x".into(),
            },
            EventKind::CallLogged {
                summary: "x".into(),
                note: None,
            },
            EventKind::StageChanged {
                raw_stage: "s".into(),
            },
        ];
        for k in kinds {
            assert_eq!(serde_json::to_value(&k).unwrap()["type"], k.label());
        }
    }

    #[test]
    fn the_short_names_some_formats_use_mean_the_same_types() {
        assert_eq!(EventType::parse("reply"), Some(EventType::ProspectReplied));
        assert_eq!(EventType::parse("outbound"), Some(EventType::OutboundSent));
        assert_eq!(
            EventType::parse("auto_reply"),
            Some(EventType::AutoReplyReceived)
        );
        assert_eq!(EventType::parse("Reply"), None);
        assert_eq!(EventType::parse("nudge"), None);
    }
}
