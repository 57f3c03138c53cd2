"""Generates b2b-services-90-days.json: 30 hand-authored HubSpot deals over one quarter (no randomness).
Running `python3 generate_b2b_services.py` rewrites the JSON next to it byte for byte; `--check` only compares."""

import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

OUT = Path(__file__).with_name("b2b-services-90-days.json")

START = datetime(2026, 1, 5, 7, 0, tzinfo=timezone.utc)  # Monday, 08:00 in Berlin
DAYS = 90
END = START + timedelta(days=DAYS)  # 2026-04-05T07:00:00Z

STAGES = {
    "appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
    "decisionmakerboughtin", "contractsent", "closedwon", "closedlost",
}
PARKED = {"parked", "on_hold", "deprioritized", ""}


def at(when: str) -> str:
    """'MM-DD HH:MM' in UTC (2026) -> RFC 3339. Berlin is UTC+1 until 2026-03-29, UTC+2 after."""
    return datetime.strptime("2026-" + when, "%Y-%m-%d %H:%M").strftime("%Y-%m-%dT%H:%M:00Z")


# Event constructors; the key order here is the key order in the JSON.
def created(when, stage):
    return {"at": at(when), "type": "deal_created", "stage": stage}


def stage(when, stage_id):
    return {"at": at(when), "type": "stage_changed", "stage": stage_id}


def inquiry(when, summary):
    return {"at": at(when), "type": "lead_inquiry", "summary": summary}


def outbound(when, summary):
    return {"at": at(when), "type": "outbound", "summary": summary}


def call(when, summary):
    return {"at": at(when), "type": "call_logged", "summary": summary}


def meeting(when, summary, starts, meeting_id):
    return {"at": at(when), "type": "meeting_booked", "summary": summary,
            "starts_at": at(starts), "meeting_id": meeting_id}


def cancelled(when, meeting_id, summary):
    return {"at": at(when), "type": "meeting_cancelled", "meeting_id": meeting_id, "summary": summary}


def proposal(when, document):
    return {"at": at(when), "type": "proposal_sent", "document": document}


def quote(when, quote_id, expires_on):
    return {"at": at(when), "type": "quote_sent", "quote_id": quote_id, "expires_on": expires_on}


def replied(when, summary):
    return {"at": at(when), "type": "prospect_replied", "summary": summary}


def auto_reply(when, summary):
    return {"at": at(when), "type": "auto_reply", "summary": summary}


def declined(when, summary):
    return {"at": at(when), "type": "prospect_declined", "summary": summary}


def status(when, value):
    return {"at": at(when), "type": "status_changed", "status": value}


def deleted(when):
    return {"at": at(when), "type": "deal_deleted"}


def contact(email, first, last, company):
    c = {"email": email}
    if first is not None:
        c["first_name"] = first
    c["last_name"] = last
    c["company"] = company
    return c


def deal(id_, name, amount, deal_type, contact_, events):
    d = {"id": id_, "name": name, "amount": amount, "currency": "EUR"}
    if deal_type:
        d["deal_type"] = deal_type
    d["contact"] = contact_
    d["events"] = events
    return d


