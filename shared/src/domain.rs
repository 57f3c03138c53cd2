//! The deal pipeline in draftgate's own terms. No AWS or provider types here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Canonical pipeline stages every provider stage maps onto (through the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Qualified,
    Proposal,
    Negotiating,
    ClosedWon,
    ClosedLost,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Qualified,
        Stage::Proposal,
        Stage::Negotiating,
        Stage::ClosedWon,
        Stage::ClosedLost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Qualified => "qualified",
            Stage::Proposal => "proposal",
            Stage::Negotiating => "negotiating",
            Stage::ClosedWon => "closed_won",
            Stage::ClosedLost => "closed_lost",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Stage::ClosedWon | Stage::ClosedLost)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deal as the CRM that owns it names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DealRef {
    pub crm: String,
    pub id: String,
}

impl DealRef {
    pub fn new(crm: impl Into<String>, id: impl Into<String>) -> Self {
        DealRef {
            crm: crm.into(),
            id: id.into(),
        }
    }
}

impl fmt::Display for DealRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.crm, self.id)
    }
}

/// One fact a draft may use, with where it came from, so no draft carries an unsourced fact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub value: String,
    pub source: String,
}

impl Fact {
    pub fn new(value: impl Into<String>, source: impl Into<String>) -> Self {
        Fact {
            value: value.into(),
            source: source.into(),
        }
    }
}

/// The last thing that happened between the founder and the prospect, quoted in drafts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub at: Timestamp,
    pub summary: String,
    pub source: String,
}

/// What the CRM says about a deal right now (fetched from its API or carried in the webhook).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DealSnapshot {
    pub name: Option<String>,
    pub raw_stage: Option<String>,
    pub pipeline: Option<String>,
    pub status: Option<String>,
    pub deal_type: Option<String>,
    pub amount: Option<f64>,
    pub currency: Option<String>,
    pub contact_email: Option<String>,
    /// Template facts keyed by dotted variable name (`deal.name`, `contact.first_name`, ...).
    pub facts: BTreeMap<String, Fact>,
    /// Links to this deal from things other events name instead of the deal (a Close lead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// The mail conversation the event's message is in (read from the founder's mailbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<crate::mail::MailThread>,
}

impl DealSnapshot {
    /// Take `newer`'s view where it has one (a CRM read over what a webhook carried).
    pub fn merge(&mut self, newer: DealSnapshot) {
        fn take<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        take(&mut self.name, newer.name);
        take(&mut self.raw_stage, newer.raw_stage);
        take(&mut self.pipeline, newer.pipeline);
        take(&mut self.status, newer.status);
        take(&mut self.deal_type, newer.deal_type);
        take(&mut self.amount, newer.amount);
        take(&mut self.currency, newer.currency);
        take(&mut self.contact_email, newer.contact_email);
        take(&mut self.conversation, newer.conversation);
        self.facts.extend(newer.facts);
        for link in newer.links {
            if !self.links.contains(&link) {
                self.links.push(link);
            }
        }
    }
}

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

