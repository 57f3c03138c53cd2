//! The founder's configuration: stage mapping, trigger windows, templates. Parsed once at start;
//! a config that does not parse, or maps a stage to nothing, stops the process with the file,
//! line and problem.

pub mod settings;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::domain::{CrmField, Stage, TriggerKind};
use crate::drafting::{Template, TemplateSet};

/// The config shipped in `config/` and compiled into every function (no file I/O at init).
pub static BUNDLED: include_dir::Dir<'_> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../config");
pub const BUNDLED_FILE: &str = "draftgate.toml";

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProposal {
    name: String,
    engagement_types: Vec<String>,
    template: Spanned<String>,
}

/// The note logged with a call's CRM update when the config names no `call_notes` template.
const DEFAULT_CALL_NOTES: &str =
    "Subject: Call notes: {{ deal.name }}, {{ call.date }}\n\n{{ call.summary }}\n";

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

/// A config problem, located.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    founder: Founder,
    #[serde(default)]
    approvers: Vec<Approver>,
    #[serde(default)]
    crm_links: BTreeMap<String, String>,
    #[serde(default)]
    review: ReviewSettings,
    #[serde(default)]
    pipeline: RawPipeline,
    stages: BTreeMap<String, BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    triggers: RawTriggers,
    #[serde(default)]
    limits: Limits,
    templates: BTreeMap<Spanned<String>, BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    writeback: Writeback,
    #[serde(default)]
    proposals: Vec<RawProposal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    parked_statuses: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    proposal_no_reply: Option<RawWindow>,
    call_no_next_step: Option<RawWindow>,
    stage_unchanged: Option<RawWindow>,
    quote_expired: Option<RawWindow>,
    lead_no_second_reply: Option<RawWindow>,
    meeting_prep: Option<RawWindow>,
    call_notes: Option<RawWindow>,
    proposal_draft: Option<RawWindow>,
}

impl RawTriggers {
    fn get(&self, t: TriggerKind) -> Option<&RawWindow> {
        match t {
            TriggerKind::ProposalNoReply => self.proposal_no_reply.as_ref(),
            TriggerKind::CallNoNextStep => self.call_no_next_step.as_ref(),
            TriggerKind::StageUnchanged => self.stage_unchanged.as_ref(),
            TriggerKind::QuoteExpired => self.quote_expired.as_ref(),
            TriggerKind::LeadNoSecondReply => self.lead_no_second_reply.as_ref(),
            TriggerKind::MeetingPrep => self.meeting_prep.as_ref(),
            TriggerKind::CallNotes => self.call_notes.as_ref(),
            TriggerKind::ProposalDraft => self.proposal_draft.as_ref(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(alias = "before_hours")]
    after_hours: Option<Spanned<u32>>,
    after_days: Option<Spanned<u32>>,
    #[serde(default)]
    max_follow_ups: Option<Spanned<u32>>,
    #[serde(default)]
    stages: BTreeMap<Spanned<String>, Spanned<u32>>,
    #[serde(default)]
    deal_types: BTreeMap<String, Spanned<u32>>,
}

/// Where template files are read from: a directory on disk, or the bundled `config/`.
pub trait Files {
    fn read(&self, relative: &str) -> Option<String>;
}

pub struct DiskFiles(pub PathBuf);

impl Files for DiskFiles {
    fn read(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(relative)).ok()
    }
}

pub struct BundledFiles;

impl Files for BundledFiles {
    fn read(&self, relative: &str) -> Option<String> {
        BUNDLED
            .get_file(relative)
            .and_then(|f| f.contents_utf8())
            .map(str::to_string)
    }
}

/// Files held in memory: a config bundle's contents.
pub struct MapFiles<'a>(pub &'a BTreeMap<String, String>);

impl Files for MapFiles<'_> {
    fn read(&self, relative: &str) -> Option<String> {
        self.0.get(relative).cloned()
    }
}

/// Reads through to another source and keeps what was read, so a bundle holds exactly the
/// files the config uses.
struct Recording<'a> {
    inner: &'a dyn Files,
    read: std::cell::RefCell<BTreeMap<String, String>>,
}

impl Files for Recording<'_> {
    fn read(&self, relative: &str) -> Option<String> {
        let text = self.inner.read(relative)?;
        self.read
            .borrow_mut()
            .insert(relative.to_string(), text.clone());
        Some(text)
    }
}

