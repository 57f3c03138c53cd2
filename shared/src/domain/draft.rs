//! A draft, its review, and the CRM update it proposes.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::deal::{DealRef, Interaction, Stage};
use super::email::OutboundEmail;
use super::trigger::TriggerKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DraftStatus {
    /// An internal brief delivered to the founder; nothing to decide.
    Brief,
    Pending,
    Snoozed,
    Sending,
    Sent,
    /// A CRM update approved (nothing to send): the write-back queue applies it.
    Approved,
    Rejected,
    Superseded,
}

impl DraftStatus {
    pub const ALL: [DraftStatus; 8] = [
        DraftStatus::Brief,
        DraftStatus::Pending,
        DraftStatus::Snoozed,
        DraftStatus::Sending,
        DraftStatus::Sent,
        DraftStatus::Approved,
        DraftStatus::Rejected,
        DraftStatus::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DraftStatus::Brief => "BRIEF",
            DraftStatus::Pending => "PENDING",
            DraftStatus::Snoozed => "SNOOZED",
            DraftStatus::Sending => "SENDING",
            DraftStatus::Sent => "SENT",
            DraftStatus::Approved => "APPROVED",
            DraftStatus::Rejected => "REJECTED",
            DraftStatus::Superseded => "SUPERSEDED",
        }
    }

    pub fn parse(s: &str) -> Option<DraftStatus> {
        DraftStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A draft the founder can still decide on.
    pub fn is_open(self) -> bool {
        matches!(self, DraftStatus::Pending | DraftStatus::Snoozed)
    }
}

impl fmt::Display for DraftStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A template variable a draft used, its value and its source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FactUse {
    pub variable: String,
    pub value: String,
    pub source: String,
}

/// Why the draft exists and what it rests on, shown on the review page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftContext {
    pub trigger_label: String,
    pub due_at: Timestamp,
    pub fired_at: Timestamp,
    pub days_since_last_contact: Option<i64>,
    pub last_interaction: Option<Interaction>,
    pub facts: Vec<FactUse>,
    pub stage: Option<Stage>,
    pub template: String,
    /// The model asked to write this draft, when one was: whether its draft is the one shown,
    /// or why it was set aside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelUse>,
}

/// What a model did for a draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUse {
    pub model: String,
    /// The model's draft is the one shown (every fact in it checked); `false`: the template's.
    pub written: bool,
    #[serde(default)]
    pub outcome: ModelOutcome,
    /// Why the model's draft was set aside, in words for the founder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Tokens in and out, when the endpoint said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

/// How a model's turn at a draft ended (counted in the weekly summary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelOutcome {
    /// Its draft is the one shown.
    Written,
    /// Its draft said something no source holds, or the guardrail stopped it.
    Refused,
    /// No usable answer: an error, a timeout, throttling, or not a draft.
    #[default]
    Failed,
    /// Not asked: the day's model calls were spent.
    Capped,
    /// Not asked: the template's draft misses facts the model would need.
    NotAsked,
}

/// The reasons a rejection may give, each with its effect on the deal.
pub const REJECT_REASONS: [(&str, &str); 6] = [
    (
        "wrong_timing",
        "Wrong timing: bring this follow-up back later",
    ),
    (
        "snooze_deal",
        "Snooze the deal: no drafts for it for a while",
    ),
    ("park", "Park the deal: no drafts until it is unparked"),
    ("wrong_contact", "Wrong contact: no drafts to this person"),
    (
        "bad_draft",
        "Bad draft: keep my note as feedback on the template",
    ),
    ("other", "Other"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionAction {
    Approve,
    Reject,
    Snooze,
}

impl DecisionAction {
    pub fn parse(s: &str) -> Option<DecisionAction> {
        match s {
            "approve" => Some(DecisionAction::Approve),
            "reject" => Some(DecisionAction::Reject),
            "snooze" => Some(DecisionAction::Snooze),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionAction::Approve => "approve",
            DecisionAction::Reject => "reject",
            DecisionAction::Snooze => "snooze",
        }
    }
}

/// Who decided what, when; for an approval, what changed between the drafted and sent text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub action: DecisionAction,
    pub by: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub edited: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    pub message_id: String,
    pub at: Timestamp,
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub id: String,
    pub deal: DealRef,
    pub deal_name: String,
    pub trigger: TriggerKind,
    pub occurrence: String,
    pub status: DraftStatus,
    pub to: Option<String>,
    pub subject: String,
    pub body: String,
    /// Template variables the CRM did not provide; an incomplete draft cannot be sent as drafted.
    pub missing: Vec<String>,
    pub context: DraftContext,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The message as approved, kept before sending so an interrupted send can be finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outgoing: Option<OutboundEmail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<SentMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_reason: Option<String>,
    /// What the draft proposes to change in the CRM, applied only as approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_update: Option<CrmUpdate>,
    /// A standalone printable document drafted with the message (a proposal), as HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// How writing the approved changes back to the CRM went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writeback: Option<Writeback>,
}

impl Draft {
    /// A draft to the prospect still waiting for a decision (pending or snoozed): what the
    /// per-deal cap counts.
    pub fn counts_as_open(&self) -> bool {
        matches!(self.status, DraftStatus::Pending | DraftStatus::Snoozed)
            && self.trigger.writes_to_prospect()
    }
}

/// A CRM field draftgate may propose to change (each must be allowed in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmField {
    NextStep,
    NextStepDate,
    Stage,
    CloseReason,
    Amount,
}

impl CrmField {
    pub const ALL: [CrmField; 5] = [
        CrmField::NextStep,
        CrmField::NextStepDate,
        CrmField::Stage,
        CrmField::CloseReason,
        CrmField::Amount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CrmField::NextStep => "next_step",
            CrmField::NextStepDate => "next_step_date",
            CrmField::Stage => "stage",
            CrmField::CloseReason => "close_reason",
            CrmField::Amount => "amount",
        }
    }

    pub fn parse(s: &str) -> Option<CrmField> {
        CrmField::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            CrmField::NextStep => "Next step",
            CrmField::NextStepDate => "Next-step date",
            CrmField::Stage => "Stage",
            CrmField::CloseReason => "Close reason",
            CrmField::Amount => "Amount",
        }
    }
}

impl fmt::Display for CrmField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a proposed CRM diff: the field, what the CRM has now, what it would get (the
/// value written, as the CRM stores it), and where the new value came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: CrmField,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
    /// How a person reads `to` (a stage's name rather than its id), when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown: Option<String>,
    pub source: String,
}

/// What a draft proposes to write to the CRM: field changes and a note for the deal's record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CrmUpdate {
    pub changes: Vec<FieldChange>,
    /// Logged on the deal as a note when approved (e.g. the call's notes, summarised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritebackStatus {
    /// Waiting on the write-back queue.
    Queued,
    /// Every write was applied.
    Done,
    /// The CRM refused or did not answer; the queue retries, then keeps it in its DLQ.
    Failed,
}

/// The CRM write-back of an approved draft, as the review page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Writeback {
    pub status: WritebackStatus,
    pub at: Timestamp,
    /// The changes approved (exactly what is written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Draft {
    pub fn is_incomplete(&self) -> bool {
        !self.missing.is_empty()
    }
}
