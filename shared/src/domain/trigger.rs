//! The follow-up triggers and their occurrences.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::deal::DealRef;
use super::time::push_sortable;

/// The follow-up triggers of the cadence table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    ProposalNoReply,
    CallNoNextStep,
    StageUnchanged,
    QuoteExpired,
    LeadNoSecondReply,
    /// An internal brief for the founder before a call: no prospect message, no approval.
    MeetingPrep,
    /// A call was logged with notes: the CRM update it calls for (next step, stage, the notes
    /// themselves), proposed as a diff. No prospect message; applied only when approved.
    CallNotes,
    /// The deal entered the proposal stage with no proposal sent: a proposal drafted from the
    /// template for its engagement type.
    ProposalDraft,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 8] = [
        TriggerKind::ProposalNoReply,
        TriggerKind::CallNoNextStep,
        TriggerKind::StageUnchanged,
        TriggerKind::QuoteExpired,
        TriggerKind::LeadNoSecondReply,
        TriggerKind::MeetingPrep,
        TriggerKind::CallNotes,
        TriggerKind::ProposalDraft,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::ProposalNoReply => "proposal_no_reply",
            TriggerKind::CallNoNextStep => "call_no_next_step",
            TriggerKind::StageUnchanged => "stage_unchanged",
            TriggerKind::QuoteExpired => "quote_expired",
            TriggerKind::LeadNoSecondReply => "lead_no_second_reply",
            TriggerKind::MeetingPrep => "meeting_prep",
            TriggerKind::CallNotes => "call_notes",
            TriggerKind::ProposalDraft => "proposal_draft",
        }
    }

    /// A draft that writes to the CRM only (a diff to approve), never to a prospect.
    pub fn is_crm_update(self) -> bool {
        matches!(self, TriggerKind::CallNotes)
    }

    /// Drafts of this trigger are messages to the deal's contact (after approval).
    pub fn writes_to_prospect(self) -> bool {
        !self.is_internal() && !self.is_crm_update()
    }

    /// The nudges: messages that follow up on something (not a proposal document, a CRM update
    /// or a brief). A live conversation withdraws them.
    pub fn is_follow_up(self) -> bool {
        matches!(
            self,
            TriggerKind::ProposalNoReply
                | TriggerKind::CallNoNextStep
                | TriggerKind::StageUnchanged
                | TriggerKind::QuoteExpired
                | TriggerKind::LeadNoSecondReply
        )
    }

    /// Internal triggers go to the founder only: no draft, no approval, no budget.
    pub fn is_internal(self) -> bool {
        matches!(self, TriggerKind::MeetingPrep)
    }

    pub fn parse(s: &str) -> Option<TriggerKind> {
        TriggerKind::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            TriggerKind::ProposalNoReply => "Proposal sent, no reply",
            TriggerKind::CallNoNextStep => "Call completed, no next step",
            TriggerKind::StageUnchanged => "Deal stage unchanged",
            TriggerKind::QuoteExpired => "Quote or contract expired",
            TriggerKind::LeadNoSecondReply => "Lead inquiry, no second reply",
            TriggerKind::MeetingPrep => "Meeting prep",
            TriggerKind::CallNotes => "CRM update after a call",
            TriggerKind::ProposalDraft => "Proposal to draft",
        }
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One occurrence of a trigger on a deal: the unit that produces at most one draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    pub deal: DealRef,
    pub trigger: TriggerKind,
    /// Stable key of the occurrence, e.g. `proposal_no_reply#2026-11-01T10:00:00.000Z`.
    pub occurrence: String,
    pub due_at: Timestamp,
    pub fired_at: Timestamp,
}

/// `<trigger>#<sortable(at)>`, or `<trigger>#<middle>#<sortable(at)>`: a trigger occurrence key.
pub fn occurrence_key(trigger: &str, middle: Option<&str>, at: Timestamp) -> String {
    let mut out = String::with_capacity(trigger.len() + middle.map_or(0, str::len) + 26);
    out.push_str(trigger);
    out.push('#');
    if let Some(m) = middle {
        out.push_str(m);
        out.push('#');
    }
    push_sortable(&mut out, at);
    out
}