/// The format tag of a config bundle.
pub const BUNDLE_FORMAT: &str = "draftgate-config/1";

/// A config and the template files it uses, as one JSON document: what `draftgate config push`
/// uploads to S3 and what a deployed function loads at start (`DRAFTGATE_CONFIG_S3_URI`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBundle {
    pub format: String,
    /// `draftgate.toml` and each template, by the path the config names it with.
    pub files: BTreeMap<String, String>,
}

impl ConfigBundle {
    /// Validate the config file exactly as `check-config` does and, only if it is valid, bundle
    /// it with the templates it uses.
    pub fn from_file(path: &Path) -> Result<(Config, ConfigBundle), Vec<ConfigError>> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: name.clone(),
                line: None,
                message: format!("cannot read: {e}"),
            }]
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let disk = DiskFiles(dir);
        let recording = Recording {
            inner: &disk,
            read: Default::default(),
        };
        let config = Config::parse(&name, &text, &recording)?;
        let mut files = recording.read.into_inner();
        files.insert(BUNDLED_FILE.to_string(), text);
        Ok((
            config,
            ConfigBundle {
                format: BUNDLE_FORMAT.into(),
                files,
            },
        ))
    }

    /// Read a bundle fetched from `origin` (e.g. `s3://bucket/key`), and validate its config.
    pub fn load(origin: &str, bytes: &[u8]) -> Result<Config, Vec<ConfigError>> {
        let problem = |message: String| {
            vec![ConfigError {
                file: origin.to_string(),
                line: None,
                message,
            }]
        };
        let bundle: ConfigBundle = serde_json::from_slice(bytes).map_err(|e| {
            problem(format!(
                "not a draftgate config bundle ({e}); upload it with `draftgate config push`"
            ))
        })?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(problem(format!(
                "bundle format `{}` is not `{BUNDLE_FORMAT}`; push it again with this version of draftgate",
                bundle.format
            )));
        }
        let text = bundle
            .files
            .get(BUNDLED_FILE)
            .ok_or_else(|| problem(format!("the bundle has no `{BUNDLED_FILE}`")))?;
        Config::parse(
            &format!("{origin}[{BUNDLED_FILE}]"),
            text,
            &MapFiles(&bundle.files),
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bundle is plain strings")
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

impl Config {
    /// The config compiled into the binary.
    pub fn bundled() -> Result<Config, Vec<ConfigError>> {
        let text = BundledFiles.read(BUNDLED_FILE).ok_or_else(|| {
            vec![ConfigError {
                file: BUNDLED_FILE.into(),
                line: None,
                message: "bundled config is missing".into(),
            }]
        })?;
        Config::parse(&format!("config/{BUNDLED_FILE}"), &text, &BundledFiles)
    }

    /// A config file on disk; templates are read relative to its directory.
    pub fn from_file(path: &Path) -> Result<Config, Vec<ConfigError>> {
        ConfigBundle::from_file(path).map(|(config, _)| config)
    }

    /// The config named by `DRAFTGATE_CONFIG` if set, else the bundled one.
    pub fn from_env() -> Result<Config, Vec<ConfigError>> {
        match std::env::var_os("DRAFTGATE_CONFIG") {
            Some(p) if !p.is_empty() => Config::from_file(Path::new(&p)),
            _ => Config::bundled(),
        }
    }

    /// Parse and validate; every problem found is returned, each with its location.
    pub fn parse(file: &str, text: &str, files: &dyn Files) -> Result<Config, Vec<ConfigError>> {
        let err = |line: Option<usize>, message: String| ConfigError {
            file: file.to_string(),
            line,
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            vec![err(line, e.message().trim().to_string())]
        })?;
        let mut problems = Vec::new();

        let mut stages: BTreeMap<String, BTreeMap<String, Stage>> = BTreeMap::new();
        for (provider, map) in &raw.stages {
            for (id, target) in map {
                let line = Some(line_of(text, target.span().start));
                match Stage::parse(target.get_ref().trim()) {
                    Some(stage) => {
                        stages.entry(provider.clone()).or_default().insert(id.clone(), stage);
                    }
                    None if target.get_ref().trim().is_empty() => problems.push(err(
                        line,
                        format!("stage `{id}` of `{provider}` maps to nothing; map it to one of {}", stage_list()),
                    )),
                    None => problems.push(err(
                        line,
                        format!("stage `{id}` of `{provider}` maps to unknown stage `{}`; expected one of {}", target.get_ref(), stage_list()),
                    )),
                }
            }
        }
        if stages.is_empty() && problems.is_empty() {
            problems.push(err(
                None,
                "[stages] maps no provider stage; add e.g. [stages.hubspot]".into(),
            ));
        }

        let mut window = |raw: Option<&RawWindow>, default_hours: u32, name: &str| -> Window {
            let mut w = Window {
                hours: default_hours,
                per_stage: BTreeMap::new(),
                per_deal_type: BTreeMap::new(),
            };
            let Some(raw) = raw else { return w };
            match (&raw.after_hours, &raw.after_days) {
                (Some(_), Some(d)) => problems.push(err(
                    Some(line_of(text, d.span().start)),
                    format!("[triggers.{name}] sets both after_hours and after_days; keep one"),
                )),
                (Some(h), None) => w.hours = *h.get_ref(),
                (None, Some(d)) => w.hours = d.get_ref() * 24,
                (None, None) => {}
            }
            let unit = if raw.after_days.is_some() { 24 } else { 1 };
            let spans = raw
                .after_hours
                .as_ref()
                .map(Spanned::span)
                .or(raw.after_days.as_ref().map(Spanned::span));
            if w.hours == 0 {
                problems.push(err(
                    spans.map(|s| line_of(text, s.start)),
                    format!("[triggers.{name}] window is zero"),
                ));
            }
            for (stage, value) in &raw.stages {
                match Stage::parse(stage.get_ref()) {
                    Some(s) if s.is_closed() => problems.push(err(
                        Some(line_of(text, stage.span().start)),
                        format!("[triggers.{name}.stages] `{}` is a closed stage; no follow-up fires there", stage.get_ref()),
                    )),
                    Some(s) => {
                        w.per_stage.insert(s, value.get_ref() * unit);
                    }
                    None => problems.push(err(
                        Some(line_of(text, stage.span().start)),
                        format!("[triggers.{name}.stages] unknown stage `{}`; expected one of {}", stage.get_ref(), stage_list()),
                    )),
                }
            }
            for (t, value) in &raw.deal_types {
                w.per_deal_type.insert(t.clone(), value.get_ref() * unit);
            }
            let overrides = raw
                .stages
                .iter()
                .map(|(k, v)| (k.get_ref(), v))
                .chain(raw.deal_types.iter());
            for (label, value) in overrides {
                if *value.get_ref() == 0 {
                    problems.push(err(
                        Some(line_of(text, value.span().start)),
                        format!("[triggers.{name}] window for `{label}` is zero"),
                    ));
                }
            }
            w
        };
        let mut windows = BTreeMap::new();
        for t in TriggerKind::ALL {
            windows.insert(
                t,
                window(raw.triggers.get(t), default_window_hours(t), t.as_str()),
            );
        }
        // An override for a stage no provider maps to can never apply.
        let mapped: std::collections::BTreeSet<Stage> =
            stages.values().flat_map(|m| m.values().copied()).collect();
        for t in TriggerKind::ALL {
            if let Some(raw_w) = raw.triggers.get(t) {
                for stage in raw_w.stages.keys() {
                    if let Some(st) = Stage::parse(stage.get_ref()) {
                        if !mapped.contains(&st) && !stages.is_empty() {
                            problems.push(err(
                                Some(line_of(text, stage.span().start)),
                                format!("[triggers.{t}.stages] `{st}` is not the target of any stage mapping, so this window can never fire"),
                            ));
                        }
                    }
                }
            }
        }
        let lead_max_follow_ups = match raw
            .triggers
            .lead_no_second_reply
            .as_ref()
            .and_then(|w| w.max_follow_ups.as_ref())
        {
            Some(m) if *m.get_ref() == 0 => {
                problems.push(err(
                    Some(line_of(text, m.span().start)),
                    "[triggers.lead_no_second_reply] max_follow_ups of 0 means it can never fire"
                        .into(),
                ));
                3
            }
            Some(m) => *m.get_ref(),
            None => 3,
        };
        // The same provider stage id mapped twice (ids differing only in case overlap).
        for (provider, map) in &raw.stages {
            let mut seen: BTreeMap<String, &String> = BTreeMap::new();
            for (id, target) in map {
                if let Some(first) = seen.insert(id.to_lowercase(), id) {
                    problems.push(err(
                        Some(line_of(text, target.span().start)),
                        format!("stage `{id}` of `{provider}` overlaps `{first}` (the same stage id); keep one mapping"),
                    ));
                }
            }
        }
        if raw.limits.daily_draft_budget == 0 {
            problems.push(err(
                None,
                "[limits] daily_draft_budget of 0 means no draft is ever written".into(),
            ));
        }
        if raw.limits.per_deal_open_drafts == 0 {
            problems.push(err(
                None,
                "[limits] per_deal_open_drafts of 0 means no draft is ever written".into(),
            ));
        }

        let mut templates = TemplateSet::default();
        for (trigger_name, variants) in &raw.templates {
            let line = Some(line_of(text, trigger_name.span().start));
            let Some(trigger) = TriggerKind::parse(trigger_name.get_ref()) else {
                problems.push(err(
                    line,
                    format!(
                        "[templates.{}] is not a trigger; expected one of {}",
                        trigger_name.get_ref(),
                        trigger_list()
                    ),
                ));
                continue;
            };
            if !variants.contains_key("default") {
                problems.push(err(
                    line,
                    format!(
                        "[templates.{}] needs a `default` template",
                        trigger_name.get_ref()
                    ),
                ));
            }
            for (variant, path) in variants {
                let pline = Some(line_of(text, path.span().start));
                match files.read(path.get_ref()) {
                    None => problems.push(err(
                        pline,
                        format!("template file `{}` not found", path.get_ref()),
                    )),
                    Some(src) => match Template::parse(path.get_ref(), &src) {
                        Ok(t) => {
                            for var in &t.variables {
                                if !KNOWN_VARIABLES.contains(&var.as_str()) {
                                    let line = src
                                        .lines()
                                        .position(|l| l.contains(var.as_str()))
                                        .map(|i| i + 1);
                                    problems.push(ConfigError {
                                        file: path.get_ref().clone(),
                                        line,
                                        message: format!(
                                            "`{var}` is not provided by any CRM mapping or by draftgate; known variables: {}",
                                            KNOWN_VARIABLES.join(", ")
                                        ),
                                    });
                                }
                            }
                            templates.insert(trigger, variant, t);
                        }
                        Err(e) => problems.push(ConfigError {
                            file: path.get_ref().clone(),
                            line: e.line,
                            message: e.message,
                        }),
                    },
                }
            }
        }
        let mut proposals = Vec::new();
        for raw_p in &raw.proposals {
            let pline = Some(line_of(text, raw_p.template.span().start));
            if raw_p.engagement_types.is_empty() {
                problems.push(err(
                    pline,
                    format!(
                        "[[proposals]] `{}` names no engagement_types (the deal types it is for)",
                        raw_p.name
                    ),
                ));
            }
            let Some(src) = files.read(raw_p.template.get_ref()) else {
                problems.push(err(
                    pline,
                    format!(
                        "proposal template file `{}` not found",
                        raw_p.template.get_ref()
                    ),
                ));
                continue;
            };
            match Template::parse(raw_p.template.get_ref(), &src) {
                Err(e) => problems.push(ConfigError {
                    file: raw_p.template.get_ref().clone(),
                    line: e.line,
                    message: e.message,
                }),
                Ok(t) => {
                    let headings: Vec<String> = t
                        .body
                        .lines()
                        .filter(|l| l.starts_with('#'))
                        .map(str::to_lowercase)
                        .collect();
                    for section in PROPOSAL_SECTIONS {
                        if !headings.iter().any(|h| h.contains(section)) {
                            problems.push(ConfigError {
                                file: raw_p.template.get_ref().clone(),
                                line: None,
                                message: format!("a proposal needs a `## …{section}…` section (service, deliverables, timeline, pricing, terms)"),
                            });
                        }
                    }
                    for var in &t.variables {
                        if !KNOWN_VARIABLES.contains(&var.as_str()) {
                            problems.push(ConfigError {
                                file: raw_p.template.get_ref().clone(),
                                line: None,
                                message: format!("`{var}` is not provided by any CRM mapping or by draftgate; known variables: {}", KNOWN_VARIABLES.join(", ")),
                            });
                        }
                    }
                    proposals.push(ProposalTemplate {
                        name: raw_p.name.clone(),
                        engagement_types: raw_p
                            .engagement_types
                            .iter()
                            .map(|t| t.to_lowercase())
                            .collect(),
                        template: t,
                    });
                }
            }
        }
        for (i, a) in proposals.iter().enumerate() {
            for b in &proposals[i + 1..] {
                if let Some(t) = a
                    .engagement_types
                    .iter()
                    .find(|t| b.engagement_types.contains(t))
                {
                    problems.push(err(None, format!("engagement type `{t}` has two proposal templates (`{}`, `{}`); keep one", a.name, b.name)));
                }
            }
        }
        // The CRM note of a call's update, unless the founder words it: the call's notes.
        if !templates.has(TriggerKind::CallNotes) {
            let t = Template::parse("built-in call_notes", DEFAULT_CALL_NOTES)
                .expect("the built-in template parses");
            templates.insert(TriggerKind::CallNotes, "default", t);
        }
        for trigger in TriggerKind::ALL {
            // Proposals come from [[proposals]], by engagement type.
            if trigger == TriggerKind::ProposalDraft {
                continue;
            }
            if !templates.has(trigger)
                && !raw
                    .templates
                    .keys()
                    .any(|k| k.get_ref() == trigger.as_str())
            {
                problems.push(err(None, format!("no template for trigger `{trigger}`; add [templates.{trigger}] default = \"templates/{trigger}.txt\"")));
            }
        }
        if jiff::tz::TimeZone::get(&raw.founder.timezone).is_err() {
            problems.push(err(
                None,
                format!(
                    "founder.timezone `{}` is not a known IANA time zone",
                    raw.founder.timezone
                ),
            ));
        }
        if !raw.founder.email.contains('@') {
            problems.push(err(
                None,
                format!(
                    "founder.email `{}` is not an email address",
                    raw.founder.email
                ),
            ));
        }

        for (crm, url) in &raw.crm_links {
            if !url.starts_with("https://") || !url.contains("{id}") {
                problems.push(err(
                    None,
                    format!("crm_links.{crm}: `{url}` must be an https:// URL with `{{id}}` where the deal id goes"),
                ));
            }
        }
        const DAYS: [&str; 8] = [
            "off",
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ];
        if !DAYS.contains(&raw.review.summary_day.to_ascii_lowercase().as_str())
            || raw.review.summary_hour > 23
        {
            problems.push(err(
                None,
                format!(
                    "review.summary_day must be a weekday name and summary_hour 0 to 23, not `{}` / {}",
                    raw.review.summary_day, raw.review.summary_hour
                ),
            ));
        }
        if raw.review.digest_hour > 23 {
            problems.push(err(
                None,
                format!(
                    "review.digest_hour must be 0 to 23, not {}",
                    raw.review.digest_hour
                ),
            ));
        }
        for a in &raw.approvers {
            if crate::domain::mail::address(&a.email).is_none() {
                problems.push(err(
                    None,
                    format!("approvers: `{}` is not an email address", a.email),
                ));
            }
        }
        let approvers = if raw.approvers.is_empty() {
            vec![Approver {
                email: raw.founder.email.clone(),
                name: Some(raw.founder.name.clone()),
                slack_user_id: None,
            }]
        } else {
            raw.approvers
        };

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Config {
            crm_links: raw.crm_links,
            approvers,
            founder: raw.founder,
            review: raw.review,
            parked_statuses: raw
                .pipeline
                .parked_statuses
                .iter()
                .map(|s| s.to_lowercase())
                .collect(),
            stages,
            windows,
            lead_max_follow_ups,
            limits: raw.limits,
            templates,
            writeback: raw.writeback,
            proposals,
        })
    }

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

