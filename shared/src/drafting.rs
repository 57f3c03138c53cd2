//! Drafts from the founder's own templates (minijinja), filled only with sourced facts.
//! A variable the CRM did not provide is never rendered blank: it is shown as a visible
//! marker and the draft is marked incomplete.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::domain::{Fact, FactUse, TriggerKind};

/// Variables a template may use that are often absent: where there is none the text stands as
/// if the variable were empty (`{% if last_call.topic %}…{% endif %}`), and the draft is complete.
pub const OPTIONAL_VARIABLES: &[&str] = &["last_call.topic", "prospect.last_question"];

/// What stands in the text where a fact is missing.
pub fn missing_marker(variable: &str) -> String {
    format!("[[missing: {variable}]]")
}

/// One template file: a `Subject:` line, a blank line, then the body.
#[derive(Clone, Debug)]
pub struct Template {
    pub name: String,
    pub subject: String,
    pub body: String,
    /// Dotted variables the template reads (`contact.first_name`).
    pub variables: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// `{{ deal.amount | times(1.3) }}`: a tier price computed from the deal's amount ("24000 EUR"
/// → "31200 EUR"), rounded to whole units of the deal's currency. A missing amount stays its
/// `[[missing: …]]` marker; an amount that is not a number becomes one, so a proposal never
/// says "a third of the quote" to a prospect and never guesses.
fn times(value: String, factor: f64) -> String {
    if value.starts_with("[[missing:") {
        return value;
    }
    let unescaped = value.replace('\\', "");
    let text = unescaped.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, rest) = text.split_at(split);
    let currency = rest.trim();
    let currency_ok = currency.is_empty()
        || (currency.len() <= 4 && currency.chars().all(|c| c.is_ascii_uppercase()));
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && factor.is_finite() && factor >= 0.0 && currency_ok => {
            let price = (n * factor).round();
            if currency.is_empty() {
                format!("{price:.0}")
            } else {
                format!("{price:.0} {currency}")
            }
        }
        _ => missing_marker("deal.amount as a number"),
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("times", times);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters"),
    );
    env
}

impl Template {
    pub fn parse(name: &str, source: &str) -> Result<Template, TemplateError> {
        let (first, rest) = source.split_once('\n').unwrap_or((source, ""));
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| TemplateError {
                line: Some(1),
                message: "the first line must be `Subject: ...`".into(),
            })?
            .trim()
            .to_string();
        let body = rest
            .strip_prefix('\n')
            .or_else(|| rest.strip_prefix("\r\n"))
            .ok_or_else(|| TemplateError {
                line: Some(2),
                message: "a blank line must separate the subject from the body".into(),
            })?;
        let mut env = environment();
        let mut variables = BTreeSet::new();
        for (part, src, offset) in [
            ("subject", subject.as_str(), 0usize),
            ("body", body, 2usize),
        ] {
            env.add_template_owned(part, src.to_string())
                .map_err(|e| TemplateError {
                    line: e.line().map(|l| l + offset),
                    message: format!("{} ({part})", e.detail().unwrap_or("template syntax error")),
                })?;
            let tmpl = env.get_template(part).expect("just added");
            variables.extend(tmpl.undeclared_variables(true));
        }
        Ok(Template {
            name: name.to_string(),
            subject,
            body: body.to_string(),
            variables,
        })
    }
}

/// A value put into Markdown as text: on one line (a field is inline data; a line break in it
/// could start a heading, a list or a table row), with the characters that could make a link,
/// an image, an autolink, raw HTML or a table cell escaped (`\\ [ ] < > |`), and those that
/// only mean something at the start of a line (`#`, `>`, `-`, `+`, `*`, `=`, `_`, `` ` ``, `~`,
/// `1.`: headings, quotes, lists, rules and fences) escaped there. Everyday punctuation (`&`, `(`, `'`, `.`) reads as written.
pub fn markdown_text(value: &str) -> String {
    const ALWAYS: &str = "\\[]<>|";
    let line = crate::domain::headers::one_line(value);
    let mut out = String::with_capacity(line.len() + 8);
    let mut leading = true;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        // `1.` or `1)` opens a list only when a space (or nothing) follows: `2999.99` is a number.
        let list_marker = matches!(c, '.' | ')')
            && out.chars().next().is_some_and(|f| f.is_ascii_digit())
            && chars.peek().is_none_or(|n| n.is_whitespace());
        let at_start = leading
            && (matches!(c, '#' | '>' | '-' | '+' | '*' | '=' | '_' | '`' | '~') || list_marker);
        if ALWAYS.contains(c) || at_start {
            out.push('\\');
        }
        out.push(c);
        leading = leading && c.is_ascii_digit();
    }
    out
}

