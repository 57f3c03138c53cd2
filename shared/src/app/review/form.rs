//! A decision as a person makes it: the form (from the review page, Slack or the API), the text
//! as approved with what the edit changed, and a rejection's reason and effect.

use jiff::SignedDuration;
use serde::Deserialize;
use serde_json::json;

use crate::app::ApiError;
use crate::domain::{CrmField, Draft, FieldChange, Hold, REJECT_REASONS};
use crate::drafting::missing_marker;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    pub(crate) token: Option<String>,
    #[serde(default)]
    pub(crate) action: Option<String>,
    #[serde(default)]
    pub(crate) subject: Option<String>,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) reason: Option<String>,
    #[serde(default)]
    pub(crate) snooze_hours: Option<String>,
    /// Why a rejection: park | snooze_deal | wrong_timing | wrong_contact | bad_draft | other.
    #[serde(default)]
    pub(crate) reason_kind: Option<String>,
    /// Days for `snooze_deal` / `wrong_timing` (the config's defaults otherwise).
    #[serde(default)]
    pub(crate) days: Option<String>,
    /// Set by the draft page's CRM changes: then only the ticked changes (`apply_<field>`) are
    /// applied. Without it (Slack, the API) every proposed change is, as shown there.
    #[serde(default)]
    pub(crate) crm_form: Option<String>,
    #[serde(default)]
    pub(crate) apply_next_step: Option<String>,
    #[serde(default)]
    pub(crate) apply_next_step_date: Option<String>,
    #[serde(default)]
    pub(crate) apply_stage: Option<String>,
    #[serde(default)]
    pub(crate) apply_close_reason: Option<String>,
    #[serde(default)]
    pub(crate) apply_amount: Option<String>,
}

impl DecisionForm {
    /// The proposed changes this decision approves.
    pub(super) fn approved_changes(&self, draft: &Draft) -> Vec<FieldChange> {
        let Some(update) = &draft.crm_update else {
            return Vec::new();
        };
        if self.crm_form.is_none() {
            return update.changes.clone();
        }
        let ticked = |f: CrmField| {
            match f {
                CrmField::NextStep => &self.apply_next_step,
                CrmField::NextStepDate => &self.apply_next_step_date,
                CrmField::Stage => &self.apply_stage,
                CrmField::CloseReason => &self.apply_close_reason,
                CrmField::Amount => &self.apply_amount,
            }
            .as_deref()
            .is_some_and(|v| !v.is_empty())
        };
        update
            .changes
            .iter()
            .filter(|c| ticked(c.field))
            .cloned()
            .collect()
    }
}

/// What each `[[missing: …]]` marker in `text` names, drafted or typed; a marker written
/// another way (`[[ MISSING: x ]]`, with an invisible character inside) counts too.
pub(super) fn missing_markers(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .match_indices("[[missing:")
        .map(|(at, open)| {
            let rest = &text[at + open.len()..];
            let name = crate::domain::headers::one_line(rest.split("]]").next().unwrap_or(rest));
            if name.is_empty() {
                "a missing fact".to_string()
            } else {
                name.chars().take(80).collect()
            }
        })
        .collect();
    let loose: String = text
        .chars()
        .filter(|c| {
            !c.is_whitespace()
                && !matches!(
                    c,
                    '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{ad}'
                )
        })
        .flat_map(char::to_lowercase)
        .collect();
    if loose.matches("[[missing:").count() > names.len() {
        names.push("a [[missing: …]] marker".to_string());
    }
    names
}

