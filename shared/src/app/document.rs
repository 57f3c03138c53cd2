//! The printable proposal: a proposal's Markdown as a standalone HTML document, the one
//! document draftgate makes for a prospect.

use minijinja::{context, AutoEscape, Environment};

const PROPOSAL_CSS: &str = "body{font:11pt/1.55 Georgia,'Times New Roman',serif;max-width:44rem;margin:2rem auto;padding:0 1.2rem;color:#111}
header{border-bottom:2px solid #111;margin-bottom:1.5rem;padding-bottom:.6rem}
header .from{font:600 10pt system-ui,sans-serif;letter-spacing:.04em;text-transform:uppercase;color:#444}
h1{font-size:20pt;margin:.3rem 0} h2{font-size:13pt;margin:1.6rem 0 .4rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0} th,td{border:1px solid #bbb;padding:.35rem .5rem;text-align:left;vertical-align:top}
footer{margin-top:2.5rem;font-size:9pt;color:#555;border-top:1px solid #ccc;padding-top:.5rem}
@media print{body{margin:0;max-width:none} a{color:inherit;text-decoration:none} h2{break-after:avoid} table,tr{break-inside:avoid}}
@page{size:A4;margin:18mm}";

/// A proposal as a standalone printable HTML document: its Markdown text rendered (any HTML in
/// it, from a template or a CRM field, is shown as text, never run), with its title, the
/// founder's company and the date, styled for paper.
pub fn proposal_document(
    title: &str,
    markdown: &str,
    deal_name: &str,
    config: &crate::config::Config,
    now: jiff::Timestamp,
) -> String {
    let body = crate::drafting::markdown_html(markdown);
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    let from = config
        .founder
        .company
        .clone()
        .unwrap_or_else(|| config.founder.name.clone());
    let date = now
        .to_zoned(config.timezone())
        .strftime("%-d %B %Y")
        .to_string();
    env.render_str(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{ title }}</title><style>{{ css }}</style></head>
<body><header><div class="from">{{ from }}</div><h1>{{ title }}</h1><div>Prepared for {{ deal }} · {{ date }}</div></header>
<main>{{ body }}</main>
<footer>{{ from }} · {{ email }}</footer></body></html>"#,
        context! {
            title, deal => deal_name, date, from, email => config.founder.email.clone(),
            css => minijinja::Value::from_safe_string(PROPOSAL_CSS.to_string()),
            body => minijinja::Value::from_safe_string(body),
        },
    )
    .unwrap_or_default()
}
