//! Every DynamoDB key is built here, by pure functions whose exact strings are pinned by tests.
//! The README's access-pattern table lists what each key serves.

use jiff::Timestamp;

use crate::domain::time::sortable;
use crate::domain::{DealRef, DraftStatus};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI_DUE: &str = "GSI1";
pub const GSI_DUE_PK: &str = "GSI1PK";
pub const GSI_DUE_SK: &str = "GSI1SK";
pub const GSI_STATUS: &str = "GSI2";
pub const GSI_STATUS_PK: &str = "GSI2PK";
pub const GSI_STATUS_SK: &str = "GSI2SK";
/// Open prospect-facing drafts by deal: a sparse index, present only while a draft waits.
pub const GSI_OPEN: &str = "GSI3";
pub const GSI_OPEN_PK: &str = "GSI3PK";
pub const GSI_OPEN_SK: &str = "GSI3SK";
pub const TTL_ATTR: &str = "expires_at";

pub const STATE_SK: &str = "STATE";
pub const DUE_PARTITION: &str = "DUE";

/// `DEAL#<crm>#<id>`: the partition holding a deal's state, timeline and trigger firings.
pub fn deal_pk(deal: &DealRef) -> String {
    format!("DEAL#{}#{}", deal.crm, deal.id)
}

/// `EVENT#<occurred_at>#<event id>`: timeline entries sort by time within the deal partition.
pub fn event_sk(occurred_at: Timestamp, event_id: &str) -> String {
    format!("EVENT#{}#{}", sortable(occurred_at), event_id)
}

/// `EVENT#ID#<event id>`: a timeline entry on DynamoDB, keyed by its event id alone so that
/// writing it only if absent is the redelivery check (the timeline is ordered when read).
pub fn event_id_sk(event_id: &str) -> String {
    format!("EVENT#ID#{event_id}")
}

/// `FIRING#<occurrence>`: claimed once per trigger occurrence.
pub fn firing_sk(occurrence: &str) -> String {
    format!("FIRING#{occurrence}")
}

/// `DEDUP#<event id>` (sort key `DEDUP`): the redelivery claim of the embedded store, and of
/// events DynamoDB recorded before timeline entries were keyed by event id (still read, never
/// written; expired by TTL).
pub fn dedup_pk(event_id: &str) -> String {
    format!("DEDUP#{event_id}")
}

pub const DEDUP_SK: &str = "DEDUP";

/// `LINK#<link>`: the partition listing the deals a link (a Close lead, a contact's address)
/// leads to, one item per deal with the deal's pk as sort key.
pub fn link_pk(link: &str) -> String {
    format!("LINK#{link}")
}

/// `MARKER#<name>` (sort key `MARKER`): a position kept between runs, e.g. a CRM sync's watermark.
pub fn marker_pk(name: &str) -> String {
    format!("MARKER#{name}")
}

pub const MARKER_SK: &str = "MARKER";

/// The partition of pending founder notices; each notice's key is its sort key.
pub const NOTICES_PK: &str = "NOTICES";

/// `DRAFT#<id>` (sort key `DRAFT`).
pub fn draft_pk(draft_id: &str) -> String {
    format!("DRAFT#{draft_id}")
}

pub const DRAFT_SK: &str = "DRAFT";

/// Sort key on the due index: `<next_due_at>#<deal pk>`, so a range query up to "now" reads only due deals.
pub fn due_sk(next_due_at: Timestamp, deal: &DealRef) -> String {
    format!("{}#{}", sortable(next_due_at), deal_pk(deal))
}

/// Upper bound for the due-index range query: everything due at or before `now`.
pub fn due_upper_bound(now: Timestamp) -> String {
    // '$' sorts after '#', so every key `<now>#...` is included.
    format!("{}$", sortable(now))
}

/// Partition of the status index: `DRAFTS#<STATUS>`.
pub fn status_pk(status: DraftStatus) -> String {
    format!("DRAFTS#{}", status.as_str())
}

