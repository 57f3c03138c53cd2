//! The facts a draft may use, each with its source: the deal's own (template facts), a call's
//! notes and the update they call for, and a meeting brief's lines from the timeline.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::domain::{Deal, Fact};

/// What a meeting brief says from the deal's timeline, every line naming its source: the last
/// three interactions, what the prospect wrote, open questions and commitments from notes and
/// mail, and the stage history.
pub fn brief_facts(
    timeline: &[crate::domain::DealEvent],
    config: &crate::config::Config,
    now: Timestamp,
) -> BTreeMap<String, Fact> {
    use crate::domain::EventKind as K;
    let tz = config.timezone();
    let when = |t: Timestamp| crate::app::present::when(t, now, &tz);
    let line = |e: &crate::domain::DealEvent, text: &str| {
        format!("- {}: {text} [{} {}]", when(e.occurred_at), e.source, e.id)
    };
    let said = |k: &K| match k {
        K::ProspectReplied { summary }
        | K::LeadInquiry { summary }
        | K::CallLogged { summary, .. }
        | K::OutboundSent { summary }
        | K::MeetingBooked { summary, .. }
        | K::ProspectDeclined { summary } => Some(summary.clone()),
        K::ProposalSent { name, .. } => Some(format!(
            "proposal sent{}",
            name.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
        )),
        K::FollowUpSent { subject, .. } => Some(format!("follow-up sent: \"{subject}\"")),
        _ => None,
    };
    let recent: Vec<String> = timeline
        .iter()
        .rev()
        .filter_map(|e| said(&e.kind).map(|t| line(e, &t)))
        .take(3)
        .collect();
    let prospect: Vec<String> = timeline
        .iter()
        .rev()
        .filter_map(|e| match &e.kind {
            K::ProspectReplied { summary } | K::LeadInquiry { summary } => Some(line(e, summary)),
            _ => None,
        })
        .take(3)
        .collect();
    // Questions asked and things promised, sentence by sentence, from calls, replies and mail.
    let mut open = Vec::new();
    for e in timeline.iter().rev() {
        let (K::CallLogged { summary: text, .. }
        | K::ProspectReplied { summary: text }
        | K::OutboundSent { summary: text }) = &e.kind
        else {
            continue;
        };
        for sentence in text.split_inclusive(['.', '?', '!', '\n']).map(str::trim) {
            let lower = sentence.to_lowercase();
            let promise = [
                "i'll ",
                "i will ",
                "we'll ",
                "we will ",
                "will send",
                "follow up",
            ]
            .iter()
            .any(|p| lower.contains(p));
            if sentence.ends_with('?') || promise {
                open.push(line(e, sentence));
            }
        }
        if open.len() >= 5 {
            break;
        }
    }
    let stages: Vec<String> = timeline
        .iter()
        .filter_map(|e| match &e.kind {
            K::StageChanged { raw_stage } => Some(line(
                e,
                &format!(
                    "stage {}",
                    config
                        .canonical_stage(e.source_crm(), raw_stage)
                        .map_or(raw_stage.clone(), |s| s.as_str().replace('_', " "))
                ),
            )),
            _ => None,
        })
        .collect();
    let none = |v: Vec<String>, empty: &str| {
        if v.is_empty() {
            empty.to_string()
        } else {
            v.join("\n")
        }
    };
    BTreeMap::from([
        (
            "brief.recent".to_string(),
            Fact::new(none(recent, "nothing recorded yet"), "deal timeline"),
        ),
        (
            "brief.prospect_said".to_string(),
            Fact::new(
                none(prospect, "no message from them yet"),
                "deal timeline: their replies",
            ),
        ),
        (
            "brief.open_items".to_string(),
            Fact::new(
                none(open, "none found in notes or mail"),
                "deal timeline: call notes and mail",
            ),
        ),
        (
            "brief.stage_history".to_string(),
            Fact::new(
                none(stages, "no stage changes recorded"),
                "deal timeline: stage changes",
            ),
        ),
    ])
}

/// What a CRM-update template may say about the call: its notes, the summary to log, the date,
/// and the next step the notes name.
pub(super) fn call_facts(
    note: &crate::domain::CallNote,
    update: &crate::domain::CrmUpdate,
    config: &crate::config::Config,
) -> BTreeMap<String, Fact> {
    let source = format!("call notes ({})", note.source);
    let mut facts = BTreeMap::from([
        ("call.notes".to_string(), Fact::new(&note.text, &source)),
        (
            "call.date".to_string(),
            Fact::new(
                note.at
                    .to_zoned(config.timezone())
                    .strftime("%a %-d %b %Y")
                    .to_string(),
                &source,
            ),
        ),
    ]);
    facts.insert(
        "call.summary".into(),
        Fact::new(
            update.note.clone().unwrap_or_else(|| note.text.clone()),
            &source,
        ),
    );
    if let Some(step) = update
        .changes
        .iter()
        .find(|c| c.field == crate::domain::CrmField::NextStep)
    {
        facts.insert("call.next_step".into(), Fact::new(&step.to, &step.source));
    }
    facts
}

