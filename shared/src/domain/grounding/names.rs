//! Names in a draft: capitalised words, told from common English words.

use super::patterns::{re, MONTHS, NAME_RUN, WORD};
use crate::domain::time::WEEKDAYS;

/// Capitalised words and runs of them: the names a text mentions. Months, weekdays, greetings
/// and short all-capital words (acronyms) are left out. A sentence's or a line's first word is
/// capitalised whatever it is, so there it is a name only when it is no common English word
/// ("Sandra agreed" is checked, "Following up" is not), and only in a text written in English:
/// in another language every first word would look like a name.
pub(super) fn names(text: &str) -> Vec<(String, String)> {
    let english = written_in_english(text);
    let mut out = Vec::new();
    for m in re(&NAME_RUN).find_iter(text) {
        let run = m.as_str();
        let words: Vec<&str> = run.split_whitespace().collect();
        let before = text[..m.start()].trim_end_matches([' ', '\t']);
        let line_start = before.is_empty() || before.ends_with('\n');
        let opens = line_start || before.trim_end().ends_with(['.', '!', '?', ':', '"', '(']);
        for (i, w) in words.iter().enumerate() {
            let first = i == 0 && opens;
            if common(w) || (first && (!english || english_word(w))) {
                continue;
            }
            out.push((bare_name(w), w.to_string()));
        }
    }
    out
}

/// Common English words, one a line, sorted bytewise (SCOWL; `scripts/english-words.sh`).
pub(super) static ENGLISH: &str = include_str!("../../../data/english-words.txt");

/// Whether `word`, however capitalised, is a common English word: each part of a hyphenated
/// word, without a possessive (`Follow-up`, `Let's`, `Didn't`).
pub(super) fn english_word(word: &str) -> bool {
    let word = word.replace('’', "'");
    let lower = bare_name(&word);
    listed(ENGLISH, &lower)
        || lower
            .split('-')
            .all(|part| !part.is_empty() && listed(ENGLISH, part))
}

/// Whether most of the text's lower-case words are common English words.
pub(super) fn written_in_english(text: &str) -> bool {
    let (mut words, mut known) = (0usize, 0usize);
    for w in re(&WORD).find_iter(text) {
        let w = w.as_str();
        if w.chars().count() > 1 && w.chars().all(|c| !c.is_uppercase()) {
            words += 1;
            known += usize::from(english_word(w));
        }
    }
    words == 0 || known * 4 >= words * 3
}

/// Whether `word` is a line of `list`, whose lines are sorted bytewise: a binary search over
/// the text itself, so the list costs nothing until a draft is checked.
pub(super) fn listed(list: &str, word: &str) -> bool {
    let bytes = list.as_bytes();
    let (mut lo, mut hi) = (0, bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[..mid]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
            .max(lo);
        let end = bytes[mid..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| mid + i);
        match list[start..end].cmp(word) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

/// A name without a possessive or a trailing apostrophe, lowercased for comparison.
pub(super) fn bare_name(word: &str) -> String {
    let w = word
        .strip_suffix("'s")
        .or_else(|| word.strip_suffix("’s"))
        .unwrap_or(word);
    w.trim_end_matches(['\'', '’']).to_lowercase()
}

pub(super) fn common(word: &str) -> bool {
    let lower = word.to_lowercase();
    let acronym = word.chars().count() <= 4 && word.chars().all(|c| !c.is_lowercase());
    acronym
        || MONTHS
            .iter()
            .any(|m| *m == lower || (lower.len() == 3 && m.starts_with(&lower)))
        || WEEKDAYS
            .iter()
            .any(|d| *d == lower || (lower.len() == 3 && d.starts_with(&lower)))
        || COMMON.contains(&lower.as_str())
}

/// Capitalised words a follow-up uses that name nobody.
pub(super) const COMMON: [&str; 24] = [
    "hi", "hello", "hey", "dear", "thanks", "thank", "best", "regards", "cheers", "kind", "warm",
    "i", "i'm", "i’m", "i'd", "i’d", "i'll", "i’ll", "ok", "okay", "re", "fwd", "ps", "p.s",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_list_is_sorted_and_found_by_its_search() {
        let words: Vec<&str> = ENGLISH.lines().collect();
        assert!(words.len() > 60_000, "{}", words.len());
        assert!(
            words.windows(2).all(|w| w[0] < w[1]),
            "sorted bytewise, no repeats"
        );
        for w in [
            words[0],
            words[words.len() / 2],
            words[words.len() - 1],
            "following",
        ] {
            assert!(listed(ENGLISH, w), "{w}");
        }
        for w in ["", "zzzzz", "aardvar", "pepperr", "john", "globex"] {
            assert!(!listed(ENGLISH, w), "{w}");
        }
        assert!(listed("a\nb\nc", "c") && listed("a\nb\nc", "a") && !listed("a\nc", "b"));
    }
}
