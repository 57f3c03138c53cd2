//! A deal: its stage, its state as events left it, its facts and contacts.

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
    pub conversation: Option<crate::domain::mail::MailThread>,
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
    pub conversation: Option<crate::domain::mail::MailThread>,
    /// The links already written to lead to this deal (`Bookkeeping::put_links`), so each
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