/// Every fact a template may use, each with its source: the deal's CRM facts, the founder's
/// config, and figures computed from the timeline.
pub fn template_facts(
    deal: &Deal,
    config: &crate::config::Config,
    now: Timestamp,
) -> BTreeMap<String, Fact> {
    let mut facts = deal.facts.clone();
    let f = &config.founder;
    facts.insert(
        "founder.name".into(),
        Fact::new(&f.name, "config founder.name"),
    );
    facts.insert(
        "founder.email".into(),
        Fact::new(&f.email, "config founder.email"),
    );
    if let Some(c) = &f.company {
        facts.insert(
            "founder.company".into(),
            Fact::new(c, "config founder.company"),
        );
    }
    if let Some(stage) = deal.stage {
        let entered = deal.stage_entered_at;
        facts.insert(
            "deal.stage".into(),
            Fact::new(
                stage.as_str(),
                format!(
                    "{} stage {}",
                    deal.key.crm,
                    deal.raw_stage.as_deref().unwrap_or("")
                ),
            ),
        );
        facts.insert(
            "deal.days_in_stage".into(),
            Fact::new(
                (now.duration_since(entered).as_hours() / 24).to_string(),
                format!("computed: stage entered {entered}"),
            ),
        );
    }
    if let Some(last) = deal.last_contact_at() {
        let days = now.duration_since(last).as_hours() / 24;
        facts.insert(
            "days_since_last_contact".into(),
            Fact::new(days.to_string(), format!("computed: last contact {last}")),
        );
    }
    if let Some(i) = &deal.last_interaction {
        let source = format!("timeline: {} event at {}", i.source, i.at);
        facts.insert(
            "last_interaction.summary".into(),
            Fact::new(&i.summary, source.clone()),
        );
        facts.insert(
            "last_interaction.date".into(),
            Fact::new(i.at.strftime("%Y-%m-%d").to_string(), source),
        );
    }
    if let Some(at) = deal.proposal_sent_at {
        facts.entry("proposal.sent_date".into()).or_insert_with(|| {
            Fact::new(
                at.strftime("%Y-%m-%d").to_string(),
                "timeline: proposal sent",
            )
        });
    }
    facts
}

/// The longest question of the prospect's a template quotes (characters).
const MAX_QUESTION: usize = 160;

/// What the shipped templates say of the last conversation, when there was one (both optional:
/// a template reads naturally without them): `last_call.topic`, the latest call's summary, and
/// `prospect.last_question`, the last question in the prospect's latest message.
pub fn conversation_facts(timeline: &[crate::domain::DealEvent]) -> BTreeMap<String, Fact> {
    use crate::domain::EventKind as K;
    let mut facts = BTreeMap::new();
    let source = |e: &crate::domain::DealEvent, what: &str| {
        format!("timeline: {what} from {} at {}", e.source, e.occurred_at)
    };
    if let Some((e, summary)) = timeline.iter().rev().find_map(|e| match &e.kind {
        K::CallLogged { summary, .. } if !summary.trim().is_empty() => Some((e, summary)),
        _ => None,
    }) {
        facts.insert(
            "last_call.topic".into(),
            Fact::new(topic(summary), source(e, "call")),
        );
    }
    if let Some((e, text)) = timeline.iter().rev().find_map(|e| match &e.kind {
        K::ProspectReplied { summary } | K::LeadInquiry { summary } => Some((e, summary)),
        _ => None,
    }) {
        if let Some(question) = last_question(text) {
            facts.insert(
                "prospect.last_question".into(),
                Fact::new(question, source(e, "the prospect's message")),
            );
        }
    }
    facts
}

/// A call's topic from its summary: the title a CRM quotes (`Call "Onboarding workshop" held`),
/// or the summary itself.
fn topic(summary: &str) -> String {
    let s = crate::domain::headers::one_line(summary);
    for (open, close) in [('"', '"'), ('“', '”')] {
        if let Some((_, rest)) = s.split_once(open) {
            if let Some((title, _)) = rest.split_once(close) {
                if !title.trim().is_empty() {
                    return title.trim().to_string();
                }
            }
        }
    }
    s.trim().trim_end_matches('.').to_string()
}

