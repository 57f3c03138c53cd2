//! What the review pages say about a draft, in the founder's words and time zone: when things
//! happened ("Tue 14:10", "4 days ago"), why a follow-up was drafted ("proposal sent 4 days
//! ago, no reply"), and which waiting draft matters most.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::config::Config;
use crate::domain::{Deal, Draft, TriggerKind};

/// "just now", "25 minutes ago", "3 hours ago", "yesterday", "4 days ago", "in 2 days".
pub fn ago(at: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second() - at.as_second();
    let (future, secs) = (secs < 0, secs.abs());
    let text = match secs {
        0..=59 => return "just now".into(),
        60..=3599 => plural(secs / 60, "minute"),
        3600..=86_399 => plural(secs / 3600, "hour"),
        86_400..=172_799 if !future => return "yesterday".into(),
        _ => plural(secs / 86_400, "day"),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A time as the founder reads it: "14:10" today, "Tue 14:10" within a week, "3 Nov 14:10"
/// this year, "3 Nov 2025" before.
pub fn when(at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    let z = at.to_zoned(tz.clone());
    let today = now.to_zoned(tz.clone());
    let days = (now.as_second() - at.as_second()).abs() / 86_400;
    if z.date() == today.date() {
        z.strftime("%H:%M").to_string()
    } else if days < 6 {
        z.strftime("%a %H:%M").to_string()
    } else if z.year() == today.year() {
        z.strftime("%-d %b %H:%M").to_string()
    } else {
        z.strftime("%-d %b %Y").to_string()
    }
}

/// Why the draft exists, in a few words.
pub fn why(draft: &Draft, deal: Option<&Deal>, now: Timestamp, tz: &TimeZone) -> String {
    let since = |t: Option<Timestamp>| t.map(|t| ago(t, now));
    let d = deal;
    match draft.trigger {
        TriggerKind::ProposalNoReply => match since(d.and_then(|d| d.proposal_sent_at)) {
            Some(a) => format!("Proposal sent {a}, no reply"),
            None => "Proposal sent, no reply".into(),
        },
        TriggerKind::CallNoNextStep => match since(d.and_then(|d| d.last_call_at)) {
            Some(a) => format!("Call {a}, no next step booked"),
            None => "Call logged, no next step booked".into(),
        },
        TriggerKind::StageUnchanged => {
            match (d.and_then(|d| d.stage), d.map(|d| d.stage_entered_at)) {
                (Some(stage), Some(at)) => format!(
                    "In {} for {}",
                    stage.as_str().replace('_', " "),
                    ago(at, now).trim_end_matches(" ago")
                ),
                _ => "Deal idle in its stage".into(),
            }
        }
        TriggerKind::QuoteExpired => match d.and_then(|d| d.quote_expires_on) {
            Some(on) => format!("Quote expired on {}", on.strftime("%a %-d %b")),
            None => "Quote expired".into(),
        },
        TriggerKind::LeadNoSecondReply => match since(d.and_then(|d| d.lead_inquiry_at)) {
            Some(a) => format!("Lead wrote {a}, no answer to our follow-up"),
            None => "Lead inquiry, no second reply".into(),
        },
        TriggerKind::MeetingPrep => match d.and_then(|d| d.next_meeting_at) {
            Some(at) => format!("Meeting {}", when(at, now, tz)),
            None => "Meeting coming up".into(),
        },
        TriggerKind::CallNotes => match d.and_then(|d| d.last_call_note.as_ref()) {
            Some(n) => format!("Call {} with notes: CRM update to approve", ago(n.at, now)),
            None => "Call notes: CRM update to approve".into(),
        },
        TriggerKind::ProposalDraft => match d.map(|d| d.stage_entered_at) {
            Some(at) => format!(
                "Entered the proposal stage {}, no proposal sent",
                ago(at, now)
            ),
            None => "Proposal to draft".into(),
        },
    }
}

/// How much a waiting draft matters: the deal's rank by value and staleness (the same rank
/// the daily budget uses), plus how time-critical its trigger is.
pub fn priority(draft: &Draft, deal: Option<&Deal>, config: &Config, now: Timestamp) -> f64 {
    let urgency = match draft.trigger {
        TriggerKind::QuoteExpired | TriggerKind::ProposalNoReply => 3.0,
        TriggerKind::CallNoNextStep | TriggerKind::LeadNoSecondReply => 2.0,
        TriggerKind::StageUnchanged => 1.0,
        TriggerKind::ProposalDraft => 2.5,
        TriggerKind::CallNotes => 1.5,
        TriggerKind::MeetingPrep => 0.0,
    };
    deal.map_or(0.0, |d| crate::rules::priority(d, &config.limits, now)) + 5.0 * urgency
}

/// A link to the deal in its CRM, from the config's `[crm_links]` templates.
pub fn crm_link(config: &Config, draft: &Draft) -> Option<String> {
    config
        .crm_links
        .get(&draft.deal.crm)
        .map(|t| t.replace("{id}", &crate::domain::checks::path_segment(&draft.deal.id)))
}

/// What a follow-up is, in a sentence: "this check-in", "this proposal follow-up", ….
fn this(trigger: TriggerKind) -> &'static str {
    match trigger {
        TriggerKind::StageUnchanged => "this check-in",
        TriggerKind::ProposalNoReply => "this proposal follow-up",
        TriggerKind::CallNoNextStep => "this call follow-up",
        TriggerKind::QuoteExpired => "this note about the expired quote",
        TriggerKind::LeadNoSecondReply => "this follow-up to the lead",
        _ => "this draft",
    }
}

/// Why a waiting draft was withdrawn instead of sent, in the founder's words: "Mia replied 2
/// hours ago: “Thanks, we are discussing …” — this check-in was withdrawn." Times are relative
/// ("2 hours ago") for an answer read at once, or dated in the founder's zone ("Sun 6 Dec
/// 14:10", `tz`) for text kept with the draft and read later.
pub fn withdrawn(
    deal: Option<&Deal>,
    stop: &crate::rules::StopReason,
    trigger: TriggerKind,
    now: Timestamp,
    tz: Option<&TimeZone>,
) -> String {
    use crate::domain::ContactKind;
    use crate::rules::StopReason;
    let at_words = |at: Timestamp| match tz {
        Some(tz) => format!("on {}", at.to_zoned(tz.clone()).strftime("%a %-d %b %H:%M")),
        None => ago(at, now),
    };
    let Some(deal) = deal else {
        return "Not sent: the deal no longer exists.".into();
    };
    let contact = deal
        .facts
        .get("contact.first_name")
        .map(|f| f.value.clone())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "the prospect".into());
    let who = |at: Timestamp, lead: &str| counterpart(deal, &contact, at, lead);
    let said = |at: Timestamp| quoted(deal, at);
    let capital = capitalised;
    let what = this(trigger);
    match stop {
        StopReason::Replied { at }
        | StopReason::Contact {
            at,
            kind: ContactKind::Reply,
        } => capital(format!(
            "{} replied {}{} \u{2014} {what} was withdrawn.",
            who(*at, "Reply from "),
            at_words(*at),
            said(*at)
        )),
        StopReason::Contact {
            at,
            kind: ContactKind::FounderMail,
        } => format!(
            "You wrote to {} yourself {}{} \u{2014} that mail is the follow-up, so {what} was withdrawn.",
            who(*at, "Email to "),
            at_words(*at),
            said(*at)
        ),
        StopReason::Contact {
            at,
            kind: ContactKind::Call,
        } => format!(
            "A call was logged {}{} \u{2014} {what} was withdrawn.",
            at_words(*at),
            said(*at)
        ),
        StopReason::Contact {
            at,
            kind: ContactKind::MeetingBooked,
        }
        | StopReason::MeetingBooked { at } => format!(
            "A meeting with {contact} was booked {}{} \u{2014} {what} was withdrawn.",
            at_words(*at),
            said(*at)
        ),
        StopReason::Contact {
            at,
            kind: ContactKind::MeetingHeld,
        } => format!(
            "The meeting with {contact} was held {} \u{2014} {what} was withdrawn.",
            at_words(*at)
        ),
        StopReason::Contact {
            at,
            kind: ContactKind::FollowUpSent,
        } => format!(
            "Another follow-up went to {contact} {} \u{2014} {what} was withdrawn.",
            at_words(*at)
        ),
        StopReason::Declined { at } => capital(format!(
            "{contact} declined {}{} \u{2014} {what} was withdrawn.",
            at_words(*at),
            said(*at)
        )),
        StopReason::StageMoved { to: Some(stage) } => {
            format!("The deal moved to {stage} \u{2014} {what} was withdrawn.")
        }
        other => format!("Not sent: {other} since this draft was written, so it was withdrawn."),
    }
}

