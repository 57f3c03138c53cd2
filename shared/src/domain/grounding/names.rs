//! Names in a draft: capitalised words, told from common English words.

use super::patterns::{re, MONTHS, NAME_RUN, WORD};
use crate::domain::time::WEEKDAYS;

/// Capitalised words and runs of them, and words of scripts without capitals: the names a
/// text mentions. Months, weekdays, greetings, titles and common acronyms are left out. A
/// sentence's first word (after `.`, `…`, a closing quote, a list marker, a `|`) is capitalised
/// whatever it is, and so is every word of a line in title case, so there a word is a name only
/// when it is no common English word ("Sandra agreed" is checked, "Following up" is not), and
/// only in a paragraph written in English: in another language every first word would look
/// like one.
pub(super) fn names(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n") {
        paragraph_names(paragraph, &mut out);
    }
    out
}

/// The names of one paragraph: a foreign footer under an English draft leaves the draft's
/// sentences checked.
fn paragraph_names(paragraph: &str, out: &mut Vec<(String, String)>) {
    let english = written_in_english(paragraph);
    for line in paragraph.split('\n') {
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
                let word = w.as_str();
                let caseless = word
                    .chars()
                    .any(|c| c.is_alphabetic() && !c.is_uppercase() && !c.is_lowercase());
                // "eBay", "xSandra": capitals after a lower-case start name something too.
                let camel = word.starts_with(char::is_lowercase)
                    && word.chars().any(char::is_uppercase)
                    && !common(word);
                if caseless || camel {
                    out.push((bare_name(word), word.to_string()));
                }
            }
        }
    }
}

