//! Reading draftgate's own JSON formats (the inbox and generic webhooks) field by field, so
//! every error names the event and the field, and a misspelt field is refused rather than
//! silently ignored.

use std::cell::RefCell;
use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::domain::checks::{
    deal_ref_problem, plausible_time, FIRST_YEAR, LAST_YEAR, MAX_AMOUNT, MAX_CRM_LEN, MAX_ID_LEN,
};
use crate::domain::DealRef;
use crate::providers::ParseError;

/// One JSON object being read. Every field asked for, present or not, counts as known;
/// [`Obj::finish`] refuses the rest.
pub struct Obj<'a> {
    at: String,
    map: &'a Map<String, Value>,
    known: RefCell<BTreeSet<&'static str>>,
}

impl<'a> Obj<'a> {
    /// `at` names the object in errors, e.g. `event 2` or `event 2: deal`.
    pub fn new(at: impl Into<String>, value: &'a Value) -> Result<Obj<'a>, ParseError> {
        let at = at.into();
        match value {
            Value::Object(map) => Ok(Obj {
                at,
                map,
                known: RefCell::new(BTreeSet::new()),
            }),
            other => Err(ParseError(format!(
                "{at}: expected a JSON object, got {}",
                kind_of(other)
            ))),
        }
    }

    pub fn at(&self) -> &str {
        &self.at
    }

    pub fn error(&self, message: impl std::fmt::Display) -> ParseError {
        ParseError(format!("{}: {message}", self.at))
    }

    /// The value of `key`; JSON `null` counts as absent.
    fn get(&self, key: &'static str) -> Option<&'a Value> {
        self.known.borrow_mut().insert(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &'static str) -> bool {
        self.get(key).is_some()
    }

    /// A string; blank strings count as absent (form-filling bridges send "" for empty fields).
    pub fn opt_str(&self, key: &'static str) -> Result<Option<String>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(other) => {
                Err(self.error(format!("`{key}` must be a string, got {}", kind_of(other))))
            }
        }
    }

    pub fn str(&self, key: &'static str) -> Result<String, ParseError> {
        self.opt_str(key)?
            .ok_or_else(|| self.error(format!("`{key}` is required")))
    }

    /// A string that may be empty (e.g. a subject line).
    pub fn str_allow_empty(&self, key: &'static str) -> Result<String, ParseError> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s.trim().to_string()),
            Some(other) => {
                Err(self.error(format!("`{key}` must be a string, got {}", kind_of(other))))
            }
            None => Err(self.error(format!("`{key}` is required"))),
        }
    }

    /// An identifier: a non-empty string or an integer, at most [`MAX_ID_LEN`] characters.
    pub fn id(&self, key: &'static str) -> Result<String, ParseError> {
        let id = match self.get(key) {
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
            Some(Value::String(_)) | None => self.str(key)?,
            Some(other) => {
                return Err(self.error(format!(
                    "`{key}` must be a string or an integer, got {}",
                    kind_of(other)
                )))
            }
        };
        if id.chars().count() > MAX_ID_LEN || id.chars().any(char::is_control) {
            return Err(self.error(format!(
                "`{key}` must be at most {MAX_ID_LEN} characters without control characters"
            )));
        }
        Ok(id)
    }

