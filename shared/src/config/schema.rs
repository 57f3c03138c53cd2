//! What a config holds once checked: the founder, approvers, stage maps, windows, limits,
//! templates, write-back and proposals.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::parse::stage_list;
use crate::domain::{CrmField, Stage, TriggerKind};
use crate::drafting::{Template, TemplateSet};

#[derive(Debug, Clone)]
pub struct Config {
    pub founder: Founder,
    /// Who may decide drafts (the founder when none are configured).
    pub approvers: Vec<Approver>,
    pub review: ReviewSettings,
    /// CRM name -> URL of a deal record, with `{id}` for the deal id (links on the draft page).
    pub crm_links: BTreeMap<String, String>,
    pub parked_statuses: Vec<String>,
    /// provider -> provider stage id -> canonical stage
    pub stages: BTreeMap<String, BTreeMap<String, Stage>>,
    /// Trigger windows: hours after the trigger's anchor (for meeting prep, hours before the
    /// meeting; for an expired quote, hours after local midnight of the expiry day).
    pub windows: BTreeMap<TriggerKind, Window>,
    /// Unanswered lead follow-ups before the lead trigger gives up.
    pub lead_max_follow_ups: u32,
    pub limits: Limits,
    pub templates: TemplateSet,
    pub writeback: Writeback,
    /// Proposal templates by engagement type (deal type), for the proposal-draft trigger.
    pub proposals: Vec<ProposalTemplate>,
    /// Who writes the drafts (`[drafting]`): the templates, or the founder's model.
    pub drafting: super::Drafting,
    /// What the provider registry says of the CRMs: not read from the file; the assembly fills
    /// it (a config read on its own knows no CRM: nothing is written back anywhere).
    pub crms: CrmTraits,
}

/// What draftgate knows of the CRMs it reads, from the provider registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmTraits {
    /// The CRMs approved changes are written back to.
    pub writable: Vec<String>,
    /// The CRMs whose deal ids are numbers (anything else names no deal of theirs).
    pub numeric_ids: Vec<String>,
}

impl CrmTraits {
    /// Whether draftgate writes to `crm` at all.
    pub fn writes_to(&self, crm: &str) -> bool {
        self.writable.iter().any(|c| c == crm)
    }

    /// Whether `crm`'s deal ids are numbers.
    pub fn numeric_ids(&self, crm: &str) -> bool {
        self.numeric_ids.iter().any(|c| c == crm)
    }
}

/// What draftgate may write to a CRM (only ever after a person's approval).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Writeback {
    /// The deal fields a draft may propose to change; nothing else is ever written.
    #[serde(default)]
    pub fields: Vec<CrmField>,
    /// Log follow-ups sent, briefs delivered, call notes and outcomes on the deal's record.
    #[serde(default = "yes")]
    pub log_activities: bool,
}

fn yes() -> bool {
    true
}

impl Default for Writeback {
    fn default() -> Self {
        Writeback {
            fields: Vec::new(),
            log_activities: true,
        }
    }
}

impl Writeback {
    pub fn allows(&self, field: CrmField) -> bool {
        self.fields.contains(&field)
    }
}

/// A proposal template and the engagement types (deal types) it is for.
#[derive(Debug, Clone)]
pub struct ProposalTemplate {
    pub name: String,
    pub engagement_types: Vec<String>,
    pub template: Template,
}

/// The sections every proposal template has (as Markdown headings).
pub const PROPOSAL_SECTIONS: [&str; 5] =
    ["service", "deliverables", "timeline", "pricing", "terms"];

/// Keeps the review queue reviewable.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Drafts per day (in the founder's time zone) across all deals.
    #[serde(default = "default_budget")]
    pub daily_draft_budget: u32,
    /// Undecided drafts one deal may have at once.
    #[serde(default = "default_per_deal")]
    pub per_deal_open_drafts: u32,
    /// When the budget is short, deals are ranked by `amount_weight * amount / 1000 +
    /// staleness_weight * days since last contact`.
    #[serde(default = "default_weight")]
    pub amount_weight: f64,
    #[serde(default = "default_weight")]
    pub staleness_weight: f64,
}

