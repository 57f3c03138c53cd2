//! Time as draftgate writes it into keys and occurrences: fixed-width UTC text whose lexical
//! order is time order.

use jiff::Timestamp;

/// The weekdays' names, Monday first, in lower case.
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A timestamp as a fixed-width UTC string, so lexical order is time order.
pub fn sortable(ts: Timestamp) -> String {
    let mut out = String::with_capacity(24);
    push_sortable(&mut out, ts);
    out
}

/// `sortable(ts)` appended to `out`: the same text as `strftime("%Y-%m-%dT%H:%M:%S%.3fZ")`,
/// written digit by digit (keys and trigger occurrences are built on every evaluation; parsing a
/// format, or `format!`'s padding machinery, costs more than the rest of a rule).
pub fn push_sortable(out: &mut String, ts: Timestamp) {
    fn digits(out: &mut String, value: i64, width: u32) {
        let mut div = 10_i64.pow(width - 1);
        let mut v = value.rem_euclid(div * 10);
        for _ in 0..width {
            let d = (v / div) as u8;
            out.push(char::from(b'0' + d));
            v %= div;
            div /= 10;
        }
    }
    let dt = jiff::tz::Offset::UTC.to_datetime(ts);
    let year = i64::from(dt.year());
    if !(0..=9999).contains(&year) {
        // Outside four digits (never a real CRM time): the general formatter, same text.
        out.push_str(&format!("{year:04}"));
    } else {
        digits(out, year, 4);
    }
    out.push('-');
    digits(out, i64::from(dt.month()), 2);
    out.push('-');
    digits(out, i64::from(dt.day()), 2);
    out.push('T');
    digits(out, i64::from(dt.hour()), 2);
    out.push(':');
    digits(out, i64::from(dt.minute()), 2);
    out.push(':');
    digits(out, i64::from(dt.second()), 2);
    out.push('.');
    digits(out, i64::from(dt.subsec_nanosecond() / 1_000_000), 3);
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn sortable_timestamps_order_lexically_like_time() {
        let a = sortable(ts("2024-01-02T03:04:05Z"));
        let b = sortable(ts("2024-01-02T03:04:05.5Z"));
        let c = sortable(ts("2024-10-02T00:00:00Z"));
        assert!(a < b && b < c);
        assert_eq!(a, "2024-01-02T03:04:05.000Z");
    }

    proptest::proptest! {
        /// Stored keys must not change: the fast formatting is the strftime text, always.
        #[test]
        fn sortable_is_exactly_the_strftime_text(secs in 0i64..253_402_300_799, nanos in 0i32..1_000_000_000) {
            let t = Timestamp::new(secs, nanos).unwrap();
            proptest::prop_assert_eq!(sortable(t), t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        }
    }
}