/// A Markdown document as plain text, for the message that carries it: headings and
/// paragraphs as lines, list items with a dash, table rows with their cells joined by ` | `,
/// links as their text and address; escapes and emphasis marks gone.
pub fn markdown_plain(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut out = String::with_capacity(markdown.len());
    let mut cells: Vec<String> = Vec::new();
    let mut in_cell = false;
    let mut links: Vec<String> = Vec::new();
    let mut list_depth = 0usize;
    let end_block = |out: &mut String| {
        while out.ends_with(' ') {
            out.pop();
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
    };
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        let target =
            |out: &'_ mut String, cells: &'_ mut Vec<String>, in_cell: bool, text: &str| {
                if in_cell {
                    if let Some(c) = cells.last_mut() {
                        c.push_str(text);
                    }
                } else {
                    out.push_str(text);
                }
            };
        match event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                target(&mut out, &mut cells, in_cell, &t);
            }
            Event::SoftBreak | Event::HardBreak => target(&mut out, &mut cells, in_cell, "\n"),
            Event::Start(Tag::Item) => {
                out.push_str(&"  ".repeat(list_depth.saturating_sub(1)));
                out.push_str("- ");
            }
            Event::End(TagEnd::Item) if !out.ends_with('\n') => out.push('\n'),
            Event::Start(Tag::List(_)) => {
                if list_depth > 0 && !out.ends_with('\n') {
                    out.push('\n');
                }
                list_depth += 1;
            }
            Event::End(TagEnd::List(_)) => {
                list_depth = list_depth.saturating_sub(1);
                if list_depth == 0 {
                    end_block(&mut out);
                }
            }
            Event::Start(Tag::TableCell) => {
                cells.push(String::new());
                in_cell = true;
            }
            Event::End(TagEnd::TableCell) => in_cell = false,
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                out.push_str(
                    &cells
                        .iter()
                        .map(|c| c.trim())
                        .collect::<Vec<_>>()
                        .join(" | "),
                );
                out.push('\n');
                cells.clear();
            }
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = links.pop().filter(|u| safe_link(u)) {
                    let shown = url.strip_prefix("mailto:").unwrap_or(&url).to_string();
                    if !out.ends_with(&shown) {
                        target(&mut out, &mut cells, in_cell, &format!(" ({shown})"));
                    }
                }
            }
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Table | TagEnd::BlockQuote(_),
            ) if list_depth == 0 => end_block(&mut out),
            Event::Rule => {
                end_block(&mut out);
                out.push_str("----\n\n");
            }
            _ => {}
        }
    }
    let trimmed = out.trim_end();
    format!("{trimmed}\n")
}

/// The schemes a link in a rendered document may have.
fn safe_link(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("mailto:")
}

/// Markdown (or plain text) as HTML, for a proposal's page. Any HTML in the text is shown as
/// text, never passed through; links keep only `https:` and `mailto:` targets and images only
/// `https:` ones (anything else is shown as its text).
pub fn markdown_html(text: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    // Whether each open link or image was kept, so its end tag is dropped with it.
    let mut kept: Vec<bool> = Vec::new();
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES).filter_map(move |e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Some(Event::Text(t)),
        // A line break in a note is a line break.
        Event::SoftBreak => Some(Event::HardBreak),
        Event::Start(Tag::Link { ref dest_url, .. }) => {
            let ok = safe_link(dest_url);
            kept.push(ok);
            ok.then_some(e)
        }
        Event::Start(Tag::Image { ref dest_url, .. }) => {
            let ok = dest_url.trim().to_ascii_lowercase().starts_with("https://");
            kept.push(ok);
            ok.then_some(e)
        }
        Event::End(TagEnd::Link | TagEnd::Image) => kept.pop().unwrap_or(false).then_some(e),
        other => Some(other),
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    html
}