# Times below are UTC. Working hours in Berlin are 07:00-17:00 UTC in winter, 06:00-16:00 UTC
# from 2026-03-29. Expected draftgate behaviour per deal is noted in the comments (windows from
# config/draftgate.toml: proposal 72 h / newbusiness 96 h; call 24 h; stage 7 d, negotiating 5 d,
# existingbusiness 10 d; quote 09:00 Berlin on the expiry day; lead 48 h, at most 3; brief 24 h before).
DEALS = [
    # --- Proposals -------------------------------------------------------------------------------
    # Won. Reply 51 h after the proposal (newbusiness waits 96 h): no proposal follow-up.
    # Negotiating 5 days -> stage_unchanged Sat 01-31. Brief 01-13 14:00.
    deal("D01", "Acme Corp - Website relaunch", 24000, "newbusiness",
         contact("jane.doe@acme.example", "Jane", "Doe", "Acme Corp"), [
             created("01-05 09:30", "appointmentscheduled"),
             call("01-07 10:00", "Intro call: relaunch needed before the spring trade fair"),
             meeting("01-07 10:20", "Scoping workshop booked", "01-14 14:00", "m-D01-1"),
             stage("01-08 11:00", "qualifiedtobuy"),
             stage("01-14 16:00", "presentationscheduled"),
             stage("01-19 10:00", "contractsent"),
             proposal("01-19 10:05", "Acme Corp - Website relaunch proposal"),
             replied("01-21 13:40", "Jane: looks good, we will go through it with our CFO on Monday"),
             stage("01-26 09:00", "decisionmakerboughtin"),
             stage("02-04 10:00", "closedwon"),
         ]),
    # Won. Proposal follow-up fires 01-15 (72 h), reply the day after. Quote expiring 02-20, but
    # Gavin replied after the quote: no expiry follow-up. Negotiating nudge Sat 01-24.
    # Briefs 01-07 15:00 and 01-12 15:00.
    deal("D02", "Hooli - Analytics dashboard", 52000, None,
         contact("gavin.belson@hooli.example", "Gavin", "Belson", "Hooli"), [
             created("01-05 10:15", "qualifiedtobuy"),
             meeting("01-06 14:00", "Requirements call booked", "01-08 15:00", "m-D02-1"),
             call("01-08 16:00", "Requirements call: three data sources, board demo in March"),
             meeting("01-08 16:10", "Proposal walkthrough booked", "01-13 15:00", "m-D02-2"),
             stage("01-12 09:30", "contractsent"),
             proposal("01-12 09:35", "Hooli - Analytics dashboard proposal"),
             replied("01-16 11:20", "Gavin: can we cut phase two and start in March?"),
             stage("01-19 08:30", "decisionmakerboughtin"),
             quote("01-20 10:30", "Q-D02", "2026-02-20"),
             replied("01-28 09:10", "Gavin: the board signs off on 3 March, please hold the price until then"),
             stage("03-03 16:00", "closedwon"),
         ]),
    # Lost after going silent through three stages: proposal follow-up 01-23 (96 h),
    # stage_unchanged in proposal 01-26, negotiating nudge Sat 02-07, closed lost 03-02. Brief 01-11.
    deal("D03", "Initech - Data migration", 38000, "newbusiness",
         contact("bill.lumbergh@initech.example", "Bill", "Lumbergh", "Initech"), [
             created("01-06 08:45", "qualifiedtobuy"),
             meeting("01-08 09:00", "Discovery meeting booked", "01-12 13:00", "m-D03-1"),
             stage("01-12 14:30", "presentationscheduled"),
             stage("01-19 11:00", "contractsent"),
             proposal("01-19 11:05", "Initech - Data migration proposal"),
             stage("02-02 09:30", "decisionmakerboughtin"),
             stage("03-02 10:00", "closedlost"),
         ]),
    # Existing client, still open. Reply 43 h after the proposal: no proposal follow-up.
    # existingbusiness waits 10 days in a stage: stage_unchanged 01-30 14:00, then 02-12 09:00.
    deal("D04", "Globex - Brand retainer renewal", 4500, "existingbusiness",
         contact("hank.scorpio@globex.example", "Hank", "Scorpio", "Globex"), [
             created("01-12 10:00", "presentationscheduled"),
             stage("01-20 14:00", "contractsent"),
             proposal("01-20 14:05", "Globex - Brand retainer renewal 2026"),
             replied("01-22 09:15", "Hank: fine in principle, legal will look at the new rate card"),
             stage("02-02 09:00", "decisionmakerboughtin"),
             replied("02-10 15:30", "Hank: legal is fine, waiting for the new fiscal year budget"),
         ]),
    # A week in qualified -> stage_unchanged 02-04 13:00. Busy-week batch (Tue 02-10): proposal
    # follow-up Fri 02-13 10:05; stage_unchanged 02-17 10:00; declined 02-18, lost. Brief 02-04 10:00.
    deal("D05", "Umbrella - Security audit", 15000, None,
         contact("alice.abernathy@umbrella.example", "Alice", "Abernathy", "Umbrella"), [
             created("01-28 13:00", "qualifiedtobuy"),
             call("01-29 10:00", "Discovery call: ISO 27001 audit due in Q2"),
             meeting("01-29 10:15", "Audit scope review booked", "02-05 10:00", "m-D05-1"),
             stage("02-05 11:30", "presentationscheduled"),
             stage("02-10 10:00", "contractsent"),
             proposal("02-10 10:05", "Umbrella - Security audit proposal"),
             declined("02-18 14:20", "Alice: we are going with our group's in-house security team"),
             stage("02-18 14:30", "closedlost"),
         ]),
    # Parked while the proposal waited: proposal 02-02 09:35 would fire 02-05 09:35, parked 02-04.
    # Produces nothing after 02-04 16:30. Brief 01-28 13:00.
    deal("D06", "Soylent - Packaging microsite", 9000, None,
         contact("helen.roth@soylent.example", "Helen", "Roth", "Soylent"), [
             created("01-20 09:00", "qualifiedtobuy"),
             call("01-22 15:00", "Discovery call: new packaging line launches in May"),
             meeting("01-22 15:10", "Concept presentation booked", "01-29 13:00", "m-D06-1"),
             stage("01-26 10:00", "presentationscheduled"),
             stage("02-02 09:30", "contractsent"),
             proposal("02-02 09:35", "Soylent - Packaging microsite proposal"),
             status("02-04 16:30", "parked"),
         ]),
    # Won, the largest deal. Reply 53 h after the proposal (96 h window): no proposal follow-up.
    # Quote expires 2026-04-30, after the replay ends. Negotiating nudge Sat 02-07.
    # Briefs 01-20 09:00 and 01-26 14:00.
    deal("D07", "Massive Dynamic - Platform UX overhaul", 80000, "newbusiness",
         contact("nina.sharp@massivedynamic.example", "Nina", "Sharp", "Massive Dynamic"), [
             created("01-13 09:00", "appointmentscheduled"),
             meeting("01-14 10:00", "Stakeholder interviews booked", "01-21 09:00", "m-D07-1"),
             stage("01-19 08:30", "qualifiedtobuy"),
             call("01-21 11:00", "Stakeholder interviews: four teams, legacy design system"),
             meeting("01-21 11:30", "Findings presentation booked", "01-27 14:00", "m-D07-2"),
             stage("01-21 12:00", "presentationscheduled"),
             stage("01-28 09:30", "contractsent"),
             proposal("01-28 09:40", "Massive Dynamic - Platform UX overhaul proposal"),
             replied("01-30 15:10", "Nina: strong proposal, procurement needs a formal quote"),
             stage("02-02 10:00", "decisionmakerboughtin"),
             quote("02-02 10:30", "Q-D07", "2026-04-30"),
             replied("02-06 11:00", "Nina: procurement approved, contract is out for signature"),
             stage("02-10 09:00", "closedwon"),
         ]),
    # Busy-week batch (Tue 02-10). Out-of-office right after the proposal does not stop the
    # follow-up on Fri 02-13 11:05; stage_unchanged 02-17 11:00 (after his real reply, which does
    # not stop stage nudges); negotiating nudge Sun 03-01; declined and lost 03-03. Brief 02-03.
    deal("D08", "Wayne Enterprises - Annual report microsite", 18000, None,
         contact("lucius.fox@wayne.example", "Lucius", "Fox", "Wayne Enterprises"), [
             created("01-28 10:00", "qualifiedtobuy"),
             call("01-29 14:00", "Call with Lucius: the annual report goes live on 15 April"),
             meeting("01-29 14:20", "Content workshop booked", "02-04 08:00", "m-D08-1"),
             stage("02-04 09:45", "presentationscheduled"),
             stage("02-10 11:00", "contractsent"),
             proposal("02-10 11:05", "Wayne Enterprises - Annual report microsite proposal"),
             auto_reply("02-10 11:06", "Out of office until 16 February (Lucius Fox)"),
             replied("02-17 09:40", "Lucius: back now; comparing with one other agency, decision next week"),
             stage("02-24 10:00", "decisionmakerboughtin"),
             declined("03-03 13:00", "Lucius: the board chose the other agency on price"),
             stage("03-03 13:10", "closedlost"),
         ]),
    # Busy-week batch (Mon 02-09, newbusiness 96 h): proposal follow-up Fri 02-13 14:05.
    # Won 02-16 before the 7-day stage nudge. Brief 02-04 15:00.
    deal("D09", "Stark Industries - Onboarding workshop series", 8000, "newbusiness",
         contact("pepper.potts@stark.example", "Pepper", "Potts", "Stark Industries"), [
             created("02-03 10:00", "presentationscheduled"),
             meeting("02-03 10:30", "Needs presentation booked", "02-05 15:00", "m-D09-1"),
             stage("02-09 14:00", "contractsent"),
             proposal("02-09 14:05", "Stark Industries - Onboarding workshop proposal"),
             replied("02-16 09:30", "Pepper: approved, the PO follows this week"),
             stage("02-16 12:00", "closedwon"),
         ]),
    # No contact first name (a tender mailbox): its drafts are incomplete. Busy-week batch
    # (Mon 02-09, newbusiness 96 h): proposal follow-up Fri 02-13 10:05, stage_unchanged 02-16 10:00
    # (held if the first draft is still undecided). Brief 02-04 09:00. Open at the end.
    deal("D10", "Cyberdyne - Support portal redesign", 31000, "newbusiness",
         contact("tenders@cyberdyne.example", None, "Dyson", "Cyberdyne Systems"), [
             created("01-27 09:00", "qualifiedtobuy"),
             meeting("02-02 10:50", "Tender presentation booked", "02-05 09:00", "m-D10-1"),
             stage("02-02 11:00", "presentationscheduled"),
             stage("02-09 10:00", "contractsent"),
             proposal("02-09 10:05", "Cyberdyne - Support portal tender response"),
             replied("02-25 10:00", "Procurement: tender evaluation runs until 20 March"),
         ]),
    # Existing client, busy-week batch (Tue 02-10, 72 h): proposal follow-up Fri 02-13 09:05;
    # Rachael replies at 11:30, so at the 15:05 decision it is superseded, not sent.
    # existingbusiness stage nudges: 02-20 09:00 (proposal), 03-12 10:00 (negotiating). Open.
    deal("D11", "Tyrell - Brand guidelines refresh", 12000, "existingbusiness",
         contact("rachael@tyrell.example", "Rachael", "Rosen", "Tyrell Corporation"), [
             created("02-02 11:00", "presentationscheduled"),
             stage("02-10 09:00", "contractsent"),
             proposal("02-10 09:05", "Tyrell - Brand guidelines refresh 2026"),
             replied("02-13 11:30", "Rachael: approved internally, waiting for a PO number"),
             stage("03-02 10:00", "decisionmakerboughtin"),
         ]),
    # --- Quotes (and one more call) ----------------------------------------------------------------
    # Won. Call with no next step -> call_no_next_step 01-22 11:00. Negotiating nudge 01-28 14:00.
    # Quote expires Fri 02-13 -> quote_expired 02-13 08:00 UTC (09:00 CET). Re-quoted 02-17 after
    # his reply; won 02-24 before the new expiry (03-06).
    deal("D12", "Krusty Krab - Digital menu boards", 6000, None,
         contact("eugene.krabs@krustykrab.example", "Eugene", "Krabs", "Krusty Krab"), [
             created("01-19 10:00", "qualifiedtobuy"),
             call("01-21 11:00", "Call with Eugene: 14 restaurants, menu boards by March"),
             replied("01-23 13:30", "Eugene: send me a price for all 14 sites"),
             stage("01-23 14:00", "decisionmakerboughtin"),
             quote("01-23 14:30", "Q-D12", "2026-02-13"),
             replied("02-17 10:30", "Eugene: sorry, I was travelling; can you extend the price into March?"),
             quote("02-17 14:00", "Q-D12-2", "2026-03-06"),
             stage("02-24 09:00", "closedwon"),
         ]),
    # A duplicate created by an import, already in contractsent (would fire 01-15), deleted the
    # same afternoon: produces nothing.
    deal("D13", "Hooli - Analytics dashboard (duplicate)", 52000, None,
         contact("gavin.belson@hooli.example", "Gavin", "Belson", "Hooli"), [
             created("01-12 09:40", "contractsent"),
             deleted("01-12 16:00"),
         ]),
    # Busy-week batch (Tue 02-10 15:05): proposal follow-up due Fri 02-13 15:05 in the same sweep
    # as D21 (45k) and D27 (4k) when the budget is nearly spent -> deferred to Saturday.
    # stage_unchanged 02-17 15:00; quote expiry 03-16 08:00 UTC; negotiating nudge Sat 02-28;
    # declined, lost 03-18. Brief 02-05 10:00.
    deal("D14", "Gekko & Co - Investor relations website", 27000, None,
         contact("bud.fox@gekko.example", "Bud", "Fox", "Gekko & Co"), [
             created("01-29 09:30", "qualifiedtobuy"),
             call("02-03 10:00", "Call with Bud: the IR site must launch with the Q1 results"),
             meeting("02-03 10:10", "Sitemap review booked", "02-06 10:00", "m-D14-1"),
             stage("02-04 16:00", "presentationscheduled"),
             stage("02-10 15:00", "contractsent"),
             proposal("02-10 15:05", "Gekko & Co - Investor relations website proposal"),
             replied("02-19 11:00", "Bud: we like it, but Gordon wants a second quote"),
             stage("02-23 10:00", "decisionmakerboughtin"),
             quote("02-23 10:30", "Q-D14", "2026-03-16"),
             declined("03-18 10:00", "Bud: Gordon signed with a cheaper agency"),
             stage("03-18 10:10", "closedlost"),
         ]),
    # --- Inbound leads -----------------------------------------------------------------------------
    # Never replies: three lead follow-ups (01-09 10:45, then 48 h after each approved one), then
    # draftgate stops; the founder closes it lost on 01-14 before the 7-day stage nudge.
    deal("D15", "Pied Piper - Launch landing page", 6000, "newbusiness",
         contact("richard@piedpiper.example", "Richard", "Hendricks", "Pied Piper"), [
             created("01-07 08:20", "appointmentscheduled"),
             inquiry("01-07 08:20", "Asked whether we build landing pages for an API launch"),
             outbound("01-07 10:45", "Founder answered with two reference projects and asked for the launch date"),
             stage("01-14 07:45", "closedlost"),
         ]),
    # Replies within a day: no lead follow-up. Call with a next meeting booked (no call follow-up),
    # brief 01-26 10:00, stage nudge 02-03 12:00, then deprioritized 02-04: nothing after.
    deal("D16", "Vandelay Industries - Import portal redesign", 12000, None,
         contact("art@vandelay.example", "Art", "Vandelay", "Vandelay Industries"), [
             created("01-14 09:10", "appointmentscheduled"),
             inquiry("01-14 09:10", "Asked for a quote to redesign the importer portal"),
             outbound("01-14 11:30", "Founder answered and proposed a call"),
             replied("01-15 08:50", "Art: Tuesday works, 10:00?"),
             call("01-20 10:00", "Discovery call: two portals, SSO, go-live in June"),
             meeting("01-20 10:30", "Technical deep-dive with their IT booked", "01-27 10:00", "m-D16-1"),
             stage("01-20 16:30", "qualifiedtobuy"),
             stage("01-27 12:00", "presentationscheduled"),
             replied("02-04 09:30", "Art: budget is frozen until April, let's talk then"),
             status("02-04 09:45", "deprioritized"),
         ]),
    # One lead follow-up (01-28 15:40), then Michael replies. Call without a next meeting ->
    # call_no_next_step 02-05 16:00. Once that follow-up is sent the lead trigger counts from it
    # again (the deal is still in a qualified stage): lead follow-up Sat 02-07 ~22:00. Lost 02-09.
    deal("D17", "Dunder Mifflin - Sales training workshop", 3500, None,
         contact("michael.scott@dundermifflin.example", "Michael", "Scott", "Dunder Mifflin"), [
             created("01-26 13:15", "appointmentscheduled"),
             inquiry("01-26 13:15", "Asked about a half-day sales workshop for the Scranton branch"),
             outbound("01-26 15:40", "Founder answered with the workshop outline and a price range"),
             replied("01-29 10:05", "Michael: sounds great, call on Wednesday?"),
             stage("01-29 10:30", "qualifiedtobuy"),
             call("02-04 16:00", "Call with Michael: wants it before the March sales kick-off"),
             stage("02-04 16:05", "presentationscheduled"),
             declined("02-09 09:20", "Michael: corporate cancelled all training budgets this year"),
             stage("02-09 09:30", "closedlost"),
         ]),
    # No first name (web form): lead follow-up due Fri 02-13 12:00 (busy day) is incomplete.
    # Never replies; closed lost 02-23.
    deal("D18", "Bluth Company - Model home website", 5000, "newbusiness",
         contact("office@bluth.example", None, "Bluth", "Bluth Company"), [
             created("02-10 16:20", "appointmentscheduled"),
             inquiry("02-10 16:20", "Web form: a website for a model home development, no name given"),
             outbound("02-11 12:00", "Founder answered the web form and asked who to address"),
             stage("02-23 10:00", "closedlost"),
         ]),
    # Out-of-office right after the founder's answer does not stop the lead follow-ups: two go out
    # (03-04 10:15, 03-06 16:15), then the real reply on Sunday evening stops the chain. Won 03-12.
    deal("D19", "Prestige Worldwide - Charity gala microsite", 2000, None,
         contact("brennan@prestigeworldwide.example", "Brennan", "Huff", "Prestige Worldwide"), [
             created("03-02 08:40", "appointmentscheduled"),
             inquiry("03-02 08:40", "Asked for a one-page site for a charity gala on 28 March"),
             outbound("03-02 10:15", "Founder answered with a fixed-price offer"),
             auto_reply("03-02 10:16", "Out of office until 9 March"),
             replied("03-08 19:30", "Brennan: just back from holiday, yes please, can we start on Monday?"),
             stage("03-09 08:00", "qualifiedtobuy"),
             stage("03-12 14:00", "closedwon"),
         ]),
    # Replies the next morning: no lead follow-up. Call + workshop booked (brief 03-25 13:00).
    # Proposal 03-31 09:05 (newbusiness 96 h) -> proposal follow-up Sat 04-04 09:05, inside the replay.
    deal("D20", "Los Pollos Hermanos - Franchise ordering UX", 28000, "newbusiness",
         contact("gus@lospolloshermanos.example", "Gustavo", "Fring", "Los Pollos Hermanos"), [
             created("03-16 09:00", "appointmentscheduled"),
             inquiry("03-16 09:00", "Asked about UX for a franchise ordering app"),
             outbound("03-16 11:00", "Founder answered and suggested a call"),
             replied("03-17 08:15", "Gus: Thursday 15:00 works"),
             call("03-19 15:45", "Discovery call: 40 franchisees, tablet ordering in every store"),
             meeting("03-19 16:00", "Workshop with the operations team booked", "03-26 13:00", "m-D20-1"),
             stage("03-19 16:05", "qualifiedtobuy"),
             stage("03-26 15:00", "presentationscheduled"),
             stage("03-31 09:00", "contractsent"),
             proposal("03-31 09:05", "Los Pollos Hermanos - Franchise ordering UX proposal"),
         ]),
    # --- Calls and meetings -----------------------------------------------------------------------
    # Call without a next step on Thu 02-12 15:10 -> call_no_next_step Fri 02-13 15:10 (busy day,
    # highest priority in its sweep). Stage nudge 02-16 09:00. Reply + pilot scoping booked
    # (brief 02-23 10:00); negotiating 03-02 -> nudge Sat 03-07. Open. Brief 02-11 14:00.
    deal("D21", "Oscorp - Lab booking system", 45000, None,
         contact("norman.osborn@oscorp.example", "Norman", "Osborn", "Oscorp"), [
             created("02-04 10:00", "qualifiedtobuy"),
             meeting("02-05 14:00", "Demo of a similar booking system booked", "02-12 14:00", "m-D21-1"),
             stage("02-09 09:00", "presentationscheduled"),
             call("02-12 15:10", "Demo call: Norman wants a pilot for one lab, will check the budget"),
             replied("02-17 10:00", "Norman: budget confirmed for a pilot"),
             meeting("02-17 10:15", "Pilot scoping booked", "02-24 10:00", "m-D21-2"),
             stage("03-02 11:00", "decisionmakerboughtin"),
         ]),
    # Existing client. Call followed by a meeting booking: no call follow-up. Brief 02-18 13:00.
    # existingbusiness stage nudge 02-19 09:00 is superseded (stage moved 14:30, before the
    # founder's decision at 15:00); negotiating nudge 03-01 14:30 (10 days); won 03-05.
    deal("D22", "Gringotts - Customer portal accessibility audit", 14000, "existingbusiness",
         contact("griphook@gringotts.example", "Griphook", "Goldclaw", "Gringotts"), [
             created("02-09 09:00", "presentationscheduled"),
             call("02-12 13:00", "Call with Griphook: WCAG audit before the EAA deadline"),
             meeting("02-12 13:20", "Audit kickoff booked", "02-19 13:00", "m-D22-1"),
             stage("02-19 14:30", "decisionmakerboughtin"),
             stage("03-05 10:00", "closedwon"),
         ]),
    # Call without a next step -> call_no_next_step 03-11 14:00; Peggy replies and books a
    # walkthrough (brief 03-17 15:00); stage nudge 03-17 14:10; second call with a decision meeting
    # booked (brief 03-24 15:00); negotiating 03-25 -> nudge 03-30 16:00. Open.
    deal("D23", "Sterling Cooper - Campaign analytics", 7500, None,
         contact("peggy.olson@sterlingcooper.example", "Peggy", "Olson", "Sterling Cooper"), [
             created("03-04 11:00", "qualifiedtobuy"),
             call("03-10 14:00", "Call with Peggy: wants monthly campaign dashboards"),
             stage("03-10 14:10", "presentationscheduled"),
             replied("03-12 10:20", "Peggy: sorry for the delay, can we walk through examples next week?"),
             meeting("03-12 10:30", "Dashboard examples walkthrough booked", "03-18 15:00", "m-D23-1"),
             call("03-18 16:00", "Walkthrough done: Peggy takes it to Don"),
             meeting("03-18 16:10", "Decision meeting with Don booked", "03-25 15:00", "m-D23-2"),
             stage("03-25 16:00", "decisionmakerboughtin"),
         ]),
    # Quote valid 30 days, expiring Sun 2026-03-29, the day Berlin moves to CEST:
    # quote_expired at 07:00 UTC (09:00 CEST). Negotiating nudge 03-03 09:00; an out-of-office
    # after it changes nothing. Brief 02-23 09:00. Replies 03-31, open.
    deal("D24", "Nakatomi Trading - Intranet migration", 33000, None,
         contact("joseph.takagi@nakatomi.example", "Joseph", "Takagi", "Nakatomi Trading"), [
             created("02-16 10:00", "qualifiedtobuy"),
             call("02-19 10:00", "Call with Mr Takagi: from SharePoint to a new intranet"),
             meeting("02-19 10:15", "Requirements workshop booked", "02-24 09:00", "m-D24-1"),
             stage("02-19 10:20", "presentationscheduled"),
             stage("02-26 09:00", "decisionmakerboughtin"),
             quote("02-27 11:00", "Q-D24", "2026-03-29"),
             auto_reply("03-03 15:05", "Out of office until 16 March"),
             replied("03-31 08:30", "Joseph: apologies, fiscal year end; please re-issue the quote"),
         ]),
    # --- Stuck deals -------------------------------------------------------------------------------
    # Big deal that crawls: stage nudges 01-12 08:00 (qualified), 02-09 09:00 (presentation),
    # Sat 02-21 10:00 (negotiating); then nothing moves until the end. Brief 02-05 14:00.
    deal("D25", "Aperture Science - Visitor app", 65000, "newbusiness",
         contact("cave.johnson@aperture.example", "Cave", "Johnson", "Aperture Science"), [
             created("01-05 08:00", "qualifiedtobuy"),
             replied("01-15 10:00", "Cave: still interested, budget decision at the end of January"),
             stage("02-02 09:00", "presentationscheduled"),
             meeting("02-02 09:10", "Concept presentation booked", "02-06 14:00", "m-D25-1"),
             stage("02-16 10:00", "decisionmakerboughtin"),
             replied("03-09 16:00", "Cave: the board decides in April"),
         ]),
    # Stage nudge Fri 02-13 10:00 (busy day). Storyboard review booked (brief Sun 02-22 14:00);
    # the presentation-stage nudge 02-23 14:20 is superseded (stage moved 15:30); negotiating nudge
    # Sat 02-28. Quote expires Fri 03-20 -> quote_expired 08:00 UTC; the out-of-office on 03-16
    # does not stop it. Open.
    deal("D26", "Monsters Inc - Onboarding video series", 11000, None,
         contact("celia.mae@monstersinc.example", "Celia", "Mae", "Monsters Inc"), [
             created("02-06 10:00", "qualifiedtobuy"),
             call("02-16 14:00", "Call with Celia: six onboarding videos, shoot in April"),
             meeting("02-16 14:15", "Storyboard review booked", "02-23 14:00", "m-D26-1"),
             stage("02-16 14:20", "presentationscheduled"),
             stage("02-23 15:30", "decisionmakerboughtin"),
             quote("03-02 10:00", "Q-D26", "2026-03-20"),
             outbound("03-16 08:55", "Founder sent the storyboard revisions"),
             auto_reply("03-16 08:56", "Out of office until 23 March"),
             replied("03-24 09:00", "Celia: back; can you re-quote for five videos instead of six?"),
         ]),
    # Stage nudge Fri 02-13 15:00 (busy day, lowest priority in its sweep -> deferred to Saturday).
    # Kickoff booked for 02-24, cancelled 02-20 (no brief); rebooked for 03-04 (brief 03-03 16:00).
    # Stage nudge 02-23 09:45; negotiating nudge 03-10 10:00. Open.
    deal("D27", "Vehement Capital - Investor deck design", 4000, None,
         contact("paul.allen@vehement.example", "Paul", "Allen", "Vehement Capital"), [
             created("02-06 15:05", "qualifiedtobuy"),
             replied("02-16 09:30", "Paul: let's kick off on the 24th"),
             meeting("02-16 09:40", "Deck kickoff booked", "02-24 16:00", "m-D27-1"),
             stage("02-16 09:45", "presentationscheduled"),
             cancelled("02-20 12:00", "m-D27-1", "Paul cancelled: the roadshow moved"),
             meeting("02-25 10:00", "Deck kickoff rescheduled", "03-04 16:00", "m-D27-2"),
             stage("03-05 10:00", "decisionmakerboughtin"),
         ]),
    # --- Parked ------------------------------------------------------------------------------------
    # On hold 01-20 (the 01-23 stage nudge never fires), un-parked 03-02 after a stage move:
    # resumes with a call follow-up 03-04 14:00 and a negotiating nudge Sat 03-07 09:05. Brief 01-15.
    deal("D28", "Duff Brewery - Taproom website", 8000, None,
         contact("laura.duff@duffbrewery.example", "Laura", "Duff", "Duff Brewery"), [
             created("01-12 13:00", "qualifiedtobuy"),
             call("01-14 10:00", "Call with Laura: the new taproom opens in May"),
             meeting("01-14 10:20", "Brand workshop booked", "01-16 13:00", "m-D28-1"),
             stage("01-16 15:00", "presentationscheduled"),
             replied("01-20 09:40", "Laura: permit delays, can we pause until March?"),
             status("01-20 10:00", "on_hold"),
             replied("03-02 09:00", "Laura: the permits are through, let's restart"),
             stage("03-02 09:05", "decisionmakerboughtin"),
             status("03-02 09:10", ""),
             call("03-03 14:00", "Restart call: same scope, the opening moved to June"),
         ]),
    # Stage nudge 01-12 11:00, then deprioritized 01-23 10:00, which also silences the call
    # follow-up that was due 01-23 15:00.
    deal("D29", "Ollivanders - E-commerce catalogue", 21000, "newbusiness",
         contact("garrick@ollivanders.example", "Garrick", "Ollivander", "Ollivanders"), [
             created("01-05 11:00", "presentationscheduled"),
             call("01-22 15:00", "Call with Garrick: shop migration postponed to next year"),
             status("01-23 10:00", "deprioritized"),
         ]),
    # Existing client: stage nudges after 10 days, Sat 01-31 10:00 (presentation) and Fri 02-13
    # 11:30 (negotiating, busy day). Brief 02-02 10:00. On hold 02-24: nothing after.
    deal("D30", "Wonka Industries - Factory tour booking site", 16000, "existingbusiness",
         contact("willy@wonka.example", "Willy", "Wonka", "Wonka Industries"), [
             created("01-21 10:00", "presentationscheduled"),
             meeting("01-28 14:00", "Scope review at the factory booked", "02-03 10:00", "m-D30-1"),
             stage("02-03 11:30", "decisionmakerboughtin"),
             replied("02-24 09:00", "Willy: the tour season starts late, let's revisit in summer"),
             status("02-24 09:15", "on_hold"),
         ]),
    # --- Live conversations -----------------------------------------------------------------------
    # Lucius answers by mail mid-stage (02-06): the quiet in qualified counts from his reply, so
    # the re-engagement comes 02-13 10:00, not 02-09 09:00 (7 days after the stage entry).
    deal("D31", "Wayne Enterprises - Partner portal", 27000, None,
         contact("lucius.fox@wayne.example", "Lucius", "Fox", "Wayne Enterprises"), [
             created("02-02 09:00", "qualifiedtobuy"),
             replied("02-06 10:00", "Lucius: we are comparing two approaches, I will come back to you"),
         ]),
    # The founder writes to Miles from her own inbox the day after the proposal (02-17): that mail
    # is the follow-up, so no proposal nudge; the quiet in the proposal stage counts from it, and
    # the re-engagement comes 02-24 15:00.
    deal("D32", "Cyberdyne - Robotics dashboard", 19000, None,
         contact("miles.dyson@cyberdyne.example", "Miles", "Dyson", "Cyberdyne"), [
             created("02-09 10:00", "presentationscheduled"),
             stage("02-16 09:00", "contractsent"),
             proposal("02-16 09:05", "Cyberdyne - Robotics dashboard proposal"),
             outbound("02-17 15:00", "Email to miles.dyson@cyberdyne.example: the case study I mentioned"),
         ]),
]

