//! Reading and checking a config: every problem found is returned, each with its file and line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::*;
use crate::domain::{Stage, TriggerKind};
use crate::drafting::{Template, TemplateSet};

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
    #[serde(default)]
    drafting: Drafting,
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

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

pub(super) fn stage_list() -> String {
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

impl Config {
    /// Parse and validate; every problem found is returned, each with its location.
    pub fn parse(file: &str, text: &str, files: &dyn Files) -> Result<Config, Vec<ConfigError>> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            vec![ConfigError {
                file: file.to_string(),
                line,
                message: e.message().trim().to_string(),
            }]
        })?;
        let mut c = Check {
            file,
            text,
            problems: Vec::new(),
        };
        let stages = c.stages(&raw.stages);
        let windows = c.windows(&raw.triggers, &stages);
        let lead_max_follow_ups = c.lead_max_follow_ups(&raw.triggers);
        c.distinct_stage_ids(&raw.stages);
        c.limits(&raw.limits);
        for problem in raw.drafting.field_problems() {
            c.push(drafting_line(text, problem.key), problem.message);
        }
        let mut templates = c.templates(&raw.templates, files);
        let proposals = c.proposals(&raw.proposals, files);
        c.every_trigger_has_a_template(&mut templates, &raw.templates);
        c.founder(&raw.founder);
        c.crm_links(&raw.crm_links);
        c.review(&raw.review);
        let approvers = c.approvers(raw.approvers, &raw.founder);
        if !c.problems.is_empty() {
            return Err(c.problems);
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
            drafting: raw.drafting,
            crms: Default::default(),
        })
    }
}

/// The problems found while checking one config text, each with its file and line: one method
/// per section, in the order the problems are reported.
struct Check<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<ConfigError>,
}