/// Partition of the open-drafts index: `OPEN#DEAL#<crm>#<id>`.
pub fn open_pk(deal: &DealRef) -> String {
    format!("OPEN#{}", deal_pk(deal))
}

/// Sort key of the status index: `<at>#<draft id>` where `at` is the creation time,
/// or the snooze end for snoozed drafts (so the sweep finds drafts whose snooze is over).
pub fn status_sk(at: Timestamp, draft_id: &str) -> String {
    format!("{}#{}", sortable(at), draft_id)
}

/// `BUDGET#<local date>` (sort key `BUDGET`): the day's draft budget, with the occurrences
/// holding a slot.
pub fn budget_pk(day: &str) -> String {
    format!("BUDGET#{day}")
}

pub const BUDGET_SK: &str = "BUDGET";

/// Audit partition: one per deal, or `SYSTEM` for entries about no deal.
pub fn audit_pk(deal: Option<&DealRef>) -> String {
    match deal {
        Some(d) => format!("AUDIT#{}", deal_pk(d)),
        None => "AUDIT#SYSTEM".to_string(),
    }
}

/// Audit sort key: `<at>#<entry id>`.
pub fn audit_sk(at: Timestamp, entry_id: &str) -> String {
    format!("{}#{}", sortable(at), entry_id)
}

/// Message group of the FIFO queues: one group per deal, so a deal's work is serialised.
pub fn queue_group(deal: &DealRef) -> String {
    format!("{}#{}", deal.crm, deal.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn keys_have_their_pinned_shapes() {
        let d = DealRef::new("hubspot", "18544521873");
        assert_eq!(deal_pk(&d), "DEAL#hubspot#18544521873");
        assert_eq!(
            event_sk(ts("2024-11-21T10:05:12.345Z"), "hubspot:1:2:3"),
            "EVENT#2024-11-21T10:05:12.345Z#hubspot:1:2:3"
        );
        assert_eq!(
            firing_sk("proposal_no_reply#2024-11-21T10:00:00.000Z"),
            "FIRING#proposal_no_reply#2024-11-21T10:00:00.000Z"
        );
        assert_eq!(
            dedup_pk("hubspot:44556677:2465712:3816279340"),
            "DEDUP#hubspot:44556677:2465712:3816279340"
        );
        assert_eq!(
            open_pk(&DealRef::new("hubspot", "9001")),
            "OPEN#DEAL#hubspot#9001"
        );
        assert_eq!(draft_pk("d_0123"), "DRAFT#d_0123");
        assert_eq!(
            due_sk(ts("2024-11-24T10:00:00Z"), &d),
            "2024-11-24T10:00:00.000Z#DEAL#hubspot#18544521873"
        );
        assert_eq!(
            due_upper_bound(ts("2024-11-24T10:00:00Z")),
            "2024-11-24T10:00:00.000Z$"
        );
        assert_eq!(status_pk(DraftStatus::Pending), "DRAFTS#PENDING");
        assert_eq!(
            status_sk(ts("2024-11-24T10:00:00Z"), "d_1"),
            "2024-11-24T10:00:00.000Z#d_1"
        );
        assert_eq!(audit_pk(Some(&d)), "AUDIT#DEAL#hubspot#18544521873");
        assert_eq!(audit_pk(None), "AUDIT#SYSTEM");
        assert_eq!(queue_group(&d), "hubspot#18544521873");
        assert_eq!(budget_pk("2026-03-02"), "BUDGET#2026-03-02");
    }

    #[test]
    fn the_due_upper_bound_includes_deals_due_exactly_now_and_excludes_later_ones() {
        let d = DealRef::new("hubspot", "1");
        let now = ts("2024-11-24T10:00:00Z");
        assert!(due_sk(now, &d) <= due_upper_bound(now));
        assert!(due_sk(ts("2024-11-24T10:00:00.001Z"), &d) > due_upper_bound(now));
    }
}
