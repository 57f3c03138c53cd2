//! The patterns and word lists the grounding check reads claims with.

use std::sync::OnceLock;

use regex::Regex;

pub(super) type Pattern = (OnceLock<Regex>, &'static str);

pub(super) fn re(p: &'static Pattern) -> &'static Regex {
    p.0.get_or_init(|| Regex::new(p.1).expect("a valid pattern"))
}

pub(super) const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
/// Words that offer something or state a number without digits: a source must say them.
pub(super) const OFFER_WORDS: [&str; 93] = [
    "discount",
    "discounts",
    "discounted",
    "discounting",
    "free",
    "rebate",
    "rebates",
    "refund",
    "refunds",
    "waive",
    "waived",
    "coupon",
    "voucher",
    "vouchers",
    "promo",
    "promotion",
    "half",
    "percent",
    "pct",
    "complimentary",
    "gratis",
    "cashback",
    "reduction",
    "bonus",
    "guarantee",
    "guaranteed",
    "warranty",
    "zero",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fifteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
    "million",
    "billion",
    "dozen",
    "twice",
    "reduced",
    "reimburse",
    "reimbursed",
    "reimbursement",
    "freebie",
    "freebies",
    "gratuitous",
    "gratuitously",
    "foc",
    "fee",
    "fees",
    "credit",
    "credits",
    "cheaper",
    "cheapest",
    "fourteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "thirtieth",
];
/// What a small number word counts when it makes a claim ("two weeks", "three seats free").
pub(super) const UNITS: [&str; 40] = [
    "day", "days", "week", "weeks", "month", "months", "year", "years", "hour", "hours", "minute",
    "minutes", "seat", "seats", "user", "users", "license", "licenses", "licence", "licences",
    "people", "person", "persons", "team", "teams", "times", "percent", "thousand", "hundred",
    "million", "free", "off", "extra", "dollars", "euros", "pounds", "k", "x", "projects",
    "sprints",
];
/// Offers in more than one word.
pub(super) const OFFER_PHRASES: [&str; 26] = [
    "costs nothing",
    "cost nothing",
    "on us",
    "without charge",
    "pro bono",
    "price match",
    "match any",
    "cut the price",
    "lower the price",
    "third off",
    "quarter off",
    "no charge",
    "no cost",
    "on the house",
    "per cent",
    "cash back",
    "money back",
    "at cost",
    "no extra cost",
    "no additional cost",
    "no extra charge",
    "no additional charge",
    "on our dime",
    "off the price",
    "off the fee",
    "off your bill",
];

pub(super) static URL: Pattern = (
    OnceLock::new(),
    r"(?i)\b(?:https?://|www\.)[^\s<>()\[\]{}]+",
);
/// A link written without `http` or `www`: a domain with a path, or with a common top-level
/// domain.
pub(super) static DOMAIN: Pattern = (
    OnceLock::new(),
    r"(?i)\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:[a-z]{2,}/[^\s<>()\[\]{}]*|[a-z]{2,}\b)",
);
/// An address or a link spelled in words: "x at y dot com", "y dot com", "… slash …".
pub(super) static SPELLED_LINK: Pattern = (
    OnceLock::new(),
    r"(?i)\b[\p{L}\d_-]+\s+dot\s+[a-z]{2,}\b(?:\s+slash\s+\S+)?|\bslash\s+[\p{L}\d_-]+|\b[\p{L}\d_-]+\s*(?:\[\.\]|\(\.\)|\{\.\}|\s\.\s|·)\s*[a-z]{2,}\b|(?:^|\s)@[\p{L}\d_][\p{L}\d_.-]*|\b[\p{L}\d_-]+\s*[\[\(\{]\s*(?:dot|at)\s*[\]\)\}]\s*[\p{L}\d_-]+|\b[\p{L}\d_-]+\s+\.(?:com|net|org|io|co|me|app|dev|link|ly|ru|cn|info|biz|xyz)\b",
);
/// Three or more single letters in a row, spaced out.
pub(super) static SPACED: Pattern = (OnceLock::new(), r"\b(?:\p{L}[ \t]+){3,}\p{L}\b");
/// An amount said without a currency sign: a number with a money word, or priced per unit
/// or in total ("9,000 bucks", "50 per seat", "9,000 in total").
pub(super) static PRICED: Pattern = (
    OnceLock::new(),
    r"(?i)\b\d[\d,.]*\s?(?:k\s)?\s?(?:bucks|quid|grand|francs?|yen|rupees?|rand|reais|pesos?|credits?)\b|\b\d[\d,.]*\s?k?\s+(?:per|a|an|each|every)\s+(?:seat|user|licen[cs]e|month|year|head|person|team|hour|day)s?\b|\b\d[\d,.]*\s?k?\s+in\s+total\b|\b\d[\d,.]*\s?k?\s*,?\s+payable\b",
);
pub(super) static EMAIL: Pattern = (
    OnceLock::new(),
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
);
pub(super) static ISO_DATE: Pattern = (
    OnceLock::new(),
    r"\b(\d{4})-(\d{2})-(\d{2})(?:T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?",
);
pub(super) static ISO_TIME: Pattern = (OnceLock::new(), r"\d{4}-\d{2}-\d{2}T(\d{2}):(\d{2})");
pub(super) static SLASH_DATE: Pattern = (OnceLock::new(), r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b");
pub(super) static DAY_MONTH: Pattern = (OnceLock::new(), {
    // "Tuesday, 5 March 2026", "5th March", "5 Mar."
    r"(?i)\b(?:(?P<dm_wd>mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+(?:the\s+)?)?(?P<dm_day>\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<dm_month>(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?)(?:,?\s+(?P<dm_year>\d{4}))?\b"
});
pub(super) static MONTH_DAY: Pattern = (OnceLock::new(), {
    // "Tuesday, March 5th, 2026", "Mar 5"
    r"(?i)\b(?:(?P<md_wd>mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?(?P<md_month>(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?)\s+(?P<md_day>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(?P<md_year>\d{4}))?"
});
pub(super) static TIME: Pattern = (
    OnceLock::new(),
    r"(?i)\b(?:(?P<h>\d{1,2}):(?P<m>\d{2})\s*(?P<ap>[ap]\.?m\.?)?|(?P<h2>\d{1,2})\s*(?P<ap2>[ap]\.?m\.?))(?:\b|\s|$)",
);
pub(super) static MONEY: Pattern = (
    OnceLock::new(),
    r"(?i)(?:(?:\b[a-z]{1,2})?[$€£¥][ \t]*\d[\d,.]*(?:[ \t]?[km]\b)?|\b(?:usd|eur|gbp|chf|cad|aud|sek|nok|dkk)[ \t]*\d[\d,.]*(?:[ \t]?[km]\b)?|\b\d[\d,.]*(?:[ \t]?[km])?[ \t]*(?:(?:[a-z]{1,2})?[$€£¥]|(?:(?:us|u\.s\.|canadian|australian|singapore|hong[ \t]kong|new[ \t]zealand)[ \t]+)?(?:usd|eur|gbp|chf|cad|aud|sek|nok|dkk|dollars?|euros?|pounds?|greenbacks?)\b))",
);
pub(super) static PERCENT: Pattern = (
    OnceLock::new(),
    r"(?i)\b\d+(?:[.,]\d+)?\s?(?:%|per\s?cent\b)",
);
pub(super) static PHONE: Pattern = (OnceLock::new(), r"\+?\(?\d[\d\s().-]{5,}\d");
pub(super) static NUMBER: Pattern = (OnceLock::new(), r"\b\d[\d,.]*\d\b|\b\d\b");
pub(super) static WORD: Pattern = (OnceLock::new(), r"[\p{L}][\p{L}\p{M}'’-]*");
/// A thin, hair or other narrow space between two letters.
pub(super) static THIN_SPACED: Pattern = (
    OnceLock::new(),
    r"\p{L}[\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}]+\p{L}",
);
/// Being free to do something, or free at a time: no offer.
pub(super) static FREE_TIME: Pattern = (
    OnceLock::new(),
    r"(?i)\bfeel\s+free\b|\b(?:i'm|i’m|i\s+am|are\s+you|you're|you’re|we're|we’re|we\s+are)\s+free\b|\bfree\s+(?:on|at|this|next|tomorrow|today|for\s+a\s+(?:call|chat))\b",
);
/// A numbered list's marker at a line's start.
pub(super) static LIST_NUMBER: Pattern = (OnceLock::new(), r"(?m)^[ \t]*\d{1,2}[.)][ \t]");
pub(super) static NAME_RUN: Pattern = (
    OnceLock::new(),
    r"\b\p{Lu}[\p{L}\p{M}'’-]*(?:[ \t]+\p{Lu}[\p{L}\p{M}'’-]*)*",
);