fn default_budget() -> u32 {
    20
}
fn default_per_deal() -> u32 {
    1
}
fn default_weight() -> f64 {
    1.0
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            daily_draft_budget: default_budget(),
            per_deal_open_drafts: default_per_deal(),
            amount_weight: 1.0,
            staleness_weight: 1.0,
        }
    }
}

/// Default window of each trigger, in hours.
pub fn default_window_hours(trigger: TriggerKind) -> u32 {
    match trigger {
        TriggerKind::ProposalNoReply => 72,
        TriggerKind::CallNoNextStep => 24,
        TriggerKind::StageUnchanged => 7 * 24,
        TriggerKind::QuoteExpired => 9,
        TriggerKind::LeadNoSecondReply => 48,
        TriggerKind::MeetingPrep => 24,
        // Drafted as soon as the call's notes or the stage change arrive.
        TriggerKind::CallNotes | TriggerKind::ProposalDraft => 0,
    }
}

/// Every template variable draftgate can provide, and which source provides it.
pub const KNOWN_VARIABLES: &[&str] = &[
    "deal.name",
    "deal.amount",
    "deal.close_date",
    "deal.next_step",
    "deal.stage",
    "deal.days_in_stage",
    "contact.first_name",
    "contact.last_name",
    "contact.email",
    "contact.company",
    "proposal.name",
    "proposal.total",
    "proposal.sent_date",
    "quote.expires_on",
    "meeting.starts_at",
    "days_since_last_contact",
    "last_interaction.summary",
    "brief.recent",
    "brief.prospect_said",
    "brief.open_items",
    "brief.stage_history",
    "last_interaction.date",
    "founder.name",
    "founder.email",
    "founder.company",
    "call.notes",
    "call.summary",
    "call.date",
    "call.next_step",
    "last_call.topic",
    "prospect.last_question",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Founder {
    pub name: String,
    pub email: String,
    /// The From header of approved mail, e.g. `Alex Rivera <alex@example.com>`.
    pub from: String,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default = "default_tz")]
    pub timezone: String,
}

fn default_tz() -> String {
    "UTC".into()
}

/// A person who may approve, edit, reject or snooze drafts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approver {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Their Slack user id (`U…`), to decide from Slack.
    #[serde(default)]
    pub slack_user_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    #[serde(default = "default_token_ttl")]
    pub token_ttl_hours: u32,
    #[serde(default = "default_snooze")]
    pub snooze_hours: u32,
    /// "Snooze the deal" from a rejection: days without drafts for the deal.
    #[serde(default = "default_deal_snooze_days")]
    pub deal_snooze_days: u32,
    /// "Wrong timing" from a rejection: days until the trigger comes back.
    #[serde(default = "default_rearm_days")]
    pub rearm_days: u32,
    /// A draft waiting longer than this is reminded once a day (0: never). Nothing is ever
    /// sent without a decision, however long it waits.
    #[serde(default = "default_remind_after")]
    pub remind_after_hours: u32,
    /// `each` (a notification per draft) or `daily_digest` (one a day listing the queue).
    #[serde(default = "default_notify")]
    pub notify: NotifyMode,
    /// The digest's hour in the founder's time zone.
    #[serde(default = "default_digest_hour")]
    pub digest_hour: u8,
    /// The weekly pipeline summary: its day (`monday` … `sunday`, or `off`) and hour, in the
    /// founder's time zone.
    #[serde(default = "default_summary_day")]
    pub summary_day: String,
    #[serde(default = "default_digest_hour")]
    pub summary_hour: u8,
}