/// The subject and body as approved (the drafted ones unless edited), refused while a
/// `[[missing: …]]` marker is left in or typed into them.
pub(super) fn approved_text(
    draft: &Draft,
    form: &DecisionForm,
) -> Result<(String, String), ApiError> {
    // An edited subject is a header like the drafted one: on one line. A field left out is
    // the drafted text; a field sent empty was cleared, and an empty message is never sent
    // (nor is the drafted one in its place).
    let subject = form
        .subject
        .as_deref()
        .map(crate::domain::headers::subject)
        .unwrap_or_else(|| draft.subject.clone());
    let body = form.body.clone().unwrap_or_else(|| draft.body.clone());
    let cleared: Vec<&str> = [
        ("subject", subject.trim(), draft.subject.trim()),
        ("body", body.trim(), draft.body.trim()),
    ]
    .into_iter()
    .filter(|(_, sent, drafted)| sent.is_empty() && !drafted.is_empty())
    .map(|(name, _, _)| name)
    .collect();
    if !cleared.is_empty() {
        return Err(ApiError::BadRequest {
            message: format!(
                "the {} is empty: write the message, or reject the draft",
                cleared.join(" and the ")
            ),
            detail: json!({ "empty": cleared }),
        });
    }
    // Normalise browser line endings so an untouched textarea is not an "edit".
    let body = body.replace("\r\n", "\n");
    // Drafted markers left in, and markers typed into an edit, block alike.
    let mut still_missing: Vec<String> = draft
        .missing
        .iter()
        .filter(|m| subject.contains(&missing_marker(m)) || body.contains(&missing_marker(m)))
        .cloned()
        .collect();
    for typed in missing_markers(&subject)
        .into_iter()
        .chain(missing_markers(&body))
    {
        if !still_missing.contains(&typed) {
            still_missing.push(typed);
        }
    }
    if !still_missing.is_empty() {
        return Err(ApiError::BadRequest {
            message: format!(
                "the draft is incomplete: fill in {} before approving",
                still_missing.join(", ")
            ),
            detail: json!({ "missing": still_missing }),
        });
    }
    Ok((subject, body))
}

/// What an edit changed, as a diff (`None`: approved as drafted).
pub(super) fn edit_diff(draft: &Draft, subject: &str, body: &str) -> Option<String> {
    let edited = subject != draft.subject || body != draft.body;
    edited.then(|| {
        let mut d = String::new();
        if subject != draft.subject {
            d.push_str(&format!(
                "-Subject: {}\n+Subject: {}\n",
                draft.subject, subject
            ));
        }
        d.push_str(&diff(&draft.body, body));
        d
    })
}

/// A unified line diff between the drafted and the sent text.
pub(super) fn diff(before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(2)
        .header("drafted", "sent")
        .to_string()
}

/// A rejection as the form gives it: its kind, the founder's words, what it does to the deal,
/// and the reason recorded.
pub(super) struct Rejection {
    pub(super) kind: &'static str,
    pub(super) note: Option<String>,
    pub(super) hold: Option<Hold>,
    pub(super) reason: String,
}

pub(super) fn rejection(
    form: &DecisionForm,
    draft: &Draft,
    config: &crate::config::Config,
    now: jiff::Timestamp,
) -> Result<Rejection, ApiError> {
    let kind = form
        .reason_kind
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .unwrap_or("other");
    let Some(&(kind, label)) = REJECT_REASONS.iter().find(|(k, _)| *k == kind) else {
        return Err(ApiError::BadRequest {
            message: format!("unknown `reason_kind` `{kind}`"),
            detail: json!({ "allowed_reason_kinds": REJECT_REASONS.iter().map(|(k, _)| k).collect::<Vec<_>>() }),
        });
    };
    let note = form
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    if note.is_none() && matches!(kind, "other" | "bad_draft") {
        return Err(ApiError::BadRequest {
            message: "a rejection needs a reason: pick one, or say why in the note".into(),
            detail: json!({ "missing": ["reason"] }),
        });
    }
    let days = match form
        .days
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => None,
        Some(d) => Some(
            d.parse::<u32>()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`days` must be a whole number from 1 to 365, got `{d}`"
                    ))
                })?,
        ),
    };
    let day = |n: u32| SignedDuration::from_hours(24 * n as i64);
    let hold = match kind {
        "park" => Some(Hold::Park),
        "snooze_deal" => Some(Hold::Snooze {
            until: now + day(days.unwrap_or(config.review.deal_snooze_days)),
        }),
        "wrong_timing" => Some(Hold::Rearm {
            trigger: draft.trigger,
            occurrence: draft.occurrence.clone(),
            at: now + day(days.unwrap_or(config.review.rearm_days)),
        }),
        "wrong_contact" => draft
            .to
            .as_ref()
            .map(|to| Hold::WrongContact { email: to.clone() }),
        "bad_draft" => Some(Hold::TemplateFeedback {
            template: draft.context.template.clone(),
        }),
        _ => None,
    };
    let reason = match &note {
        Some(n) if kind != "other" => format!("{label}: {n}"),
        Some(n) => n.clone(),
        None => label.to_string(),
    };
    Ok(Rejection {
        kind,
        note,
        hold,
        reason,
    })
}
