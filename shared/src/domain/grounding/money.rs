//! Currencies in a draft: every sign, code and word that names one, wherever it stands.

use std::sync::OnceLock;

use super::blank;
use super::patterns::{re, Pattern};

/// A dollar of a country written before its sign (`US$`, `CA$`, `A$`, `NZ$`, `HK$`, `R$`).
static PREFIXED_DOLLAR: Pattern = (
    OnceLock::new(),
    r"\b(?:(US|U\.S\.|CA|AU|NZ|HK|MX|SG|NT)\s?|(C|A|S|R))\$",
);
static STOPPED_USD: Pattern = (OnceLock::new(), r"(?i)\bu\.\s?s\.\s?d\b\.?");
/// Codes in capitals (`USD`, `JPY`, `USDT`), and the common ones in lower case too.
static CODE: Pattern = (
    OnceLock::new(),
    r"\b(USD|EUR|GBP|JPY|CNY|RMB|CHF|CAD|AUD|NZD|SEK|NOK|DKK|ISK|PLN|CZK|HUF|RON|BGN|INR|BRL|MXN|ZAR|SGD|HKD|KRW|RUB|TRY|AED|SAR|QAR|ILS|THB|IDR|MYR|PHP|TWD|VND|ARS|CLP|COP|PEN|NGN|KES|EGP|BTC|XBT|ETH|USDT|USDC|(?i:usd|eur|gbp|chf|cad|aud|nzd|sek|nok|dkk|jpy|inr))\b",
);
/// Words that name a currency wherever they stand ("24,000, payable in US dollars").
static WORD: Pattern = (
    OnceLock::new(),
    r"(?i)\b(?:(us|u\.s\.|american|canadian|australian|new zealand|hong kong|singapore|mexican)\s+)?(dollars?|bucks|greenbacks?|euros?|pounds?\s+sterling|pounds?|sterling|quid|yen|yuan|renminbi|rupees?|pesos?|francs?|kronor|kroner|krona|krone|zlotys?|złoty|zł|rubles?|roubles?|lira|reais|bitcoins?|shekels?|dirhams?|riyals?|ringgits?|rupiahs?|forints?|korunas?|baht)\b",
);
/// Words that name a currency only next to a number ("rand", "kr"); `won` and `real` never do
/// ("3 won deals", "2 real options"): the Korean won and the real are read from `₩`, `KRW`,
/// `R$`, `BRL` and `reais`.
static NEXT_TO_NUMBER: Pattern = (
    OnceLock::new(),
    r"(?i)\d[\d,.]*\s*[km]?\s*(rand|kr|lei|dong)\b|\b(kr|rand)\.?\s*\d",
);

/// Every currency `text` names, as a code (`$` for a dollar of no stated country, `¥` for a
/// yen or a yuan), with the words that name it.
pub(super) fn currencies(text: &str) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    // "U.S.D." spelled with stops.
    if let Some(m) = re(&STOPPED_USD).find(text) {
        found.push(("usd", m.as_str().to_string()));
    }
    let mut rest = text.to_string();
    for c in re(&PREFIXED_DOLLAR).captures_iter(text) {
        let prefix = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
        let code = match prefix {
            "US" | "U.S." => "usd",
            "CA" | "C" => "cad",
            "A" | "AU" => "aud",
            "NZ" => "nzd",
            "HK" => "hkd",
            "MX" => "mxn",
            "S" | "SG" => "sgd",
            "NT" => "twd",
            _ => "brl",
        };
        found.push((code, c[0].to_string()));
    }
    blank(&mut rest, &PREFIXED_DOLLAR);
    for c in re(&WORD).captures_iter(&rest) {
        let word = c[2].to_lowercase();
        let country = c.get(1).map(|m| m.as_str().to_lowercase());
        let code = match (word.as_str(), country.as_deref()) {
            ("dollar" | "dollars" | "bucks", Some(country)) => match country {
                "us" | "u.s." | "american" => "usd",
                "canadian" => "cad",
                "australian" => "aud",
                "new zealand" => "nzd",
                "hong kong" => "hkd",
                "singapore" => "sgd",
                _ => "$",
            },
            ("dollar" | "dollars" | "bucks" | "greenback" | "greenbacks", _) => "$",
            ("peso" | "pesos", Some("mexican")) => "mxn",
            (w, _) => word_code(w),
        };
        found.push((code, c[0].to_string()));
    }
    blank(&mut rest, &WORD);
    for c in re(&CODE).captures_iter(&rest) {
        found.push((code_of(&c[1]), c[0].to_string()));
    }
    for c in re(&NEXT_TO_NUMBER).captures_iter(&rest) {
        let word = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
        found.push((word_code(&word.to_lowercase()), c[0].to_string()));
    }
    for ch in rest.chars().filter(|c| currency_sign(*c)) {
        found.push((sign_code(ch), ch.to_string()));
    }
    found
}