DESCRIPTION = (
    "One quarter of a small B2B service studio (Northwind Studio, founder in Europe/Berlin) on HubSpot's "
    "default pipeline. Thirty-two deals: proposals answered in time and ignored, one deal silent through three "
    "stages, a busy week (proposals sent 9-10 February) where Friday 13 February has more follow-ups due than "
    "the daily budget of 10, inbound leads that reply and leads that never do, calls with and without a next "
    "meeting, quotes expiring (one on 2026-03-29, the DST change in Berlin; one answered before it expires; "
    "one after the replay ends), meeting-prep briefs with one cancelled meeting, parked / on-hold / "
    "deprioritized deals (one parked while its proposal waited, one un-parked in March), out-of-office "
    "auto replies that must not stop follow-ups, a deleted duplicate, two contacts without a first name, a "
    "prospect who answers by mail mid-stage and a founder who follows up from her own inbox. "
    "Generated by generate_b2b_services.py."
)


def scenario():
    return {
        "name": "B2B service business, 32 deals over 90 days",
        "description": DESCRIPTION,
        "start": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days": DAYS,
        "sweep_minutes": 15,
        "founder": {"decide_after_hours": 6, "reject_every": 7},
        "deals": DEALS,
    }


def parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def validate(s):
    ids = [d["id"] for d in s["deals"]]
    assert len(ids) == 32 and len(set(ids)) == 32, ids
    for d in s["deals"]:
        assert 2000 <= d["amount"] <= 80000, d["id"]
        assert d.get("deal_type") in (None, "newbusiness", "existingbusiness"), d["id"]
        c = d["contact"]
        assert c["email"].endswith(".example") and c["last_name"] and c["company"], d["id"]
        evs = d["events"]
        assert evs[0]["type"] == "deal_created", d["id"]
        times = [parse(e["at"]) for e in evs]
        assert times == sorted(times), f"{d['id']}: events out of order"
        booked = set()
        for e, t in zip(evs, times):
            assert START <= t < END, (d["id"], e)
            kind = e["type"]
            if kind in ("deal_created", "stage_changed"):
                assert e["stage"] in STAGES, (d["id"], e)
            elif kind == "status_changed":
                assert e["status"] in PARKED, (d["id"], e)
            elif kind == "meeting_booked":
                starts = parse(e["starts_at"])
                # Booked at least a day ahead, so the brief (24 h before) is never already overdue.
                assert starts - t >= timedelta(hours=24), (d["id"], e)
                booked.add(e["meeting_id"])
            elif kind == "meeting_cancelled":
                assert e["meeting_id"] in booked, (d["id"], e)
            elif kind == "quote_sent":
                date.fromisoformat(e["expires_on"])
            else:
                assert kind in ("lead_inquiry", "outbound", "call_logged", "proposal_sent",
                                "prospect_replied", "auto_reply", "prospect_declined",
                                "deal_deleted"), (d["id"], e)


def render(s) -> str:
    """Indented JSON with one event per line (stable key order, so the output is reproducible)."""
    head = {k: v for k, v in s.items() if k != "deals"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append('  "deals": [')
    for i, d in enumerate(s["deals"]):
        lines.append("    {")
        for k, v in d.items():
            if k == "events":
                continue
            lines.append(f"      {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
        lines.append('      "events": [')
        evs = d["events"]
        for j, e in enumerate(evs):
            sep = "," if j < len(evs) - 1 else ""
            lines.append(f"        {json.dumps(e, ensure_ascii=False)}{sep}")
        lines.append("      ]")
        lines.append("    }" + ("," if i < len(s["deals"]) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == s
    return text


def main():
    s = scenario()
    validate(s)
    text = render(s)
    if "--check" in sys.argv[1:]:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT.name}: {'up to date' if same else 'DIFFERS from the generator'}")
        sys.exit(0 if same else 1)
    OUT.write_text(text, encoding="utf-8")
    events = sum(len(d["events"]) for d in s["deals"])
    print(f"wrote {OUT} ({len(s['deals'])} deals, {events} events)")


if __name__ == "__main__":
    main()