/// The last sentence ending in a question mark, if it is short enough to quote.
fn last_question(text: &str) -> Option<String> {
    let text = crate::domain::headers::one_line(text);
    let end = text.rfind('?')?;
    let before = &text[..end];
    let start = before
        .rfind(['.', '!', '?', '\n', '“', '"', ':'])
        .map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
    let question = text[start..=end].trim().to_string();
    (question.chars().count() > 3 && question.chars().count() <= MAX_QUESTION).then_some(question)
}

#[cfg(test)]
mod brief_tests {
    use super::*;
    use crate::domain::{DealEvent, DealRef, EventKind};

    fn ev(id: &str, at: &str, kind: EventKind) -> DealEvent {
        DealEvent {
            id: id.into(),
            deal: DealRef::new("hubspot", "9"),
            occurred_at: at.parse().unwrap(),
            source: "hubspot".into(),
            kind,
            snapshot: None,
        }
    }

    #[test]
    fn a_brief_quotes_the_timeline_with_sources_questions_and_commitments() {
        let config = crate::config::Config::bundled().unwrap();
        let now: Timestamp = "2026-12-10T09:00:00Z".parse().unwrap();
        let timeline = vec![
            ev("s1", "2026-11-20T09:00:00Z", EventKind::StageChanged { raw_stage: "qualifiedtobuy".into() }),
            ev("c1", "2026-11-25T15:00:00Z", EventKind::CallLogged {
                summary: "Discovery call. Can you share the SOC2 report? I'll send pricing by Friday.".into(),
                note: None,
            }),
            ev("s2", "2026-11-27T09:00:00Z", EventKind::StageChanged { raw_stage: "contractsent".into() }),
            ev("p1", "2026-11-27T09:05:00Z", EventKind::ProposalSent { document_id: "doc".into(), name: Some("Rollout".into()) }),
            ev("r1", "2026-12-08T08:00:00Z", EventKind::ProspectReplied {
                summary: "Reply from dana@acme.example: \"Re: Rollout\" — Looks good. Do you support SSO?".into(),
            }),
        ];
        let f = brief_facts(&timeline, &config, now);
        let recent = &f["brief.recent"].value;
        assert_eq!(recent.lines().count(), 3, "{recent}");
        assert!(
            recent
                .lines()
                .next()
                .unwrap()
                .contains("Do you support SSO?"),
            "newest first: {recent}"
        );
        assert!(recent.contains("[hubspot r1]"), "{recent}");
        let open = &f["brief.open_items"].value;
        assert!(
            open.contains("Do you support SSO?")
                && open.contains("Can you share the SOC2 report?")
                && open.contains("I'll send pricing by Friday."),
            "{open}"
        );
        assert!(
            !open.contains("Discovery call."),
            "only questions and promises: {open}"
        );
        let stages = &f["brief.stage_history"].value;
        assert_eq!(stages.lines().count(), 2, "{stages}");
        assert!(stages.contains("stage proposal"), "{stages}");
        assert!(f["brief.prospect_said"].value.contains("Looks good"));
        let empty = brief_facts(&[], &config, now);
        assert_eq!(empty["brief.recent"].value, "nothing recorded yet");
    }

    #[test]
    fn the_last_call_and_the_prospects_last_question_are_read_from_the_timeline() {
        let timeline = [
            ev("c1", "2026-12-01T10:00:00Z", EventKind::CallLogged { summary: "Intro call".into(), note: None }),
            ev("c2", "2026-12-02T10:00:00Z", EventKind::CallLogged { summary: "Pricing walkthrough".into(), note: Some("n".into()) }),
            ev("r1", "2026-12-03T10:00:00Z", EventKind::ProspectReplied { summary: "Reply from kim@acme.example: “Thanks. Could we start with one team first? Talk soon.”".into() }),
        ];
        let f = conversation_facts(&timeline);
        assert_eq!(f["last_call.topic"].value, "Pricing walkthrough");
        assert_eq!(
            f["prospect.last_question"].value,
            "Could we start with one team first?"
        );
        assert!(f["prospect.last_question"]
            .source
            .starts_with("timeline: the prospect's message"));
        assert!(!conversation_facts(&timeline[..2]).contains_key("prospect.last_question"));
        assert_eq!(last_question(&format!("{}?", "a".repeat(200))), None);
        assert!(conversation_facts(&[]).is_empty());
        assert_eq!(
            topic("Call \"Onboarding workshop intro\" held"),
            "Onboarding workshop intro"
        );
        assert_eq!(topic("Pricing walkthrough."), "Pricing walkthrough");
    }
}
