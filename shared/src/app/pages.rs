//! The review pages: server-rendered HTML (auto-escaped), no scripts.

use minijinja::{context, AutoEscape, Environment};
use serde_json::Value;

use crate::domain::Draft;

const LAYOUT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · draftgate</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.4rem} .muted{color:#666} .warn{background:#fff4e5;border:1px solid #f0b35b;padding:.6rem;border-radius:6px}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #eee;padding:.3rem;text-align:left;vertical-align:top}
textarea,input[type=text]{width:100%;font:inherit;box-sizing:border-box} textarea{min-height:14rem}
.actions{display:flex;gap:1rem;flex-wrap:wrap;margin-top:1rem} fieldset{border:1px solid #ddd;border-radius:6px;flex:1;min-width:14rem}
button{font:inherit;padding:.4rem 1rem;cursor:pointer} .primary{background:#0b6bcb;color:#fff;border:0;border-radius:4px}
</style></head><body>{{ content }}</body></html>"#;

const DRAFT: &str = r#"<h1>{{ d.context.trigger_label }}: {{ d.deal_name }}</h1>
<p class="muted">Status <strong id="status">{{ d.status }}</strong> · drafted {{ d.created_at }} · trigger due {{ d.context.due_at }}</p>
<table>
<tr><th>To</th><td>{{ d.to or "no recipient email on the deal" }}</td></tr>
<tr><th>Days since last contact</th><td>{{ d.context.days_since_last_contact if d.context.days_since_last_contact is not none else "unknown" }}</td></tr>
<tr><th>Last interaction</th><td>{% if d.context.last_interaction %}{{ d.context.last_interaction.summary }} <span class="muted">({{ d.context.last_interaction.at }}, {{ d.context.last_interaction.source }})</span>{% else %}none recorded{% endif %}</td></tr>
<tr><th>Stage</th><td>{{ d.context.stage or "unmapped" }}</td></tr>
<tr><th>Template</th><td>{{ d.context.template }}</td></tr>
</table>
{% if d.missing %}<p class="warn" id="missing">Incomplete: the CRM did not provide <strong>{{ d.missing|join(", ") }}</strong>. Fill the marked places in before approving.</p>{% endif %}
<h2>Facts used</h2>
<table id="facts"><tr><th>Variable</th><th>Value</th><th>Source</th></tr>
{% for f in d.context.facts %}<tr><td>{{ f.variable }}</td><td>{{ f.value }}</td><td class="muted">{{ f.source }}</td></tr>{% endfor %}
</table>
{% if open %}
<form method="post" action="/review/{{ d.id }}">
<input type="hidden" name="token" value="{{ token }}">
<h2>Message</h2>
<label>Subject <input type="text" name="subject" value="{{ d.subject }}"></label>
<label>Body <textarea name="body">{{ d.body }}</textarea></label>
<div class="actions">
<fieldset><legend>Send</legend><button class="primary" name="action" value="approve" id="approve">Approve and send</button></fieldset>
<fieldset><legend>Reject</legend><input type="text" name="reason" placeholder="Reason (required to reject)"><button name="action" value="reject" id="reject">Reject</button></fieldset>
<fieldset><legend>Later</legend><input type="text" name="snooze_hours" placeholder="Hours (default {{ snooze_hours }})"><button name="action" value="snooze" id="snooze">Snooze</button></fieldset>
</div>
</form>
{% else %}
<h2>Message</h2><p><strong>{{ d.subject }}</strong></p><pre>{{ d.body }}</pre>
{% if d.decision %}<p id="decision">{{ d.decision.action }} by {{ d.decision.by }} at {{ d.decision.at }}{% if d.decision.reason %}: {{ d.decision.reason }}{% endif %}</p>{% endif %}
{% if d.superseded_reason %}<p id="decision">Superseded: {{ d.superseded_reason }}</p>{% endif %}
{% endif %}"#;

const QUEUE: &str = r#"<h1>Drafts waiting for you</h1>
{% if items %}<table id="queue"><tr><th>Deal</th><th>Trigger</th><th>Subject</th><th>Status</th></tr>
{% for i in items %}<tr><td><a href="{{ i.review_url }}">{{ i.deal }}</a></td><td>{{ i.trigger }}</td><td>{{ i.subject }}{% if i.incomplete %} <em>(incomplete)</em>{% endif %}</td><td>{{ i.status }}</td></tr>{% endfor %}
</table>{% else %}<p>Nothing to review. draftgate will tell you when a follow-up is due.</p>{% endif %}"#;

const MESSAGE: &str = r#"<h1 id="title">{{ title }}</h1><p id="message">{{ text }}</p>"#;

fn ser<T: serde::Serialize + ?Sized>(v: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(v))
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("layout", LAYOUT).expect("valid template");
    env.add_template("draft", DRAFT).expect("valid template");
    env.add_template("queue", QUEUE).expect("valid template");
    env.add_template("message", MESSAGE)
        .expect("valid template");
    env
}

fn page(title: &str, name: &str, ctx: minijinja::Value) -> String {
    let env = env();
    let content = env
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "page render failed");
            "<p>This page could not be rendered.</p>".into()
        });
    env.get_template("layout")
        .and_then(|t| {
            t.render(context! { title, content => minijinja::Value::from_safe_string(content) })
        })
        .unwrap_or_default()
}

pub fn draft(d: &Draft, token: &str, snooze_hours: u32) -> String {
    page(
        &d.deal_name,
        "draft",
        context! { d => ser(d), token, open => d.status.is_open(), snooze_hours },
    )
}

pub fn queue(items: &[Value]) -> String {
    page("Review queue", "queue", context! { items => ser(items) })
}

pub fn message(title: &str, text: &str) -> String {
    page(title, "message", context! { title, text })
}
