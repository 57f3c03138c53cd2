//! The review pages: server-rendered HTML (auto-escaped), phone first, no scripts and no
//! external assets; every control is a labelled form field, so they work without JavaScript
//! and with a keyboard or screen reader.

use minijinja::{context, AutoEscape, Environment};
use serde_json::Value;

const LAYOUT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><meta name="robots" content="noindex">
<title>{{ title }} · draftgate</title>
<style>
*{box-sizing:border-box}
body{font:17px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:40rem;margin:0 auto;padding:1rem;color:#1a1a1a;background:#fff;overflow-wrap:anywhere}
h1{font-size:1.35rem;margin:.2rem 0 .6rem} h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
a{color:#0a58a8} .muted{color:#555} .small{font-size:.9rem}
.card{display:block;border:1px solid #d0d0d0;border-radius:12px;padding:.8rem 1rem;margin:.8rem 0;color:inherit;text-decoration:none;background:#fff}
a.card:hover,a.card:focus-visible{border-color:#0a58a8}
.card .top{display:flex;justify-content:space-between;gap:.5rem;align-items:baseline}
.card .deal{font-weight:600} .tag{display:inline-block;font-size:.8rem;padding:.05rem .5rem;border-radius:99px;background:#eef3fa;color:#0a3d75;white-space:nowrap}
.warn{background:#fff4e5;border:1px solid #c77700;padding:.6rem .8rem;border-radius:8px}
.ok{background:#eaf7ee;border:1px solid #2e7d32;padding:.6rem .8rem;border-radius:8px}
dl{margin:0} dt{font-weight:600;margin-top:.5rem} dd{margin:0}
.fact{border-bottom:1px solid #eee;padding:.4rem 0} .fact .src{font-size:.85rem;color:#555}
label{display:block;font-weight:600;margin:.7rem 0 .2rem}
input[type=text],input[type=number],textarea,select{width:100%;font:inherit;padding:.55rem;border:1px solid #767676;border-radius:8px;background:#fff;color:inherit}
textarea{min-height:16rem} pre{white-space:pre-wrap;font:inherit;margin:0}
fieldset{border:1px solid #d0d0d0;border-radius:12px;margin:1rem 0;padding:.4rem 1rem 1rem} legend{font-weight:600;padding:0 .3rem}
button{font:inherit;min-height:44px;width:100%;margin-top:.8rem;padding:.5rem 1rem;border-radius:8px;border:1px solid #0a58a8;background:#fff;color:#0a58a8;cursor:pointer}
button.primary{background:#0a58a8;color:#fff}
:focus-visible{outline:3px solid #0a58a8;outline-offset:2px}
nav{display:flex;gap:1rem;margin-bottom:.5rem}
</style></head><body>{{ content }}</body></html>"#;

const DRAFT: &str = r#"<nav class="small">{% if queue_url %}<a href="{{ queue_url }}">← All drafts</a>{% endif %}{% if crm_url %}<a href="{{ crm_url }}" rel="noreferrer">Open in {{ d.deal.crm }}</a>{% endif %}</nav>
<h1>{{ d.deal_name }}</h1>
<p><span class="tag">{{ d.context.trigger_label }}</span> <span id="why">{{ why }}</span></p>
<p class="muted small">Status <strong id="status">{{ d.status }}</strong> · drafted {{ drafted }}</p>
{% if changed %}<p class="warn" id="changed">The deal changed since this was drafted ({{ changed }}). Check the draft still fits.</p>{% endif %}
{% if d.missing %}<p class="warn" id="missing">Incomplete: the CRM did not provide <strong>{{ d.missing|join(", ") }}</strong>. Fill the marked places in before approving.</p>{% endif %}
{% if d.context.model %}<p id="writer" class="{% if d.context.model.written %}ok{% else %}warn{% endif %} small">{% if d.context.model.note %}{{ d.context.model.note }}{% else %}Written by the model {{ d.context.model.model }} from the facts below and the deal's conversation; its numbers, amounts and their currencies, dates, times, addresses, links, phone numbers and names were checked against them.{% endif %}</p>{% endif %}
{% if d.superseded_reason %}<p class="warn" id="decision">{{ d.superseded_reason }} This draft left the queue; nothing was sent.</p>{% endif %}
{% if decided %}<p class="ok" id="decision">{{ decided }}</p>{% endif %}
{% if unfinished == "wait" %}<p class="warn" id="unfinished">Being sent: not confirmed yet. Reload in a minute.</p>{% elif unfinished == "finish" %}<form method="post" action="/review/{{ d.id }}" id="unfinished"><input type="hidden" name="token" value="{{ token }}"><p class="warn">Not confirmed as sent: the mail service did not answer. Finishing looks for the message first and sends it only if it never left.</p><button class="primary" name="action" value="approve" id="finish">Finish sending</button></form>{% endif %}
{% if d.writeback %}{% if d.writeback.status == "failed" %}<p class="warn" id="writeback">CRM update not written yet: {{ d.writeback.error }} (attempt {{ d.writeback.attempts }}; retried from the write-back queue, then kept in its dead-letter queue, so the decision is not lost).</p>{% elif d.writeback.status == "done" %}<p class="ok" id="writeback">Written to {{ d.deal.crm }}{% if d.writeback.changes %}: {% for c in d.writeback.changes %}{{ c.field|replace("_", " ") }} → {{ c.shown or c.to }}{% if not loop.last %}, {% endif %}{% endfor %}{% endif %}.</p>{% else %}<p class="muted" id="writeback">CRM update queued.</p>{% endif %}{% endif %}
<dl>
<dt>To</dt><dd>{% if crm_only %}{{ d.deal.crm }} only: nothing goes to the prospect{% else %}{{ d.to or "no recipient email on the deal" }}{% endif %}</dd>
<dt>Last interaction</dt><dd>{% if d.context.last_interaction %}{{ d.context.last_interaction.summary }} <span class="muted small">({{ last_when }}, {{ d.context.last_interaction.source }})</span>{% else %}none recorded{% endif %}</dd>
</dl>
{% if open %}
<form method="post" action="/review/{{ d.id }}">
<input type="hidden" name="token" value="{{ token }}">
<h2>{% if crm_only %}Note for {{ d.deal.crm }}{% else %}Message{% endif %}</h2>
<label for="subject">{% if crm_only %}Title{% else %}Subject{% endif %}</label><input type="text" id="subject" name="subject" value="{{ d.subject }}">
<label for="body">{% if crm_only %}Note{% else %}Body{% endif %}</label><textarea id="body" name="body">{{ d.body }}</textarea>
{% if document_url %}<p><a href="{{ document_url }}" id="document">Open the printable proposal</a> <span class="muted small">(the same text as a standalone page, to print or save as PDF)</span></p>{% endif %}
{% if d.crm_update and d.crm_update.changes %}<fieldset id="crm"><legend>Changes to {{ d.deal.crm }}, applied only if you approve</legend>
<input type="hidden" name="crm_form" value="1">
{% for c in d.crm_update.changes %}<div class="fact"><input type="checkbox" id="apply_{{ c.field }}" name="apply_{{ c.field }}" value="1" checked> <label for="apply_{{ c.field }}" style="display:inline">{{ labels[c.field] }}: {% if c.from %}<del>{{ c.from }}</del> → {% endif %}<strong>{{ c.shown or c.to }}</strong></label><div class="src">from {{ c.source }}</div></div>{% endfor %}
<p class="muted small">Untick a change to leave that field as it is.</p></fieldset>{% endif %}
<button class="primary" name="action" value="approve" id="approve">{% if crm_only %}Approve and update {{ d.deal.crm }}{% else %}Approve and send{% endif %}</button>
<fieldset><legend>Not now</legend>
<label for="snooze_hours">Remind me in (hours)</label><input type="number" min="1" max="2160" id="snooze_hours" name="snooze_hours" placeholder="{{ snooze_hours }}">
<button name="action" value="snooze" id="snooze">Snooze this draft</button>
</fieldset>
<fieldset><legend>Reject</legend>
<label for="reason_kind">Why</label><select id="reason_kind" name="reason_kind">{% for k, l in reasons %}<option value="{{ k }}">{{ l }}</option>{% endfor %}</select>
<label for="days">Days (snooze the deal, wrong timing)</label><input type="number" min="1" max="365" id="days" name="days" placeholder="default">
<label for="reason">Note</label><input type="text" id="reason" name="reason" placeholder="Required for Other and Bad draft">
<button name="action" value="reject" id="reject">Reject</button>
</fieldset>
</form>
{% else %}
<h2>{% if crm_only %}Note for {{ d.deal.crm }}{% else %}Message{% endif %}</h2><p><strong>{{ d.sent.subject if d.sent else d.subject }}</strong></p><pre>{{ d.sent.body if d.sent else d.body }}</pre>
{% if document_url %}<p><a href="{{ document_url }}" id="document">Open the printable proposal</a></p>{% endif %}
{% if d.crm_update and d.crm_update.changes and not d.writeback %}<h2>Proposed changes to {{ d.deal.crm }}</h2><div id="crm">{% for c in d.crm_update.changes %}<div class="fact">{{ labels[c.field] }}: {% if c.from %}{{ c.from }} → {% endif %}{{ c.shown or c.to }}<div class="src">from {{ c.source }}</div></div>{% endfor %}</div>{% endif %}
{% endif %}
<h2>Facts used</h2>
<div id="facts">{% for f in d.context.facts %}<div class="fact"><strong>{{ f.variable }}</strong>: {{ f.value }}<div class="src">from {{ f.source }}</div></div>{% else %}<p class="muted">No CRM facts: the template used none.</p>{% endfor %}</div>"#;

const QUEUE: &str = r#"<nav class="small"><a href="{{ pending_url }}"{% if not history %} aria-current="page"{% endif %}>Waiting ({{ count }})</a><a href="{{ history_url }}"{% if history %} aria-current="page"{% endif %}>Decided</a></nav>
{% if history %}<h1>Decided drafts</h1>
{% for i in items %}<a class="card" href="{{ i.review_url }}"><div class="top"><span class="deal">{{ i.deal }}</span><span class="tag">{{ i.status }}</span></div>
<div>{{ i.decision }}</div><div class="muted small">{{ i.trigger }} · {{ i.subject }}</div></a>
{% else %}<p>Nothing decided yet.</p>{% endfor %}
{% else %}<h1>Drafts waiting for you</h1>
{% for i in items %}<a class="card" href="{{ i.review_url }}"><div class="top"><span class="deal">{{ i.deal }}</span><span class="tag">{{ i.trigger }}</span></div>
<div>{{ i.why }}{% if i.incomplete %} · <em>incomplete</em>{% endif %}{% if i.status == "SNOOZED" %} · <em>snoozed</em>{% endif %}</div>
{% if i.last_interaction %}<div class="muted small">Last: {{ i.last_interaction }}</div>{% endif %}
<div class="muted small">Drafted {{ i.drafted }}{% if i.amount %} · {{ i.amount }}{% endif %}</div></a>
{% else %}<p>Nothing to review. draftgate will tell you when a follow-up is due.</p>{% endfor %}{% endif %}"#;

const SUMMARY: &str = r#"<nav class="small"><a href="{{ queue_url }}">← Drafts waiting</a></nav>
<h1>Your pipeline, week {{ s.week }}</h1>
<p class="muted small">{{ s.from }} to {{ s.to }}</p>
<h2>Open deals by stage</h2>
{% for st in s.stages %}<div class="card"><div class="top"><span class="deal">{{ st.stage }}</span><span class="tag">{{ st.deals }} deal{% if st.deals != 1 %}s{% endif %}</span></div><div>{{ money[loop.index0] or "no value recorded" }}</div></div>{% else %}<p>No open deals.</p>{% endfor %}
<h2>Past their stage's milestone</h2>
{% for d in s.open_deals if d.past_milestone %}<div class="card"><div class="top"><span class="deal">{{ d.name }}</span><span class="tag">{{ d.stage }}</span></div><div>{{ d.days_since_activity }} days since the last activity · {{ d.next_step }}</div></div>{% else %}<p>None: every deal moved within its window.</p>{% endfor %}
<h2>Drafts this week</h2>
<dl id="drafts"><dt>Created</dt><dd>{{ s.drafts.created }}</dd><dt>Approved</dt><dd>{{ s.drafts.approved }} ({{ s.drafts.edited }} edited)</dd>
<dt>Rejected</dt><dd>{{ s.drafts.rejected }}{% for k, n in s.drafts.rejected_by_reason|items %}{% if loop.first %}: {% else %}, {% endif %}{{ k|replace("_", " ") }} {{ n }}{% endfor %}</dd>
<dt>Superseded</dt><dd>{{ s.drafts.superseded }}</dd><dt>Waiting now</dt><dd>{{ s.drafts.waiting_now }}</dd>
<dt>Median time to a decision</dt><dd>{% if median is not none %}{{ median }} hours{% else %}no decisions this week{% endif %}</dd></dl>
{% set m = s.drafts.model %}{% if m.calls or m.capped %}<h2>Your model this week</h2>
<dl id="model"><dt>Calls</dt><dd>{{ m.calls }} ({{ m.tokens }} tokens)</dd><dt>Drafts it wrote</dt><dd>{{ m.written }} ({{ m.approved_unedited }} approved unedited)</dd>
<dt>Set aside for an unsourced claim</dt><dd>{{ m.refused }}</dd><dt>Fallbacks to the template</dt><dd>{{ m.fallbacks }}</dd><dt>Over the daily cap</dt><dd>{{ m.capped }}</dd></dl>{% endif %}
<h2>Won this week</h2>
{% for d in s.won %}<div class="card"><span class="deal">{{ d.name }}</span> <span class="muted small">{{ d.closed }}</span></div>{% else %}<p>None.</p>{% endfor %}
<h2>Lost this week: post-mortem</h2>
{% for d in s.lost %}<div class="card"><span class="deal">{{ d.name }}</span> <span class="muted small">{{ d.closed }}</span><div>{{ d.reason or "no reason recorded" }}</div></div>{% else %}<p>None.</p>{% endfor %}"#;

const MESSAGE: &str = r#"<h1 id="title">{{ title }}</h1><p id="message">{{ text }}</p>
{% if link %}<p><a id="link" href="{{ link }}">{{ link_text }}</a></p>{% endif %}
{% if action %}<form method="post" action="{{ action }}">{% if token %}<input type="hidden" name="token" value="{{ token }}">{% endif %}<button class="primary" id="relink">{{ button }}</button></form>{% endif %}"#;

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("layout", LAYOUT).expect("valid template");
    env.add_template("draft", DRAFT).expect("valid template");
    env.add_template("queue", QUEUE).expect("valid template");
    env.add_template("summary", SUMMARY)
        .expect("valid template");
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

/// The draft page; `view` carries the draft (`d`) and what the page says about it.
pub fn draft(title: &str, view: &Value) -> String {
    page(
        title,
        "draft",
        minijinja::Value::from(minijinja::value::Serde(view)),
    )
}

pub fn queue(view: &Value) -> String {
    page(
        "Review queue",
        "queue",
        minijinja::Value::from(minijinja::value::Serde(view)),
    )
}

pub fn summary(view: &Value) -> String {
    page(
        "Weekly pipeline summary",
        "summary",
        minijinja::Value::from(minijinja::value::Serde(view)),
    )
}

pub fn message(title: &str, text: &str) -> String {
    page(title, "message", context! { title, text })
}

/// A message with a link onward (the deal in its CRM, or the draft's page).
pub fn message_with_link(title: &str, text: &str, link: &str, link_text: &str) -> String {
    page(title, "message", context! { title, text, link, link_text })
}

/// A message with one button: a form posting `token` (if any) to `action`.
pub fn message_with_action(
    title: &str,
    text: &str,
    action: &str,
    token: Option<&str>,
    button: &str,
) -> String {
    page(
        title,
        "message",
        context! { title, text, action, token, button },
    )
}