/// Whether a word right after `before` (the line up to it) opens a sentence.
fn opens_sentence(before: &str) -> bool {
    let b = before.trim_end();
    let marker = b.trim_start();
    // "-", "•", "1.", "2)", "a)": not "Mr." or "Dr.".
    let numbered = marker.strip_suffix(['.', ')']).is_some_and(|n| {
        (!n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit()))
            || (n.len() == 1 && n.chars().all(|c| c.is_ascii_lowercase()))
    });
    // A line's start after bullets, emoji and other symbols ("✔️ Kick-off").
    let list_marker = marker.chars().all(|c| !c.is_alphanumeric()) || numbered;
    if list_marker || b.ends_with(['"', '“', '‘']) {
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
        .ends_with(['.', '!', '?', ':', '…', '|'])
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
static ENGLISH: &str = include_str!("../../../data/english-words.txt");

/// Whether `word`, however capitalised, is a common English word: each part of a hyphenated
/// word, without a possessive (`Follow-up`, `Let's`, `Didn't`).
fn english_word(word: &str) -> bool {
    let word = word.replace('’', "'");
    let lower = bare_name(&word);
    listed(ENGLISH, &lower)
        || lower
            .split('-')
            .all(|part| !part.is_empty() && listed(ENGLISH, part))
}

/// Whether a paragraph is written in English, as far as telling names from openers goes: it
/// is, unless the commonest words of another language (`le`, `und`, `para`) outnumber
/// English's (`the`, `to`, `you`) and make a tenth of its words. Jargon or a list of tools is
/// no other language: its openers stay checked.
fn written_in_english(text: &str) -> bool {
    let (mut words, mut english, mut foreign) = (0usize, 0usize, 0usize);
    for w in re(&WORD).find_iter(text) {
        let w = w.as_str().to_lowercase();
        words += 1;
        english += usize::from(FUNCTION_WORDS.contains(&w.as_str()));
        foreign += usize::from(FOREIGN_FUNCTION_WORDS.contains(&w.as_str()));
    }
    !(foreign >= 2 && foreign > english && foreign * 10 >= words)
}

/// English's commonest words.
const FUNCTION_WORDS: [&str; 60] = [
    "the", "and", "to", "of", "in", "for", "is", "you", "we", "it", "on", "with", "that", "this",
    "be", "are", "can", "will", "your", "our", "me", "my", "at", "as", "if", "so", "or", "do",
    "have", "not", "from", "by", "an", "was", "would", "could", "let", "what", "when", "there",
    "any", "just", "all", "about", "but", "up", "us", "they", "their", "them", "has", "had", "did",
    "been", "which", "who", "how", "than", "also", "into",
];

/// The commonest words of French, Spanish, German, Portuguese, Italian and Dutch that are no
/// English words.
const FOREIGN_FUNCTION_WORDS: [&str; 72] = [
    "le", "la", "les", "des", "et", "est", "une", "pour", "vous", "nous", "je", "du", "que", "qui",
    "dans", "avec", "ce", "cette", "merci", "el", "los", "las", "y", "es", "una", "para", "usted",
    "con", "por", "gracias", "del", "der", "das", "und", "ist", "ein", "eine", "für", "sie", "wir",
    "ich", "mit", "nicht", "auf", "zu", "den", "dem", "bitte", "danke", "os", "um", "uma", "você",
    "obrigado", "não", "com", "il", "gli", "di", "è", "per", "grazie", "non", "het", "een", "en",
    "van", "niet", "ik", "je", "wij", "bedankt",
];

/// Whether `word` is a line of `list`, whose lines are sorted bytewise: a binary search over
/// the text itself, so the list costs nothing until a draft is checked.
fn listed(list: &str, word: &str) -> bool {
    let bytes = list.as_bytes();
    let (mut lo, mut hi) = (0, bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[..mid]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
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
/// month, a weekday, a single letter, a common acronym (`ROI`, `EOD`), a meeting tool, holiday
/// or time zone. Other all-capital words (`IBM`, `APPLE`) are names.
fn common(word: &str) -> bool {
    let lower = word.replace('’', "'").to_lowercase();
    let base = ["'ve", "'ll", "'d", "'m", "'re", "'s"]
        .iter()
        .find_map(|c| lower.strip_suffix(c))
        .unwrap_or(&lower);
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    let capitals = letters > 1 && word.chars().all(|c| !c.is_lowercase());
    letters <= 1
        || (capitals && ACRONYMS.contains(&base))
        || MONTHS
            .iter()
            .any(|m| *m == lower || (lower.len() == 3 && m.starts_with(&lower)))
        || WEEKDAYS
            .iter()
            .any(|d| *d == lower || (lower.len() == 3 && d.starts_with(&lower)))
        || COMMON.contains(&base)
        || TITLES.contains(&base)
        || EVERYDAY_NAMES.contains(&base)
}

/// Capitalised words a follow-up uses that name nobody.
const COMMON: [&str; 17] = [
    "hi", "hello", "hey", "dear", "thanks", "thank", "best", "regards", "cheers", "kind", "warm",
    "i", "ok", "okay", "re", "fwd", "ps",
];

/// Names every sales email may use that state nothing about the deal: meeting tools, devices,
/// holidays and time zones.
const EVERYDAY_NAMES: [&str; 36] = [
    "zoom",
    "teams",
    "google",
    "meet",
    "hangouts",
    "webex",
    "skype",
    "whatsapp",
    "linkedin",
    "gmail",
    "outlook",
    "iphone",
    "ipad",
    "android",
    "christmas",
    "thanksgiving",
    "easter",
    "hanukkah",
    "diwali",
    "ramadan",
    "eid",
    "new",
    "year",
    "year's",
    "holidays",
    "central",
    "eastern",
    "pacific",
    "mountain",
    "european",
    "time",
    "standard",
    "daylight",
    "greenwich",
    "mean",
    "coordinated",
];

/// Titles before a name.
const TITLES: [&str; 7] = ["mr", "mrs", "ms", "mx", "dr", "prof", "st"];

/// Acronyms of business mail that name nobody (a currency code is read as a currency).
const ACRONYMS: [&str; 103] = [
    "roi", "crm", "api", "apis", "sow", "nda", "msa", "faq", "faqs", "pdf", "pdfs", "seo", "ux",
    "ui", "ceo", "cto", "cfo", "coo", "cmo", "cro", "cio", "ciso", "vp", "svp", "evp", "hr", "qa",
    "eod", "eow", "eta", "fyi", "asap", "tbd", "tba", "kpi", "kpis", "sla", "slas", "sso", "saml",
    "gdpr", "soc", "iso", "hipaa", "ccpa", "csv", "url", "urls", "usa", "uk", "eu", "emea", "apac",
    "latam", "ai", "ml", "llm", "it", "po", "rfp", "rfq", "rfi", "poc", "mvp", "smb", "arr", "mrr",
    "cac", "ltv", "nps", "okr", "okrs", "qbr", "tco", "sku", "cc", "bcc", "fw", "tl", "dr", "pst",
    "pdt", "est", "edt", "cet", "cest", "gmt", "utc", "bst", "am", "pm", "saas", "b2b", "ps",
    "usd", "eur", "gbp", "chf", "us", "hq", "pr", "id", "vat",
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
