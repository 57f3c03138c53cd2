//! Names in a draft: capitalised words, told from common English words.

use super::patterns::{re, MONTHS, NAME_RUN, WORD};
use crate::domain::time::WEEKDAYS;

/// Capitalised words and runs of them, and words of scripts without capitals: the names a
/// text mentions. Months, weekdays, greetings, titles and common acronyms are left out. A
/// sentence's first word (after `.`, `…`, a closing quote, a list marker, a `|`) is capitalised
/// whatever it is, and so is every word of a line in title case, so there a word is a name only
/// when it is no common English word ("Sandra agreed" is checked, "Following up" is not), and
/// only in a text written in English: in another language every first word would look like one.
pub(super) fn names(text: &str) -> Vec<(String, String)> {
    let english = written_in_english(text);
    let mut out = Vec::new();
    for line in text.split('\n') {
        let titled = english && title_case(line);
        for m in re(&NAME_RUN).find_iter(line) {
            let opens = opens_sentence(&line[..m.start()]);
            for (i, w) in m.as_str().split_whitespace().enumerate() {
                let capitalised_anyway = (i == 0 && opens) || titled;
                if common(w) || (capitalised_anyway && (!english || english_word(w))) {
                    continue;
                }
                out.push((bare_name(w), w.to_string()));
            }
        }
        if english {
            for w in re(&WORD).find_iter(line) {
                let caseless = w
                    .as_str()
                    .chars()
                    .any(|c| c.is_alphabetic() && !c.is_uppercase() && !c.is_lowercase());
                if caseless {
                    out.push((bare_name(w.as_str()), w.as_str().to_string()));
                }
            }
        }
    }
    out
}

/// Whether a word right after `before` (the line up to it) opens a sentence.
fn opens_sentence(before: &str) -> bool {
    let b = before.trim_end();
    let marker = b.trim_start();
    let list_marker = matches!(marker, "-" | "*" | "•" | "–" | "—" | "+" | ">" | "")
        || (marker.len() <= 4
            && marker.ends_with(['.', ')'])
            && marker[..marker.len() - 1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric()));
    if list_marker || b.ends_with(['"', '“', '‘', '(', '[']) {
        return true;
    }
    // "Ms. Doe": a title's full stop ends no sentence.
    let last = b
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .to_lowercase();
    if TITLES.iter().any(|t| last.strip_suffix('.') == Some(t)) {
        return false;
    }
    b.trim_end_matches(['"', '”', '’', '\'', ')', ']', '*', '_'])
        .ends_with(['.', '!', '?', ':', ';', '…', '|', '–', '—', '•'])
}

/// Whether a line is written in title case ("Quick Question About Your Proposal", a
/// signature's "Founder | Northwind Studio"): three or more words of four letters or more, and
/// all of them capitalised.
fn title_case(line: &str) -> bool {
    let long: Vec<&str> = re(&WORD)
        .find_iter(line)
        .map(|m| m.as_str())
        .filter(|w| w.chars().count() >= 4)
        .collect();
    long.len() >= 3 && long.iter().all(|w| w.starts_with(char::is_uppercase))
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

/// Whether a text is written in English: a fifth of its lower-case words are English's
/// commonest (`the`, `to`, `you`), or three quarters are words of the list. A draft padded with
/// jargon to look foreign has to lose both.
pub(super) fn written_in_english(text: &str) -> bool {
    let (mut words, mut listed_words, mut function) = (0usize, 0usize, 0usize);
    for w in re(&WORD).find_iter(text) {
        let w = w.as_str();
        if w.chars().count() > 1 && w.chars().all(|c| !c.is_uppercase()) {
            words += 1;
            listed_words += usize::from(english_word(w));
            function += usize::from(FUNCTION_WORDS.contains(&w));
        }
    }
    words == 0 || function * 5 >= words || listed_words * 4 >= words * 3
}

/// English's commonest words, rare in other languages' text.
const FUNCTION_WORDS: [&str; 60] = [
    "the", "and", "to", "of", "in", "for", "is", "you", "we", "it", "on", "with", "that", "this",
    "be", "are", "can", "will", "your", "our", "me", "my", "at", "as", "if", "so", "or", "do",
    "have", "not", "from", "by", "an", "was", "would", "could", "let", "what", "when", "there",
    "any", "just", "all", "about", "but", "up", "us", "they", "their", "them", "has", "had", "did",
    "been", "which", "who", "how", "than", "also", "into",
];

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

/// A capitalised word that names nobody: a greeting, a title, `I` in any contraction, a
/// month, a weekday, a single letter, a common acronym (`ROI`, `EOD`) or an all-capital
/// English word. Other acronyms (`IBM`, `KPMG`) are names.
pub(super) fn common(word: &str) -> bool {
    let lower = word.replace('’', "'").to_lowercase();
    let base = ["'ve", "'ll", "'d", "'m", "'re", "'s"]
        .iter()
        .find_map(|c| lower.strip_suffix(c))
        .unwrap_or(&lower);
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    let capitals = letters > 1 && word.chars().all(|c| !c.is_lowercase());
    letters <= 1
        || (capitals && (ACRONYMS.contains(&base) || english_word(base)))
        || MONTHS
            .iter()
            .any(|m| *m == lower || (lower.len() == 3 && m.starts_with(&lower)))
        || WEEKDAYS
            .iter()
            .any(|d| *d == lower || (lower.len() == 3 && d.starts_with(&lower)))
        || COMMON.contains(&base)
        || TITLES.contains(&base)
}

/// Capitalised words a follow-up uses that name nobody.
pub(super) const COMMON: [&str; 17] = [
    "hi", "hello", "hey", "dear", "thanks", "thank", "best", "regards", "cheers", "kind", "warm",
    "i", "ok", "okay", "re", "fwd", "ps",
];

/// Titles before a name.
const TITLES: [&str; 7] = ["mr", "mrs", "ms", "mx", "dr", "prof", "st"];

/// Acronyms of business mail that name nobody (a currency code is read as a currency).
const ACRONYMS: [&str; 98] = [
    "roi", "crm", "api", "apis", "sow", "nda", "msa", "faq", "faqs", "pdf", "pdfs", "seo", "ux",
    "ui", "ceo", "cto", "cfo", "coo", "cmo", "cro", "cio", "ciso", "vp", "svp", "evp", "hr", "qa",
    "eod", "eow", "eta", "fyi", "asap", "tbd", "tba", "kpi", "kpis", "sla", "slas", "sso", "saml",
    "gdpr", "soc", "iso", "hipaa", "ccpa", "csv", "url", "urls", "usa", "uk", "eu", "emea", "apac",
    "latam", "ai", "ml", "llm", "it", "po", "rfp", "rfq", "rfi", "poc", "mvp", "smb", "arr", "mrr",
    "cac", "ltv", "nps", "okr", "okrs", "qbr", "tco", "sku", "cc", "bcc", "fw", "tl", "dr", "pst",
    "pdt", "est", "edt", "cet", "cest", "gmt", "utc", "bst", "am", "pm", "saas", "b2b", "ps",
    "usd", "eur", "gbp", "chf",
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