impl Check<'_> {
    fn line(&self, offset: usize) -> Option<usize> {
        Some(line_of(self.text, offset))
    }

    fn push(&mut self, line: Option<usize>, message: String) {
        self.problems.push(ConfigError {
            file: self.file.to_string(),
            line,
            message,
        });
    }

    /// A problem in another file (a template the config names).
    fn push_in(&mut self, file: &str, line: Option<usize>, message: String) {
        self.problems.push(ConfigError {
            file: file.to_string(),
            line,
            message,
        });
    }

    /// `[stages.<provider>]`: every provider stage id maps to a canonical stage.
    fn stages(
        &mut self,
        raw: &BTreeMap<String, BTreeMap<String, Spanned<String>>>,
    ) -> BTreeMap<String, BTreeMap<String, Stage>> {
        let mut stages: BTreeMap<String, BTreeMap<String, Stage>> = BTreeMap::new();
        for (provider, map) in raw {
            for (id, target) in map {
                let line = self.line(target.span().start);
                match Stage::parse(target.get_ref().trim()) {
                    Some(stage) => {
                        stages.entry(provider.clone()).or_default().insert(id.clone(), stage);
                    }
                    None if target.get_ref().trim().is_empty() => self.push(
                        line,
                        format!("stage `{id}` of `{provider}` maps to nothing; map it to one of {}", stage_list()),
                    ),
                    None => self.push(
                        line,
                        format!("stage `{id}` of `{provider}` maps to unknown stage `{}`; expected one of {}", target.get_ref(), stage_list()),
                    ),
                }
            }
        }
        if stages.is_empty() && self.problems.is_empty() {
            self.push(
                None,
                "[stages] maps no provider stage; add e.g. [stages.hubspot]".into(),
            );
        }
        stages
    }

    /// `[triggers.<name>]`: each trigger's window, and its overrides by stage and deal type.
    fn windows(
        &mut self,
        raw: &RawTriggers,
        stages: &BTreeMap<String, BTreeMap<String, Stage>>,
    ) -> BTreeMap<TriggerKind, Window> {
        let mut windows = BTreeMap::new();
        for t in TriggerKind::ALL {
            let w = self.window(raw.get(t), default_window_hours(t), t.as_str());
            windows.insert(t, w);
        }
        // An override for a stage no provider maps to can never apply.
        let mapped: std::collections::BTreeSet<Stage> =
            stages.values().flat_map(|m| m.values().copied()).collect();
        for t in TriggerKind::ALL {
            let Some(raw_w) = raw.get(t) else { continue };
            for stage in raw_w.stages.keys() {
                if let Some(st) = Stage::parse(stage.get_ref()) {
                    if !mapped.contains(&st) && !stages.is_empty() {
                        self.push(
                            self.line(stage.span().start),
                            format!("[triggers.{t}.stages] `{st}` is not the target of any stage mapping, so this window can never fire"),
                        );
                    }
                }
            }
        }
        windows
    }

    fn window(&mut self, raw: Option<&RawWindow>, default_hours: u32, name: &str) -> Window {
        let mut w = Window {
            hours: default_hours,
            per_stage: BTreeMap::new(),
            per_deal_type: BTreeMap::new(),
        };
        let Some(raw) = raw else { return w };
        match (&raw.after_hours, &raw.after_days) {
            (Some(_), Some(d)) => self.push(
                self.line(d.span().start),
                format!("[triggers.{name}] sets both after_hours and after_days; keep one"),
            ),
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
            self.push(
                spans.and_then(|s| self.line(s.start)),
                format!("[triggers.{name}] window is zero"),
            );
        }
        for (stage, value) in &raw.stages {
            match Stage::parse(stage.get_ref()) {
                Some(s) if s.is_closed() => self.push(
                    self.line(stage.span().start),
                    format!(
                        "[triggers.{name}.stages] `{}` is a closed stage; no follow-up fires there",
                        stage.get_ref()
                    ),
                ),
                Some(s) => {
                    w.per_stage.insert(s, value.get_ref() * unit);
                }
                None => self.push(
                    self.line(stage.span().start),
                    format!(
                        "[triggers.{name}.stages] unknown stage `{}`; expected one of {}",
                        stage.get_ref(),
                        stage_list()
                    ),
                ),
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
                self.push(
                    self.line(value.span().start),
                    format!("[triggers.{name}] window for `{label}` is zero"),
                );
            }
        }
        w
    }

    /// `[triggers.lead_no_second_reply] max_follow_ups` (3 unless set; never 0).
    fn lead_max_follow_ups(&mut self, raw: &RawTriggers) -> u32 {
        match raw
            .lead_no_second_reply
            .as_ref()
            .and_then(|w| w.max_follow_ups.as_ref())
        {
            Some(m) if *m.get_ref() == 0 => {
                self.push(
                    self.line(m.span().start),
                    "[triggers.lead_no_second_reply] max_follow_ups of 0 means it can never fire"
                        .into(),
                );
                3
            }
            Some(m) => *m.get_ref(),
            None => 3,
        }
    }

    /// The same provider stage id mapped twice (ids differing only in case overlap).
    fn distinct_stage_ids(&mut self, raw: &BTreeMap<String, BTreeMap<String, Spanned<String>>>) {
        for (provider, map) in raw {
            let mut seen: BTreeMap<String, &String> = BTreeMap::new();
            for (id, target) in map {
                if let Some(first) = seen.insert(id.to_lowercase(), id) {
                    self.push(
                        self.line(target.span().start),
                        format!("stage `{id}` of `{provider}` overlaps `{first}` (the same stage id); keep one mapping"),
                    );
                }
            }
        }
    }

    /// `[limits]`: a budget of zero would write nothing.
    fn limits(&mut self, limits: &Limits) {
        if limits.daily_draft_budget == 0 {
            self.push(
                None,
                "[limits] daily_draft_budget of 0 means no draft is ever written".into(),
            );
        }
        if limits.per_deal_open_drafts == 0 {
            self.push(
                None,
                "[limits] per_deal_open_drafts of 0 means no draft is ever written".into(),
            );
        }
    }

    /// `[templates.<trigger>]`: each names a trigger, has a `default`, and every file it names
    /// exists, parses and uses only known variables.
    fn templates(
        &mut self,
        raw: &BTreeMap<Spanned<String>, BTreeMap<String, Spanned<String>>>,
        files: &dyn Files,
    ) -> TemplateSet {
        let mut templates = TemplateSet::default();
        for (trigger_name, variants) in raw {
            let line = self.line(trigger_name.span().start);
            let Some(trigger) = TriggerKind::parse(trigger_name.get_ref()) else {
                self.push(
                    line,
                    format!(
                        "[templates.{}] is not a trigger; expected one of {}",
                        trigger_name.get_ref(),
                        trigger_list()
                    ),
                );
                continue;
            };
            if !variants.contains_key("default") {
                self.push(
                    line,
                    format!(
                        "[templates.{}] needs a `default` template",
                        trigger_name.get_ref()
                    ),
                );
            }
            for (variant, path) in variants {
                if let Some(t) = self.template(path, files) {
                    templates.insert(trigger, variant, t);
                }
            }
        }
        templates
    }

    /// One template file: found, parsed, and using only known variables (each unknown one
    /// reported at its line in the template).
    fn template(&mut self, path: &Spanned<String>, files: &dyn Files) -> Option<Template> {
        let Some(src) = files.read(path.get_ref()) else {
            self.push(
                self.line(path.span().start),
                format!("template file `{}` not found", path.get_ref()),
            );
            return None;
        };
        match Template::parse(path.get_ref(), &src) {
            Ok(t) => {
                for var in &t.variables {
                    if !KNOWN_VARIABLES.contains(&var.as_str()) {
                        let line = src
                            .lines()
                            .position(|l| l.contains(var.as_str()))
                            .map(|i| i + 1);
                        self.push_in(
                            path.get_ref(),
                            line,
                            format!(
                                "`{var}` is not provided by any CRM mapping or by draftgate; known variables: {}",
                                KNOWN_VARIABLES.join(", ")
                            ),
                        );
                    }
                }
                Some(t)
            }
            Err(e) => {
                self.push_in(path.get_ref(), e.line, e.message);
                None
            }
        }
    }

    /// `[[proposals]]`: each names its engagement types, its template has every section and
    /// only known variables, and no engagement type has two.
    fn proposals(&mut self, raw: &[RawProposal], files: &dyn Files) -> Vec<ProposalTemplate> {
        let mut proposals = Vec::new();
        for raw_p in raw {
            if let Some(p) = self.proposal(raw_p, files) {
                proposals.push(p);
            }
        }
        for (i, a) in proposals.iter().enumerate() {
            for b in &proposals[i + 1..] {
                if let Some(t) = a
                    .engagement_types
                    .iter()
                    .find(|t| b.engagement_types.contains(t))
                {
                    let message = format!(
                        "engagement type `{t}` has two proposal templates (`{}`, `{}`); keep one",
                        a.name, b.name
                    );
                    self.push(None, message);
                }
            }
        }
        proposals
    }

    fn proposal(&mut self, raw_p: &RawProposal, files: &dyn Files) -> Option<ProposalTemplate> {
        let pline = self.line(raw_p.template.span().start);
        let file = raw_p.template.get_ref();
        if raw_p.engagement_types.is_empty() {
            self.push(
                pline,
                format!(
                    "[[proposals]] `{}` names no engagement_types (the deal types it is for)",
                    raw_p.name
                ),
            );
        }
        let Some(src) = files.read(file) else {
            self.push(pline, format!("proposal template file `{file}` not found"));
            return None;
        };
        let t = match Template::parse(file, &src) {
            Err(e) => {
                self.push_in(file, e.line, e.message);
                return None;
            }
            Ok(t) => t,
        };
        let headings: Vec<String> = t
            .body
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_lowercase)
            .collect();
        for section in PROPOSAL_SECTIONS {
            if !headings.iter().any(|h| h.contains(section)) {
                self.push_in(file, None, format!("a proposal needs a `## …{section}…` section (service, deliverables, timeline, pricing, terms)"));
            }
        }
        for var in &t.variables {
            if !KNOWN_VARIABLES.contains(&var.as_str()) {
                self.push_in(file, None, format!("`{var}` is not provided by any CRM mapping or by draftgate; known variables: {}", KNOWN_VARIABLES.join(", ")));
            }
        }
        Some(ProposalTemplate {
            name: raw_p.name.clone(),
            engagement_types: raw_p
                .engagement_types
                .iter()
                .map(|t| t.to_lowercase())
                .collect(),
            template: t,
        })
    }

    /// Every trigger but the proposal draft has a template; call notes fall back to the
    /// built-in one (the call's notes).
    fn every_trigger_has_a_template(
        &mut self,
        templates: &mut TemplateSet,
        raw: &BTreeMap<Spanned<String>, BTreeMap<String, Spanned<String>>>,
    ) {
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
            if !templates.has(trigger) && !raw.keys().any(|k| k.get_ref() == trigger.as_str()) {
                self.push(None, format!("no template for trigger `{trigger}`; add [templates.{trigger}] default = \"templates/{trigger}.txt\""));
            }
        }
    }

    /// `[founder]`: a known time zone and an email address.
    fn founder(&mut self, founder: &Founder) {
        if jiff::tz::TimeZone::get(&founder.timezone).is_err() {
            self.push(
                None,
                format!(
                    "founder.timezone `{}` is not a known IANA time zone",
                    founder.timezone
                ),
            );
        }
        if !founder.email.contains('@') {
            self.push(
                None,
                format!("founder.email `{}` is not an email address", founder.email),
            );
        }
    }

    /// `[crm_links]`: https URLs with `{id}` where the deal id goes.
    fn crm_links(&mut self, links: &BTreeMap<String, String>) {
        for (crm, url) in links {
            if !url.starts_with("https://") || !url.contains("{id}") {
                self.push(
                    None,
                    format!("crm_links.{crm}: `{url}` must be an https:// URL with `{{id}}` where the deal id goes"),
                );
            }
        }
    }

    /// `[review]`: the summary's day and hour, the digest's hour.
    fn review(&mut self, review: &ReviewSettings) {
        let day = review.summary_day.to_ascii_lowercase();
        if !(day == "off" || crate::domain::time::WEEKDAYS.contains(&day.as_str()))
            || review.summary_hour > 23
        {
            self.push(
                None,
                format!(
                    "review.summary_day must be a weekday name and summary_hour 0 to 23, not `{}` / {}",
                    review.summary_day, review.summary_hour
                ),
            );
        }
        if review.digest_hour > 23 {
            self.push(
                None,
                format!(
                    "review.digest_hour must be 0 to 23, not {}",
                    review.digest_hour
                ),
            );
        }
    }

    /// `[[approvers]]`: email addresses; the founder alone when none are named.
    fn approvers(&mut self, approvers: Vec<Approver>, founder: &Founder) -> Vec<Approver> {
        for a in &approvers {
            if crate::domain::mail::address(&a.email).is_none() {
                self.push(
                    None,
                    format!("approvers: `{}` is not an email address", a.email),
                );
            }
        }
        if approvers.is_empty() {
            vec![Approver {
                email: founder.email.clone(),
                name: Some(founder.name.clone()),
                slack_user_id: None,
            }]
        } else {
            approvers
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

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
