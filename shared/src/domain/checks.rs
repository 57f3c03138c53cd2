//! What draftgate accepts as a deal's data, from whatever route it came: plausible ids, times
//! and amounts, and text cut to one line. A value outside these is a broken field, refused with
//! the field named.

use jiff::Timestamp;

use super::deal::DealRef;
use super::event::{DealEvent, EventKind};
use super::headers::one_line;

/// Longest accepted id (event ids and deal ids become parts of DynamoDB keys).
pub const MAX_ID_LEN: usize = 256;
/// Longest accepted CRM name.
pub const MAX_CRM_LEN: usize = 40;

/// The years a time or date draftgate accepts may fall in: a deal's events happen now-ish, and
/// year 0000 or 9999 is a broken field, not a plan.
pub const FIRST_YEAR: i16 = 1970;
pub const LAST_YEAR: i16 = 2199;

/// The largest amount accepted (a trillion in any currency): beyond it, a field is broken.
pub const MAX_AMOUNT: f64 = 1e12;

/// Whether `t` falls in [`FIRST_YEAR`]..=[`LAST_YEAR`].
pub fn plausible_time(t: &Timestamp) -> bool {
    let year = t.to_zoned(jiff::tz::TimeZone::UTC).year();
    (FIRST_YEAR..=LAST_YEAR).contains(&year)
}

/// An id as one URL path segment: everything but unreserved characters percent-encoded, so an
/// id can never add a segment, a query or a fragment to a CRM API call.
pub fn path_segment(id: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let encoded = percent_encoding::utf8_percent_encode(id, RESERVED).to_string();
    // `.` and `..` are path steps even when encoded by some servers: never a whole segment.
    if encoded.chars().all(|c| c == '.') {
        encoded.replace('.', "%2E")
    } else {
        encoded
    }
}

/// Why a deal reference cannot be recorded, if it cannot: the CRM name is a lowercase word; the
/// id is 1 to [`MAX_ID_LEN`] characters with no control character, whitespace or URL syntax
/// (`/ ? # % \`), is not made of dots only, and is a number when `numeric_id` (the CRM's ids
/// are numbers, as its registry entry says). An id ends up in CRM API paths and in storage keys.
pub fn deal_ref_problem(deal: &DealRef, numeric_id: bool) -> Option<String> {
    let crm = &deal.crm;
    let crm_ok = !crm.is_empty()
        && crm.len() <= MAX_CRM_LEN
        && crm.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && crm
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !crm_ok {
        return Some(format!(
            "`crm` must be a lowercase name of letters, digits, `_` or `-` (at most {MAX_CRM_LEN}); got `{}`",
            one_line(crm).chars().take(40).collect::<String>()
        ));
    }
    let id = &deal.id;
    let shown = || one_line(id).chars().take(60).collect::<String>();
    let id_ok = !id.is_empty()
        && id.chars().count() <= MAX_ID_LEN
        && !id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "/?#%\\".contains(c))
        && !id.chars().all(|c| c == '.');
    if !id_ok {
        return Some(format!(
            "the deal id must be 1 to {MAX_ID_LEN} characters without spaces, control characters or `/ ? # % \\`; got `{}`",
            shown()
        ));
    }
    if numeric_id && (!id.chars().all(|c| c.is_ascii_digit()) || id.chars().all(|c| c == '0')) {
        return Some(format!(
            "{crm} deal ids are positive numbers; got `{}`",
            shown()
        ));
    }
    None
}

/// Why an event, from whatever route, cannot be recorded, naming the field: its deal
/// reference, a time outside [`FIRST_YEAR`]..=[`LAST_YEAR`] or more than a day after `now`, an
/// amount outside 0 to [`MAX_AMOUNT`].
pub fn event_problem(e: &DealEvent, now: Timestamp, numeric_id: bool) -> Option<String> {
    deal_ref_problem(&e.deal, numeric_id).or_else(|| values_problem(e, now))
}

/// [`event_problem`] but for its deal reference: for an event that names something linked to
/// deals (a Close lead) rather than a deal, whose deals are found later.
pub fn values_problem(e: &DealEvent, now: Timestamp) -> Option<String> {
    let year_ok = |y: i16| (FIRST_YEAR..=LAST_YEAR).contains(&y);
    let time = |field: &str, t: &Timestamp| {
        (!plausible_time(t)).then(|| {
            format!("`{field}` must be a time between {FIRST_YEAR} and {LAST_YEAR}; got `{t}`")
        })
    };
    if let Some(p) = time("occurred_at", &e.occurred_at) {
        return Some(p);
    }
    // What happened has happened: a day of clock skew, no more (a reply dated next year would
    // silence the deal until then).
    if e.occurred_at > now + jiff::SignedDuration::from_hours(24) {
        return Some(format!(
            "`occurred_at` is in the future ({}); an event is sent once it happened",
            e.occurred_at
        ));
    }
    match &e.kind {
        EventKind::MeetingBooked {
            starts_at: Some(t), ..
        } => {
            if let Some(p) = time("starts_at", t) {
                return Some(p);
            }
        }
        EventKind::QuoteSent { expires_on, .. } if !year_ok(expires_on.year()) => {
            return Some(format!(
                "`expires_on` must be a date between {FIRST_YEAR} and {LAST_YEAR}; got `{expires_on}`"
            ));
        }
        _ => {}
    }
    if let Some(a) = e.snapshot.as_ref().and_then(|s| s.amount) {
        if !(0.0..=MAX_AMOUNT).contains(&a) {
            return Some(format!(
                "`amount` must be an amount from 0 to {MAX_AMOUNT:.0}; got `{a}`"
            ));
        }
    }
    None
}

/// At most `max` characters of `text` on one line, with an ellipsis when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_one_line_and_cut_with_an_ellipsis() {
        assert_eq!(excerpt("Thanks,\n\nlooks  good", 40), "Thanks, looks good");
        assert_eq!(excerpt("abcdefghij", 5), "abcd…");
    }
}