/// The deal's last interaction, when it is the one at `at`.
fn interaction_at(deal: &Deal, at: Timestamp) -> Option<&crate::domain::Interaction> {
    deal.last_interaction.as_ref().filter(|i| i.at == at)
}

/// Who the interaction at `at` was with (its summary starts with `lead` and the address): the
/// contact by name when the address is theirs, else the address; the contact when unknown.
fn counterpart(deal: &Deal, contact: &str, at: Timestamp, lead: &str) -> String {
    interaction_at(deal, at)
        .and_then(|i| i.summary.strip_prefix(lead))
        .and_then(|rest| rest.split(": ").next())
        .map(str::trim)
        .filter(|w| w.contains('@'))
        .map(|w| {
            let theirs = deal
                .contact_email
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(w));
            if theirs {
                contact.to_string()
            } else {
                w.to_string()
            }
        })
        .unwrap_or_else(|| contact.to_string())
}

/// What was said in the interaction at `at`, quoted and cut to one line (empty when unknown).
fn quoted(deal: &Deal, at: Timestamp) -> String {
    interaction_at(deal, at)
        .map(|i| {
            let text = i
                .summary
                .split_once(": ")
                .map_or(i.summary.as_str(), |(_, r)| r);
            let text = text.rsplit_once(" \u{2014} ").map_or(text, |(_, s)| s);
            let text = crate::domain::checks::excerpt(text.trim().trim_matches('"'), 120);
            format!(": \u{201c}{text}\u{201d}")
        })
        .unwrap_or_default()
}

fn capitalised(s: String) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn times_read_in_words_and_in_the_founders_zone() {
        let now = t("2026-11-30T13:10:00Z");
        assert_eq!(ago(t("2026-11-30T13:09:30Z"), now), "just now");
        assert_eq!(ago(t("2026-11-30T12:45:00Z"), now), "25 minutes ago");
        assert_eq!(ago(t("2026-11-29T10:00:00Z"), now), "yesterday");
        assert_eq!(ago(t("2026-11-26T13:10:00Z"), now), "4 days ago");
        assert_eq!(ago(t("2026-12-02T13:10:00Z"), now), "in 2 days");
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(when(t("2026-11-30T08:00:00Z"), now, &berlin), "09:00");
        assert_eq!(when(t("2026-11-26T13:10:00Z"), now, &berlin), "Thu 14:10");
        assert_eq!(
            when(t("2026-11-24T13:10:00Z"), now, &berlin),
            "24 Nov 14:10"
        );
        assert_eq!(when(t("2026-11-03T13:10:00Z"), now, &berlin), "3 Nov 14:10");
        assert_eq!(when(t("2025-11-03T13:10:00Z"), now, &berlin), "3 Nov 2025");
    }
}
