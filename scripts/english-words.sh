#!/usr/bin/env bash
# Regenerates shared/data/english-words.txt, the common English words the grounding check reads
# to tell a sentence's first word from a name (shared/src/domain/grounding.rs). The words come
# from SCOWL, as Debian packages it (wamerican, wamerican-small); its licence is in
# shared/data/english-words.LICENSE. Kept: every lower-case word of the small list, the
# lower-case words of the larger list that are not also a proper noun there ("john" goes,
# "mark" stays as the small list has it), contractions, and a few words of sales mail the lists
# lack. Needs apt-get (Debian's package archive); run it from the repository's root.
set -euo pipefail
export LC_ALL=C
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download wamerican=2020.12.07-2 wamerican-small=2020.12.07-2 >/dev/null)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
dict="$work/x/usr/share/dict"
grep -x '[a-z]*' "$dict/american-english-small" > "$work/small"
grep -x '[a-z]*' "$dict/american-english" > "$work/large"
grep -x '[A-Z][a-z]*' "$dict/american-english" | tr 'A-Z' 'a-z' | sort -u > "$work/proper"
sort -u "$work/large" | comm -23 - "$work/proper" > "$work/large-common"
grep -x "[a-z]*'[a-z]*" "$dict/american-english" | grep -v "'s\$" > "$work/contractions"
tr ' ' '\n' > "$work/sales" <<'WORDS'
onboarding onboard onboarded signup signups integrations rollout rollouts walkthrough
walkthroughs roadmap roadmaps stakeholder stakeholders congrats ok fyi ps btw asap kickoff
kickoffs followup followups timeline timelines webinar webinars demo demos online email emails
emailed emailing inbox inboxes login logins workflow workflows teammate teammates async upsell
reschedule rescheduling recap recaps dashboards analytics offboarding checklist checklists
deliverable deliverables hmm e-mail e-mails relaunch relaunched relaunching mockup mockups
sitemap sitemaps wireframe wireframes cms seo ux ui pdf pdfs kpi kpis dev devs qa saas api apis
crm roi faq faqs nda sow msa eod eta
WORDS
sort -u "$work/small" "$work/large-common" "$work/contractions" "$work/sales" | grep -v '^$' \
  > shared/data/english-words.txt
wc -l shared/data/english-words.txt