/// Plain text as HTML (for CRMs that keep notes as HTML): escaped, line breaks kept, nothing in
/// it read as markup.
pub fn text_html(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 16);
    for para in text.replace("\r\n", "\n").split("\n\n") {
        let lines: Vec<&str> = para
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        html.push_str("<p>");
        let escaped: Vec<String> = lines.iter().map(|l| html_escape(l)).collect();
        html.push_str(&escaped.join("<br />\n"));
        html.push_str("</p>\n");
    }
    html
}

pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    pulldown_cmark_escape::escape_html(&mut out, text).expect("writing to a String");
    out
}

/// Templates per trigger and variant (`default`, or a deal type such as `retainer`).
#[derive(Clone, Default)]
pub struct TemplateSet {
    by_trigger: BTreeMap<TriggerKind, BTreeMap<String, Template>>,
}

impl fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.by_trigger
                    .iter()
                    .map(|(k, v)| (k, v.keys().collect::<Vec<_>>())),
            )
            .finish()
    }
}

/// A rendered draft text and what it rests on.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub template: String,
    pub subject: String,
    pub body: String,
    pub missing: Vec<String>,
    pub used: Vec<FactUse>,
}

impl TemplateSet {
    pub fn insert(&mut self, trigger: TriggerKind, variant: &str, template: Template) {
        self.by_trigger
            .entry(trigger)
            .or_default()
            .insert(variant.to_string(), template);
    }

    pub fn has(&self, trigger: TriggerKind) -> bool {
        self.by_trigger
            .get(&trigger)
            .is_some_and(|m| m.contains_key("default"))
    }

    /// The template for a trigger, preferring the deal type's variant.
    pub fn pick(&self, trigger: TriggerKind, deal_type: Option<&str>) -> Option<&Template> {
        let variants = self.by_trigger.get(&trigger)?;
        deal_type
            .and_then(|t| variants.get(t))
            .or_else(|| variants.get("default"))
    }

    pub fn all(&self) -> impl Iterator<Item = (TriggerKind, &str, &Template)> {
        self.by_trigger
            .iter()
            .flat_map(|(t, m)| m.iter().map(move |(v, tmpl)| (*t, v.as_str(), tmpl)))
    }

    /// Render with `facts`; every variable read is reported with its source, or as missing.
    pub fn render(
        &self,
        trigger: TriggerKind,
        deal_type: Option<&str>,
        facts: &BTreeMap<String, Fact>,
    ) -> Option<Rendered> {
        let template = self.pick(trigger, deal_type)?;
        Some(render(template, facts))
    }
}

/// Put `value` at a dotted path (`contact.first_name`) in nested maps.
fn insert_json(map: &mut serde_json::Map<String, serde_json::Value>, dotted: &str, value: String) {
    match dotted.split_once('.') {
        None => {
            map.entry(dotted.to_string())
                .or_insert(serde_json::Value::String(value));
        }
        Some((head, rest)) => {
            let entry = map
                .entry(head.to_string())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let serde_json::Value::Object(obj) = entry {
                insert_json(obj, rest, value);
            }
        }
    }
}

/// Render a plain-text template (a follow-up's subject and body) with `facts`. A fact is one
/// line of data (a name, an amount, a date) except a brief's lists; a line break in a CRM
/// field never starts a line of its own.
pub fn render(template: &Template, facts: &BTreeMap<String, Fact>) -> Rendered {
    render_with(template, facts, |variable, value| {
        if variable.starts_with("brief.") {
            value.to_string()
        } else {
            crate::domain::headers::one_line(value)
        }
    })
}