/// The state of one deal, kept current from its events. `version` guards concurrent writers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    pub key: DealRef,
    pub version: u64,
    pub name: String,
    pub stage: Option<Stage>,
    pub raw_stage: Option<String>,
    pub pipeline: Option<String>,
    pub status: Option<String>,
    pub deal_type: Option<String>,
    pub amount: Option<f64>,
    pub currency: Option<String>,
    pub contact_email: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the deal entered its current stage (the newest stage change applied).
    pub stage_entered_at: Timestamp,
    /// When the deal last came into the canonical `proposal` stage from another one (a move
    /// between two CRM stages that both map to `proposal` is not a new entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_entered_at: Option<Timestamp>,
    pub proposal_sent_at: Option<Timestamp>,
    /// When a proposal document itself last went out (a proposal tool's document, or
    /// draftgate's approved proposal draft), not just a move into the proposal stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_document_at: Option<Timestamp>,
    /// The prospect's last real (not automatic) reply or signature.
    pub last_inbound_at: Option<Timestamp>,
    /// Our last message to the prospect.
    pub last_outbound_at: Option<Timestamp>,
    /// The founder's last own mail to the prospect (from the mailbox, outside draftgate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub founder_mail_at: Option<Timestamp>,
    /// The last follow-up draftgate sent on approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_sent_at: Option<Timestamp>,
    pub meeting_booked_at: Option<Timestamp>,
    /// The last time a meeting was booked, kept when it is cancelled: booking it was a
    /// conversation with the prospect either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_contact_at: Option<Timestamp>,
    /// Start of the next scheduled meeting, if one is booked and not cancelled.
    #[serde(default)]
    pub next_meeting_at: Option<Timestamp>,
    #[serde(default)]
    pub next_meeting_id: Option<String>,
    #[serde(default)]
    pub last_call_at: Option<Timestamp>,
    /// The newest call that came with notes: what a "CRM update after a call" draft rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_call_note: Option<CallNote>,
    #[serde(default)]
    pub quote_sent_at: Option<Timestamp>,
    #[serde(default)]
    pub quote_expires_on: Option<jiff::civil::Date>,
    /// When the lead first wrote in.
    #[serde(default)]
    pub lead_inquiry_at: Option<Timestamp>,
    /// Follow-ups sent since the prospect last wrote (the lead trigger stops at its cap).
    #[serde(default)]
    pub lead_follow_ups: u32,
    #[serde(default)]
    pub declined_at: Option<Timestamp>,
    /// Follow-ups held back by the daily draft budget until this time.
    #[serde(default)]
    pub deferred_until: Option<Timestamp>,
    pub last_interaction: Option<Interaction>,
    /// Parked by a person (a rejection's reason): no drafts until unparked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub founder_parked: bool,
    /// Snoozed by a person: no drafts before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<Timestamp>,
    /// Occurrences re-armed for later ("wrong timing"): how often, and when each comes back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rearmed: BTreeMap<String, Rearmed>,
    /// Contact addresses a person said are wrong for this deal.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub wrong_contacts: BTreeSet<String>,
    /// The newest mail conversation with the prospect: a follow-up continues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<crate::mail::MailThread>,
    /// The links already written to lead to this deal (`PipelineStore::put_links`), so each
    /// is written once, not on every event.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub linked: BTreeSet<String>,
    pub deleted: bool,
    pub facts: BTreeMap<String, Fact>,
    /// Trigger occurrences already claimed for this deal (see `rules`).
    pub fired: BTreeSet<String>,
    pub next_due_at: Option<Timestamp>,
}

impl Deal {
    pub fn new(key: DealRef, at: Timestamp) -> Deal {
        Deal {
            name: format!("{key}"),
            key,
            version: 0,
            stage: None,
            raw_stage: None,
            pipeline: None,
            status: None,
            deal_type: None,
            amount: None,
            currency: None,
            contact_email: None,
            created_at: at,
            updated_at: at,
            stage_entered_at: at,
            proposal_entered_at: None,
            proposal_sent_at: None,
            proposal_document_at: None,
            last_inbound_at: None,
            last_outbound_at: None,
            founder_mail_at: None,
            follow_up_sent_at: None,
            meeting_booked_at: None,
            meeting_contact_at: None,
            next_meeting_at: None,
            next_meeting_id: None,
            last_call_at: None,
            last_call_note: None,
            quote_sent_at: None,
            quote_expires_on: None,
            lead_inquiry_at: None,
            lead_follow_ups: 0,
            declined_at: None,
            deferred_until: None,
            last_interaction: None,
            founder_parked: false,
            snoozed_until: None,
            rearmed: BTreeMap::new(),
            wrong_contacts: BTreeSet::new(),
            conversation: None,
            linked: BTreeSet::new(),
            deleted: false,
            facts: BTreeMap::new(),
            fired: BTreeSet::new(),
            next_due_at: None,
        }
    }

    /// The last two-way contact with the prospect by `now`: a reply (or signature), a logged
    /// call, a booked meeting or one held, the founder's own mail, an approved send. A waiting
    /// follow-up written before it is withdrawn: the conversation is live.
    pub fn two_way_contact(&self, now: Timestamp) -> Option<Contact> {
        self.newest_contact(now, true)
    }

    /// The last contact that starts a new spell of quiet: every two-way contact but
    /// draftgate's own follow-ups, which postpone the next nudge but open no new one.
    pub fn last_conversation(&self, now: Timestamp) -> Option<Contact> {
        self.newest_contact(now, false)
    }