/// The weekly pipeline summary is one of the jobs draftgate does: on unless turned off.
fn default_summary_day() -> String {
    "monday".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyMode {
    Each,
    DailyDigest,
}

fn default_remind_after() -> u32 {
    48
}

fn default_notify() -> NotifyMode {
    NotifyMode::Each
}

fn default_digest_hour() -> u8 {
    8
}

fn default_deal_snooze_days() -> u32 {
    14
}

fn default_rearm_days() -> u32 {
    3
}

fn default_token_ttl() -> u32 {
    7 * 24
}
fn default_snooze() -> u32 {
    24
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            token_ttl_hours: default_token_ttl(),
            snooze_hours: default_snooze(),
            deal_snooze_days: default_deal_snooze_days(),
            rearm_days: default_rearm_days(),
            remind_after_hours: default_remind_after(),
            notify: default_notify(),
            digest_hour: default_digest_hour(),
            summary_day: default_summary_day(),
            summary_hour: default_digest_hour(),
        }
    }
}

/// A trigger window in hours, overridable per canonical stage and per deal type
/// (a deal-type override wins over a stage override).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub hours: u32,
    pub per_stage: BTreeMap<Stage, u32>,
    pub per_deal_type: BTreeMap<String, u32>,
}

impl Window {
    pub fn hours_for(&self, stage: Option<Stage>, deal_type: Option<&str>) -> u32 {
        if let Some(h) = deal_type.and_then(|t| self.per_deal_type.get(t)) {
            return *h;
        }
        if let Some(h) = stage.and_then(|s| self.per_stage.get(&s)) {
            return *h;
        }
        self.hours
    }
}

impl Config {
    /// The configured approver with this email (any capitalisation).
    pub fn approver(&self, email: &str) -> Option<&Approver> {
        self.approvers
            .iter()
            .find(|a| a.email.eq_ignore_ascii_case(email.trim()))
    }

    /// The configured approver with this Slack user id.
    pub fn approver_by_slack(&self, user_id: &str) -> Option<&Approver> {
        self.approvers
            .iter()
            .find(|a| a.slack_user_id.as_deref() == Some(user_id))
    }

    /// The canonical stage a provider's stage id maps to.
    pub fn canonical_stage(&self, provider: &str, raw_stage: &str) -> Option<Stage> {
        self.stages
            .get(provider)
            .and_then(|m| m.get(raw_stage))
            .copied()
    }

    /// What the founder should do about a stage id their config does not map.
    pub fn unmapped_stage_hint(&self, crm: &str, stage: &str) -> String {
        match self.stages.get(crm) {
            Some(known) => format!(
                "stage `{stage}` of {crm} is not mapped in [stages.{crm}] of the config (mapped: {}); map it to one of {}",
                known.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
                stage_list()
            ),
            None => format!(
                "stage `{stage}` of {crm} cannot be mapped: the config has no [stages.{crm}] section; add one mapping {crm}'s stage ids to {}",
                stage_list()
            ),
        }
    }

    pub fn is_parked_status(&self, status: &str) -> bool {
        self.parked_statuses
            .iter()
            .any(|s| s.eq_ignore_ascii_case(status))
    }

    pub fn window(&self, trigger: TriggerKind) -> &Window {
        self.windows
            .get(&trigger)
            .expect("every trigger has a window")
    }

    /// The proposal template for a deal's engagement type, if one is configured for it (or a
    /// template the founder named for every other type, `engagement_types = ["*"]`).
    pub fn proposal_for(&self, deal_type: Option<&str>) -> Option<&ProposalTemplate> {
        let t = deal_type.map(|t| t.trim().to_lowercase());
        t.and_then(|t| {
            self.proposals
                .iter()
                .find(|p| p.engagement_types.contains(&t))
        })
        .or_else(|| {
            self.proposals
                .iter()
                .find(|p| p.engagement_types.iter().any(|e| e == "*"))
        })
    }

    pub fn timezone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.founder.timezone).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}