/// Print config problems and exit: used by every binary at start.
pub fn load_or_exit() -> Config {
    match Config::from_env() {
        Ok(c) => c,
        Err(problems) => {
            for p in &problems {
                tracing::error!(problem = %p, "config error");
            }
            settings::refuse_to_start(&format_args!(
                "{} config problem(s): {}",
                problems.len(),
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        }
    }
}

fn stage_list() -> String {
    Stage::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn trigger_list() -> String {
    TriggerKind::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoFiles;
    impl Files for NoFiles {
        fn read(&self, relative: &str) -> Option<String> {
            relative
                .starts_with("templates/")
                .then(|| "Subject: Hi {{ contact.first_name }}\n\nHello.\n".to_string())
        }
    }

    const GOOD: &str = r#"
[founder]
name = "Alex"
email = "alex@example.com"
from = "Alex <alex@example.com>"

[stages.hubspot]
contractsent = "proposal"
closedwon = "closed_won"
decisionmakerboughtin = "negotiating"

[triggers.stage_unchanged]
after_days = 7
[triggers.stage_unchanged.stages]
negotiating = 5

[templates.proposal_no_reply]
default = "templates/a.txt"
[templates.stage_unchanged]
default = "templates/b.txt"
[templates.call_no_next_step]
default = "templates/c.txt"
[templates.quote_expired]
default = "templates/d.txt"
[templates.lead_no_second_reply]
default = "templates/e.txt"
[templates.meeting_prep]
default = "templates/f.txt"
"#;

    #[test]
    fn the_bundled_config_is_valid() {
        let c = Config::bundled().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            c.canonical_stage("hubspot", "contractsent"),
            Some(Stage::Proposal)
        );
        assert_eq!(
            c.canonical_stage("hubspot", "closedlost"),
            Some(Stage::ClosedLost)
        );
    }

    #[test]
    fn windows_resolve_deal_type_then_stage_then_default() {
        let c = Config::parse("t.toml", GOOD, &NoFiles).unwrap();
        assert_eq!(c.window(TriggerKind::ProposalNoReply).hours, 72);
        assert_eq!(
            c.window(TriggerKind::StageUnchanged)
                .hours_for(Some(Stage::Qualified), None),
            168
        );
        assert_eq!(
            c.window(TriggerKind::StageUnchanged)
                .hours_for(Some(Stage::Negotiating), None),
            120
        );
    }

    #[test]
    fn a_stage_mapped_to_nothing_is_reported_with_its_line() {
        let bad = GOOD.replace("closedwon = \"closed_won\"", "closedwon = \"\"");
        let errs = Config::parse("t.toml", &bad, &NoFiles).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].line, Some(9));
        assert!(errs[0].message.contains("maps to nothing"), "{}", errs[0]);
        assert_eq!(
            errs[0].to_string().split(':').take(2).collect::<Vec<_>>(),
            ["t.toml", "9"]
        );
    }

    #[test]
    fn an_unknown_canonical_stage_is_reported_with_its_line() {
        let bad = GOOD.replace("\"proposal\"", "\"propsal\"");
        let errs = Config::parse("t.toml", &bad, &NoFiles).unwrap_err();
        assert_eq!(errs[0].line, Some(8));
        assert!(errs[0].message.contains("unknown stage `propsal`"));
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let bad = GOOD.replace("[stages.hubspot]", "[stages.hubspot");
        let errs = Config::parse("t.toml", &bad, &NoFiles).unwrap_err();
        assert_eq!(errs[0].line, Some(7), "{errs:?}");
    }

    #[test]
    fn a_missing_template_file_is_reported() {
        struct Empty;
        impl Files for Empty {
            fn read(&self, _: &str) -> Option<String> {
                None
            }
        }
        let errs = Config::parse("t.toml", GOOD, &Empty).unwrap_err();
        assert!(
            errs.iter().any(|e| e
                .message
                .contains("template file `templates/a.txt` not found")
                && e.line == Some(18)),
            "{errs:?}"
        );
    }

    #[test]
    fn a_zero_window_is_rejected() {
        let bad = GOOD.replace("after_days = 7", "after_days = 0");
        let errs = Config::parse("t.toml", &bad, &NoFiles).unwrap_err();
        assert!(errs[0].message.contains("window is zero"), "{errs:?}");
    }

    #[test]
    fn a_template_field_no_source_provides_is_reported_with_file_and_line() {
        struct Typo;
        impl Files for Typo {
            fn read(&self, relative: &str) -> Option<String> {
                Some(if relative == "templates/a.txt" {
                    "Subject: Hi\n\nHello {{ contact.firstname }},\n".to_string()
                } else {
                    "Subject: Hi\n\nHello.\n".to_string()
                })
            }
        }
        let errs = Config::parse("t.toml", GOOD, &Typo).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            (errs[0].file.as_str(), errs[0].line),
            ("templates/a.txt", Some(3))
        );
        assert!(errs[0]
            .message
            .contains("`contact.firstname` is not provided"));
    }

    #[test]
    fn overlapping_stage_ids_and_overrides_that_can_never_apply_are_reported() {
        let bad = GOOD.replace(
            "closedwon = \"closed_won\"",
            "closedwon = \"closed_won\"\nContractSent = \"negotiating\"",
        );
        let errs = Config::parse("t.toml", &bad, &NoFiles).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.message.contains("overlaps") && e.line.is_some()),
            "{errs:?}"
        );
        let never = GOOD.replace("decisionmakerboughtin = \"negotiating\"\n", "");
        let errs = Config::parse("t.toml", &never, &NoFiles).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.message.contains("can never fire") && e.line == Some(14)),
            "{errs:?}"
        );
    }

    #[test]
    fn a_proposal_template_is_picked_by_engagement_type_never_guessed() {
        let mut c = Config::bundled().unwrap();
        assert_eq!(c.proposals.len(), 3);
        assert_eq!(
            c.proposal_for(Some("ExistingBusiness")).unwrap().name,
            "Retainer"
        );
        assert!(c.proposal_for(Some("consulting")).is_none());
        assert!(c.proposal_for(None).is_none());
        c.proposals[2].engagement_types.push("*".into());
        assert_eq!(
            c.proposal_for(None).unwrap().name,
            "Audit",
            "the founder's catch-all"
        );
        assert_eq!(c.proposal_for(Some("newbusiness")).unwrap().name, "Project");
    }

    #[test]
    fn a_proposal_template_without_its_sections_is_refused() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/draftgate.toml"
        ))
        .unwrap();
        let files = BTreeMap::from([(
            "templates/proposals/audit.md".to_string(),
            "Subject: Proposal\n\n## Service\n\nWe audit.\n".to_string(),
        )]);
        fn walk(dir: &include_dir::Dir<'_>, all: &mut BTreeMap<String, String>) {
            for f in dir.files() {
                all.insert(
                    f.path().display().to_string(),
                    f.contents_utf8().unwrap().to_string(),
                );
            }
            for d in dir.dirs() {
                walk(d, all);
            }
        }
        let mut all: BTreeMap<String, String> = BTreeMap::new();
        walk(&BUNDLED, &mut all);
        all.extend(files);
        let errs = Config::parse("draftgate.toml", &text, &MapFiles(&all)).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 4, "{text:?}");
        assert!(text.iter().all(|e| e.contains("audit.md")), "{text:?}");
        assert!(text.iter().any(|e| e.contains("## …pricing…")), "{text:?}");
    }

    #[test]
    fn the_bundled_config_round_trips_through_a_bundle_with_exactly_its_templates() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/draftgate.toml"
        ));
        let (config, bundle) = ConfigBundle::from_file(path).unwrap();
        let templates: Vec<&String> = bundle.files.keys().filter(|k| *k != BUNDLED_FILE).collect();
        assert_eq!(
            templates.len(),
            config.templates.all().count() + config.proposals.len()
        );
        assert!(templates.iter().all(|t| t.starts_with("templates/")));
        let loaded = ConfigBundle::load("s3://b/k", bundle.to_json().as_bytes()).unwrap();
        assert_eq!(loaded.stages, config.stages);
        assert_eq!(loaded.windows, config.windows);
        assert_eq!(
            loaded.templates.all().count(),
            config.templates.all().count()
        );
    }

    #[test]
    fn a_broken_bundle_is_refused_with_its_origin_file_and_line() {
        let mut files = BTreeMap::new();
        files.insert(
            BUNDLED_FILE.to_string(),
            GOOD.replace("contractsent = \"proposal\"", "contractsent = \"proposl\""),
        );
        files.insert("templates/a.txt".into(), "Subject: A\n\nBody\n".into());
        files.insert("templates/b.txt".into(), "Subject: B\n\nBody\n".into());
        let bundle = ConfigBundle {
            format: BUNDLE_FORMAT.into(),
            files,
        };
        let problems = ConfigBundle::load("s3://b/k", bundle.to_json().as_bytes()).unwrap_err();
        let first = problems[0].to_string();
        assert!(
            first.starts_with("s3://b/k[draftgate.toml]:8: ") && first.contains("proposl"),
            "{first}"
        );
        let not_json = ConfigBundle::load("s3://b/k", b"[founder]").unwrap_err();
        assert!(not_json[0]
            .to_string()
            .contains("not a draftgate config bundle"));
        let other = ConfigBundle::load("s3://b/k", br#"{"format":"x/9","files":{}}"#).unwrap_err();
        assert!(other[0].to_string().contains("bundle format `x/9`"));
    }
}