    fn newest_contact(&self, now: Timestamp, with_sends: bool) -> Option<Contact> {
        [
            (self.last_inbound_at, ContactKind::Reply),
            (self.last_call_at, ContactKind::Call),
            (
                self.meeting_contact_at.or(self.meeting_booked_at),
                ContactKind::MeetingBooked,
            ),
            (
                self.next_meeting_at.filter(|at| *at <= now),
                ContactKind::MeetingHeld,
            ),
            (self.founder_mail_at, ContactKind::FounderMail),
            (
                self.follow_up_sent_at.filter(|_| with_sends),
                ContactKind::FollowUpSent,
            ),
        ]
        .into_iter()
        .filter_map(|(at, kind)| Some(Contact { at: at?, kind }))
        .max_by_key(|c| c.at)
    }

    /// The last contact in either direction, for "days since last contact": any two-way
    /// contact (calls and meetings too), our messages and proposals.
    pub fn last_contact_at(&self) -> Option<Timestamp> {
        [
            self.last_inbound_at,
            self.last_outbound_at,
            self.proposal_sent_at,
            self.last_call_at,
            self.meeting_contact_at.or(self.meeting_booked_at),
        ]
        .into_iter()
        .flatten()
        .max()
    }
}

/// What a two-way contact with the prospect was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Reply,
    Call,
    MeetingBooked,
    MeetingHeld,
    FounderMail,
    FollowUpSent,
}

impl ContactKind {
    /// "the prospect replied", "a call was logged", … (followed by a time).
    pub fn words(self) -> &'static str {
        match self {
            ContactKind::Reply => "the prospect replied",
            ContactKind::Call => "a call was logged",
            ContactKind::MeetingBooked => "a meeting was booked",
            ContactKind::MeetingHeld => "a meeting was held",
            ContactKind::FounderMail => "you wrote to the prospect",
            ContactKind::FollowUpSent => "a follow-up was sent",
        }
    }
}

/// One two-way contact: when, and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub at: Timestamp,
    pub kind: ContactKind,
}

/// Notes taken on a call, as the CRM carries them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallNote {
    pub at: Timestamp,
    pub text: String,
    /// The event that carried the notes (`source` and id), named as the diff's source.
    pub source: String,
}

/// A trigger occurrence put back for later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rearmed {
    pub times: u32,
    pub at: Timestamp,
}

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
}

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

/// One append-only audit record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: Timestamp,
    pub kind: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<DealRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub fn new(at: Timestamp, kind: &str, actor: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            id: ulid::Ulid::new().to_string(),
            at,
            kind: kind.to_string(),
            actor: actor.to_string(),
            deal: None,
            draft_id: None,
            detail,
        }
    }

    pub fn deal(mut self, deal: &DealRef) -> Self {
        self.deal = Some(deal.clone());
        self
    }

    pub fn draft(mut self, id: &str) -> Self {
        self.draft_id = Some(id.to_string());
        self
    }
}

/// A message to a prospect, handed to the sender after approval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboundEmail {
    pub draft_id: String,
    pub from: String,
    pub to: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub body: String,
    /// The conversation this message continues, if the deal has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<crate::mail::MailThread>,
}

impl OutboundEmail {
    /// The message's own `Message-ID`, derived from its draft so a retried send can find it.
    pub fn message_id(&self) -> String {
        let domain = crate::mail::address(&self.from)
            .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_string()))
            .unwrap_or_else(|| "draftgate.invalid".into());
        format!("<{}.draftgate@{domain}>", self.draft_id)
    }
}

/// What a sender reports of a message it sent.
#[derive(Clone, Debug, PartialEq)]
pub struct SentReceipt {
    /// The provider's message id.
    pub id: String,
    /// The conversation the message is now the newest message of (mailbox senders).
    pub conversation: Option<crate::mail::MailThread>,
}

/// A message to the founder about a draft waiting for review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FounderNotification {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The draft to review; `None` for internal briefs, which need no decision.
    pub draft_id: Option<String>,
    pub deal_name: String,
    pub review_url: Option<String>,
    /// For one person's inbox only (a fresh link): shared channels (Slack) skip it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub personal: bool,
}

/// Published on the event bus for downstream automation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub detail_type: String,
    pub detail: serde_json::Value,
}