/// Render a Markdown template (a proposal): the template's own Markdown is kept, and every fact
/// is written as text (see [`markdown_text`]), so a CRM field never adds a link, an image, a
/// heading or a table row to a document.
pub fn render_markdown(template: &Template, facts: &BTreeMap<String, Fact>) -> Rendered {
    // The subject is a header, not Markdown: plain text on one line.
    let subject = render(template, facts).subject;
    Rendered {
        subject,
        ..render_with(template, facts, |_, value| markdown_text(value))
    }
}

fn render_with(
    template: &Template,
    facts: &BTreeMap<String, Fact>,
    as_text: fn(&str, &str) -> String,
) -> Rendered {
    let mut ctx = serde_json::Map::new();
    let mut missing = Vec::new();
    let mut used = Vec::new();
    for var in &template.variables {
        match facts.get(var) {
            Some(fact) => {
                used.push(FactUse {
                    variable: var.clone(),
                    value: fact.value.clone(),
                    source: fact.source.clone(),
                });
                insert_json(&mut ctx, var, as_text(var, &fact.value));
            }
            None if OPTIONAL_VARIABLES.contains(&var.as_str()) => {
                insert_json(&mut ctx, var, String::new());
            }
            None => {
                missing.push(var.clone());
                insert_json(&mut ctx, var, missing_marker(var));
            }
        }
    }
    let ctx = Value::from(minijinja::value::Serde(serde_json::Value::Object(ctx)));
    let env = environment();
    let mut out = [String::new(), String::new()];
    for (i, src) in [&template.subject, &template.body].into_iter().enumerate() {
        out[i] = env.render_str(src, ctx.clone()).unwrap_or_else(|e| {
            let what = format!("render error: {e}");
            missing.push(what.clone());
            missing_marker(&what)
        });
    }
    let [subject, body] = out;
    // A marker a filter wrote (`deal.amount as a number`) is missing like a variable.
    for text in [&subject, &body] {
        for (at, open) in text.match_indices("[[missing: ") {
            let rest = &text[at + open.len()..];
            if let Some((name, _)) = rest.split_once("]]") {
                if !missing.iter().any(|m| m == name) {
                    missing.push(name.to_string());
                }
            }
        }
    }
    Rendered {
        template: template.name.clone(),
        // A subject is a header: CRM text in it stays on one line.
        subject: crate::domain::headers::subject(&subject),
        body,
        missing,
        used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(pairs: &[(&str, &str)]) -> BTreeMap<String, Fact> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Fact::new(*v, format!("test {k}"))))
            .collect()
    }

    const SRC: &str =
        "Subject: Re: {{ deal.name }}\n\nHi {{ contact.first_name }},\n\n{{ founder.name }}\n";

    #[test]
    fn a_template_fills_every_variable_from_its_sourced_fact() {
        let t = Template::parse("t.txt", SRC).unwrap();
        let r = render(
            &t,
            &facts(&[
                ("deal.name", "Acme Q4"),
                ("contact.first_name", "Jane"),
                ("founder.name", "Alex"),
            ]),
        );
        assert_eq!(r.subject, "Re: Acme Q4");
        assert_eq!(r.body, "Hi Jane,\n\nAlex\n");
        assert!(r.missing.is_empty());
        let sources: Vec<_> = r
            .used
            .iter()
            .map(|u| (u.variable.as_str(), u.source.as_str()))
            .collect();
        assert!(sources.contains(&("contact.first_name", "test contact.first_name")));
    }

    #[test]
    fn a_missing_crm_field_marks_the_draft_incomplete_instead_of_rendering_blank() {
        let t = Template::parse("t.txt", SRC).unwrap();
        let r = render(
            &t,
            &facts(&[("deal.name", "Acme Q4"), ("founder.name", "Alex")]),
        );
        assert_eq!(r.missing, vec!["contact.first_name".to_string()]);
        assert!(
            r.body.contains("[[missing: contact.first_name]]"),
            "{}",
            r.body
        );
        assert!(!r.body.contains("Hi ,"));
    }

    #[test]
    fn a_template_without_a_subject_line_is_rejected_with_its_line() {
        let e = Template::parse("t.txt", "Hello {{ x }}\n\nbody").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn a_template_syntax_error_names_the_line_in_the_file() {
        let e = Template::parse("t.txt", "Subject: x\n\nline one\n{{ broken\n").unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
    }

    const PROPOSAL: &str = "Subject: Proposal: {{ deal.name }}\n\nHi {{ contact.first_name }},\n\nOur proposal for {{ deal.name }} at {{ contact.company }}.\n\n## Pricing\n\n| Option | Price |\n| --- | --- |\n| Audit | {{ deal.amount }} |\n\nSee [our terms](https://northwind.example/terms) or [write](mailto:alex@northwind.example).\n";

    #[test]
    fn crm_fields_in_a_proposal_are_text_never_links_images_headings_or_rows() {
        let t = Template::parse("proposals/audit.md", PROPOSAL).unwrap();
        let r = render_markdown(
            &t,
            &facts(&[
                (
                    "deal.name",
                    "[click me](javascript:alert(1)) ![t](https://evil.example/t.png)",
                ),
                ("contact.first_name", "<script>alert(1)</script>"),
                (
                    "contact.company",
                    "Zenith\n## Pricing\n| Free | $0 |\n\n1. one",
                ),
                ("deal.amount", "12000 | Free"),
            ]),
        );
        let html = markdown_html(&r.body);
        assert!(!html.contains("<a href=\"javascript"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert_eq!(html.matches("<h2>").count(), 1, "{html}");
        assert_eq!(html.matches("<tr>").count(), 2, "{html}");
        assert!(!html.contains("<ol>"), "{html}");
        // The founder's own links stay; the fields read as written.
        assert!(
            html.contains("<a href=\"https://northwind.example/terms\">"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"mailto:alex@northwind.example\">"),
            "{html}"
        );
        assert!(html.contains("[click me](javascript:alert(1))"), "{html}");
        assert!(
            html.contains("Zenith ## Pricing | Free | $0 | 1. one"),
            "{html}"
        );
        // The subject is plain text: a header, not Markdown.
        assert_eq!(
            r.subject,
            "Proposal: [click me](javascript:alert(1)) ![t](https://evil.example/t.png)"
        );
    }

    #[test]
    fn a_missing_fact_in_a_proposal_is_still_a_marker() {
        let t = Template::parse("proposals/audit.md", PROPOSAL).unwrap();
        let r = render_markdown(&t, &facts(&[("deal.name", "Acme")]));
        assert!(
            r.body.contains("[[missing: contact.first_name]]"),
            "{}",
            r.body
        );
        assert!(r.missing.contains(&"contact.first_name".to_string()));
    }

    #[test]
    fn links_in_a_document_are_https_or_mailto_only() {
        for (md, kept) in [
            ("[a](javascript:alert(1))", false),
            ("[a](JAVASCRIPT:alert(1))", false),
            ("[a](data:text/html,x)", false),
            ("[a](http://plain.example)", false),
            ("[a](/relative)", false),
            ("<javascript:alert(1)>", false),
            ("[a](https://ok.example)", true),
            ("[a](mailto:a@b.example)", true),
        ] {
            let html = markdown_html(md);
            assert_eq!(html.contains("<a "), kept, "{md}: {html}");
            assert!(html.contains('a'), "{md}: {html}");
        }
        assert!(!markdown_html("![x](http://t.example/p.png)").contains("<img"));
        assert!(markdown_html("![logo](https://t.example/p.png)").contains("<img"));
        assert!(!markdown_html("<img src=x onerror=alert(1)>").contains("<img"));
    }

    #[test]
    fn a_value_keeps_its_words_and_loses_its_markup() {
        for plain in [
            "Acme, Inc.",
            "O'Brien & Sons (EU)",
            "R&D #1: 50% scope_v2",
            "x # y",
        ] {
            assert_eq!(markdown_text(plain), plain);
        }
        assert_eq!(markdown_text("1. first"), "1\\. first");
        assert_eq!(markdown_text("2026) x"), "2026\\) x");
        assert_eq!(markdown_text("- item"), "\\- item");
        assert_eq!(markdown_text("## Pricing"), "\\## Pricing");
        assert_eq!(markdown_text("x\r\n# y"), "x # y");
        // A field alone on its line never becomes a rule or a code fence.
        for line in ["___", "_ _ _", "***", "```", "~~~", "---", "==="] {
            let html = markdown_html(&format!("Best,\n\n{}\n", markdown_text(line)));
            assert!(
                !html.contains("<hr") && !html.contains("<pre") && !html.contains("<h"),
                "{line}: {html}"
            );
        }
        assert_eq!(
            markdown_text("[a](b) <c> d|e \\"),
            "\\[a\\](b) \\<c\\> d\\|e \\\\"
        );
        // Rendered, the value reads as written.
        for value in [
            "[a](javascript:b) <i>x</i> | \\[",
            "1. one",
            "## two",
            "R&D (EU)",
        ] {
            let html = markdown_html(&format!("Dear {}", markdown_text(value)));
            assert_eq!(
                html,
                format!("<p>Dear {}</p>\n", html_escape(value)),
                "{value}"
            );
        }
    }

    #[test]
    fn a_proposal_reads_as_plain_text_in_its_message() {
        let t = Template::parse("proposals/audit.md", PROPOSAL).unwrap();
        let r = render_markdown(
            &t,
            &facts(&[
                ("deal.name", "R&D (EU) [2027]"),
                ("contact.first_name", "Ola"),
                ("contact.company", "O'Brien & Sons"),
                ("deal.amount", "9000 EUR"),
            ]),
        );
        assert_eq!(r.subject, "Proposal: R&D (EU) [2027]");
        let text = markdown_plain(&r.body);
        assert_eq!(
            text,
            "Hi Ola,\n\nOur proposal for R&D (EU) [2027] at O'Brien & Sons.\n\nPricing\n\n\
             Option | Price\nAudit | 9000 EUR\n\nSee our terms (https://northwind.example/terms) \
             or write (alex@northwind.example).\n"
        );
        assert_eq!(
            markdown_plain("- one\n- two\n\n1. a\n2. b\n\nAlex\nNorthwind\n"),
            "- one\n- two\n\n- a\n- b\n\nAlex\nNorthwind\n"
        );
    }

    #[test]
    fn plain_text_notes_are_escaped_html_with_their_line_breaks() {
        assert_eq!(
            text_html("Hi <b>Jane</b>,\n[x](javascript:y)\n\n**Bye**"),
            "<p>Hi &lt;b&gt;Jane&lt;/b&gt;,<br />\n[x](javascript:y)</p>\n<p>**Bye**</p>\n"
        );
    }

    #[test]
    fn tier_prices_are_computed_from_the_amount_or_left_for_the_founder() {
        let t = Template::parse(
            "p.md",
            "Subject: x\n\n| Light | {{ deal.amount | times(0.3333) }} |\n| Plus | {{ deal.amount | times(1.8) }} |\n",
        )
        .unwrap();
        let r = render_markdown(&t, &facts(&[("deal.amount", "4500 EUR")]));
        assert!(r.body.contains("| Light | 1500 EUR |"), "{}", r.body);
        assert!(r.body.contains("| Plus | 8100 EUR |"), "{}", r.body);
        let r = render_markdown(&t, &facts(&[]));
        assert_eq!(
            r.body.matches("[[missing: deal.amount]]").count(),
            2,
            "{}",
            r.body
        );
        let r = render_markdown(&t, &facts(&[("deal.amount", "lots")]));
        assert!(
            r.body.contains("[[missing: deal.amount as a number]]"),
            "{}",
            r.body
        );
        assert!(
            r.missing.contains(&"deal.amount as a number".to_string()),
            "the draft is incomplete"
        );
        let r = render_markdown(&t, &facts(&[("deal.amount", "2999.99 EUR")]));
        assert!(r.body.contains("| Light | 1000 EUR |"), "{}", r.body);
        assert!(r.body.contains("| Plus | 5400 EUR |"), "{}", r.body);
        assert!(r.missing.is_empty());
        assert_eq!(markdown_text("2999.99 EUR"), "2999.99 EUR");
    }
}