/// The currency an amount is written in, if it names one.
pub(super) fn currency(written: &str) -> Option<&'static str> {
    currencies(written).first().map(|(code, _)| *code)
}

/// Whether two currencies can be the same: equal, a bare dollar and a dollar of a country, or
/// a bare `¥` and the yen or the yuan.
pub(super) fn same_currency(a: &str, b: &str) -> bool {
    let dollar = |c: &str| {
        matches!(
            c,
            "usd" | "cad" | "aud" | "nzd" | "hkd" | "sgd" | "mxn" | "twd"
        )
    };
    let yen = |c: &str| matches!(c, "jpy" | "cny");
    a == b
        || (a == "$" && dollar(b))
        || (b == "$" && dollar(a))
        || (a == "¥" && yen(b))
        || (b == "¥" && yen(a))
}

fn code_of(code: &str) -> &'static str {
    match code.to_lowercase().as_str() {
        "rmb" | "cny" => "cny",
        "xbt" | "btc" => "btc",
        other => CODES
            .iter()
            .find(|c| **c == other)
            .copied()
            .unwrap_or("other"),
    }
}

const CODES: [&str; 50] = [
    "usd", "eur", "gbp", "jpy", "cny", "chf", "cad", "aud", "nzd", "sek", "nok", "dkk", "isk",
    "pln", "czk", "huf", "ron", "bgn", "inr", "brl", "mxn", "zar", "sgd", "hkd", "krw", "rub",
    "try", "aed", "sar", "qar", "ils", "thb", "idr", "myr", "php", "twd", "vnd", "ars", "clp",
    "cop", "pen", "ngn", "kes", "egp", "btc", "eth", "usdt", "usdc", "mdl", "uah",
];

fn word_code(word: &str) -> &'static str {
    let w = word.trim_end_matches('s');
    match w {
        "euro" => "eur",
        "pound" | "pounds sterling" | "pound sterling" | "sterling" | "quid" => "gbp",
        "yen" => "jpy",
        "yuan" | "renminbi" => "cny",
        "rupee" => "inr",
        "peso" => "peso",
        "franc" => "chf",
        "kronor" | "krona" => "sek",
        "kroner" | "krone" | "kr" => "kr",
        "zloty" | "złoty" | "zł" => "pln",
        "ruble" | "rouble" => "rub",
        "lira" => "try",
        "reai" | "real" => "brl",
        "bitcoin" => "btc",
        "shekel" => "ils",
        "dirham" => "aed",
        "riyal" => "sar",
        "ringgit" => "myr",
        "rupiah" => "idr",
        "forint" => "huf",
        "koruna" => "czk",
        "baht" => "thb",
        "won" => "krw",
        "rand" => "zar",
        "lei" => "ron",
        "dong" => "vnd",
        _ if w.starts_with("pound") => "gbp",
        _ => "other",
    }
}

/// A currency sign: Unicode's currency symbols.
fn currency_sign(c: char) -> bool {
    matches!(
        c,
        '$' | '¢' | '£' | '¤' | '¥' | '֏' | '؋' | '৲' | '৳' | '฿' | '៛' | '₠'
            ..='⃀' | '﷼' | '﹩' | '＄' | '￠' | '￡' | '￥' | '￦'
    )
}

fn sign_code(c: char) -> &'static str {
    match c {
        '$' | '﹩' | '＄' | '¢' | '￠' => "$",
        '€' => "eur",
        '£' | '￡' => "gbp",
        '¥' | '￥' => "¥",
        '₹' => "inr",
        '₩' | '￦' => "krw",
        '₽' => "rub",
        '₿' => "btc",
        '₺' => "try",
        '₪' => "ils",
        '₫' => "vnd",
        '₱' => "php",
        '฿' => "thb",
        '₴' => "uah",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        currencies(text).into_iter().map(|(c, _)| c).collect()
    }

    #[test]
    fn every_way_of_naming_a_currency_is_read() {
        assert_eq!(codes("24,000 US dollars"), ["usd"]);
        assert_eq!(codes("CA$48,000 or A$ 10 or NZ$5"), ["cad", "aud", "nzd"]);
        assert_eq!(codes("24,000 (USD), payable in EUR"), ["usd", "eur"]);
        assert_eq!(codes("₹24,000 ₩1 ₽2 ₿3"), ["inr", "krw", "rub", "btc"]);
        assert_eq!(codes("24,000 zł, 5 kr, kr 24,000"), ["pln", "kr", "kr"]);
        assert_eq!(
            codes("24,000 Swiss francs or pounds sterling"),
            ["chf", "gbp"]
        );
        assert_eq!(codes("$  24,000"), ["$"]);
        assert_eq!(codes("24,000 USDT"), ["usdt"]);
        // Words that are currencies only next to a number.
        assert!(codes("We won the account; real results; try it").is_empty());
        assert!(codes("3 won deals, 2 real options, A $500 credit is A$").contains(&"aud"));
        assert_eq!(codes("A $500 credit"), ["$"]);
    }
}