    pub fn opt_bool(&self, key: &'static str) -> Result<Option<bool>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.error(format!(
                "`{key}` must be true or false, got {}",
                kind_of(other)
            ))),
        }
    }

    pub fn opt_timestamp(&self, key: &'static str) -> Result<Option<Timestamp>, ParseError> {
        let Some(s) = self.opt_str(key)? else {
            return Ok(None);
        };
        let t: Timestamp = s.parse().map_err(|_| {
            self.error(format!(
                "`{key}` must be an RFC 3339 time with an offset, e.g. 2026-03-02T10:15:00Z; got `{s}`"
            ))
        })?;
        if !plausible_time(&t) {
            return Err(self.error(format!(
                "`{key}` must be a time between {FIRST_YEAR} and {LAST_YEAR}; got `{s}`"
            )));
        }
        Ok(Some(t))
    }

    pub fn timestamp(&self, key: &'static str) -> Result<Timestamp, ParseError> {
        self.opt_timestamp(key)?
            .ok_or_else(|| self.error(format!("`{key}` is required")))
    }

    pub fn date(&self, key: &'static str) -> Result<jiff::civil::Date, ParseError> {
        let s = self.str(key)?;
        let valid = s.len() == 10;
        let date: jiff::civil::Date =
            s.parse().ok().filter(|_| valid).ok_or_else(|| {
                self.error(format!("`{key}` must be a date YYYY-MM-DD; got `{s}`"))
            })?;
        if !(FIRST_YEAR..=LAST_YEAR).contains(&date.year()) {
            return Err(self.error(format!(
                "`{key}` must be a date between {FIRST_YEAR} and {LAST_YEAR}; got `{s}`"
            )));
        }
        Ok(date)
    }

    /// A money amount: a number (or a string holding one) from 0 to [`MAX_AMOUNT`].
    pub fn opt_amount(&self, key: &'static str) -> Result<Option<(f64, String)>, ParseError> {
        match self.opt_number(key)? {
            Some((v, text)) if !(0.0..=MAX_AMOUNT).contains(&v) => Err(self.error(format!(
                "`{key}` must be an amount from 0 to {MAX_AMOUNT:.0}; got `{text}`"
            ))),
            other => Ok(other),
        }
    }

    /// A number, or a string holding one (spreadsheet bridges send numbers as text).
    /// Returns the value and its text as given.
    pub fn opt_number(&self, key: &'static str) -> Result<Option<(f64, String)>, ParseError> {
        let text = match self.get(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(other) => {
                return Err(self.error(format!("`{key}` must be a number, got {}", kind_of(other))))
            }
        };
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some((v, text))),
            _ => Err(self.error(format!("`{key}` must be a number; got `{text}`"))),
        }
    }

    pub fn opt_obj(&self, key: &'static str) -> Result<Option<Obj<'a>>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => Obj::new(format!("{}: {key}", self.at), v).map(Some),
        }
    }

    pub fn obj(&self, key: &'static str) -> Result<Obj<'a>, ParseError> {
        self.opt_obj(key)?
            .ok_or_else(|| self.error(format!("`{key}` is required")))
    }

    /// The raw value of a field whose shape the caller checks.
    pub fn raw(&self, key: &'static str) -> Option<&'a Value> {
        self.get(key)
    }

    /// Refuse fields nobody asked for, naming them and the ones that are allowed here.
    pub fn finish(self) -> Result<(), ParseError> {
        let known = self.known.borrow();
        let unknown: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let list = |names: &mut dyn Iterator<Item = &str>| {
            names
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(self.error(format!(
            "unknown field {}; expected only {}",
            list(&mut unknown.into_iter()),
            list(&mut known.iter().copied())
        )))
    }
}

/// A deal reference `{"crm": "...", "id": "..."}` read from `obj` (which may hold more fields;
/// the caller finishes it). The CRM name is a lowercase word, so keys built from it stay
/// unambiguous.
pub fn deal_ref(obj: &Obj<'_>) -> Result<DealRef, ParseError> {
    let crm = obj.str("crm")?;
    let valid = crm.len() <= MAX_CRM_LEN
        && crm.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && crm
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        return Err(obj.error(format!(
            "`crm` must be a lowercase name of letters, digits, `_` or `-` (at most {MAX_CRM_LEN}), e.g. `hubspot` or `notion`; got `{crm}`"
        )));
    }
    let id = obj.id("id")?;
    let deal = DealRef::new(crm, id);
    match deal_ref_problem(&deal, super::numeric_ids(&deal.crm)) {
        Some(p) => Err(obj.error(p)),
        None => Ok(deal),
    }
}

/// The address in `Jane Doe <jane@acme.example>` or `jane@acme.example`, checked for the
/// shape of an address.
pub fn email_address(obj: &Obj<'_>, key: &'static str, value: &str) -> Result<String, ParseError> {
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => value[open + 1..close].trim(),
        _ => value.trim(),
    };
    let valid = match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if valid {
        Ok(address.to_string())
    } else {
        Err(obj.error(format!("`{key}` must be an email address; got `{value}`")))
    }
}

/// Notes a CRM keeps as HTML (HubSpot call bodies, Pipedrive notes) as plain text.
pub fn plain_text(html: &str) -> String {
    let text = if html.contains('<') || html.contains('&') {
        nanohtml2text::html2text(html)
    } else {
        html.to_string()
    };
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A provider's string or number field as text; blank counts as absent. For providers whose
/// payloads send ids and amounts either way (Pipedrive, Close).
pub fn text(o: &Map<String, Value>, key: &str) -> Option<String> {
    match o.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first word of a person's name, as a greeting uses it.
pub fn first_name(full: &str) -> String {
    full.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_unknown_field_is_named_with_the_allowed_ones() {
        let v = json!({"id": "1", "stge": "x"});
        let obj = Obj::new("event 0", &v).unwrap();
        obj.id("id").unwrap();
        obj.opt_str("stage").unwrap();
        let err = obj.finish().unwrap_err().0;
        assert_eq!(
            err,
            "event 0: unknown field `stge`; expected only `id`, `stage`"
        );
    }

    #[test]
    fn ids_may_be_integers_but_not_blank_or_overlong() {
        let v = json!({"a": 42, "b": " ", "c": "x".repeat(MAX_ID_LEN + 1), "d": 1.5});
        let obj = Obj::new("event 0", &v).unwrap();
        assert_eq!(obj.id("a").unwrap(), "42");
        assert!(obj.id("b").unwrap_err().0.contains("`b` is required"));
        assert!(obj.id("c").unwrap_err().0.contains("at most 256"));
        assert!(obj.id("d").is_err());
    }

    #[test]
    fn times_need_an_offset_and_dates_the_iso_form() {
        let v = json!({"t": "2026-03-02T10:15:00+01:00", "u": "2026-03-02T10:15:00", "d": "2026-03-31", "e": "31.03.2026"});
        let obj = Obj::new("event 0", &v).unwrap();
        assert_eq!(
            obj.timestamp("t").unwrap(),
            "2026-03-02T09:15:00Z".parse().unwrap()
        );
        assert!(obj.timestamp("u").unwrap_err().0.contains("RFC 3339"));
        assert_eq!(obj.date("d").unwrap(), jiff::civil::date(2026, 3, 31));
        assert!(obj.date("e").unwrap_err().0.contains("YYYY-MM-DD"));
    }

    #[test]
    fn a_crm_name_is_a_lowercase_word() {
        for (crm, ok) in [
            ("notion", true),
            ("air-table_2", true),
            ("Notion", false),
            ("a#b", false),
            ("", false),
        ] {
            let v = json!({"crm": crm, "id": "1"});
            let obj = Obj::new("event 0: deal", &v).unwrap();
            assert_eq!(deal_ref(&obj).is_ok(), ok, "{crm}");
        }
    }

    #[test]
    fn an_address_is_taken_from_a_display_name_form() {
        let v = json!({});
        let obj = Obj::new("event 0", &v).unwrap();
        assert_eq!(
            email_address(&obj, "from", "Jane Doe <jane@acme.example>").unwrap(),
            "jane@acme.example"
        );
        assert_eq!(
            email_address(&obj, "from", "jane@acme.example").unwrap(),
            "jane@acme.example"
        );
        assert!(email_address(&obj, "from", "Jane Doe").is_err());
        assert!(email_address(&obj, "from", "a b@c").is_err());
    }
}
