//! Closing the loop: when a deal is won or lost, draftgate records the outcome and publishes
//! `deal.won` / `deal.lost` on the event bus (EventBridge in AWS; `GET /dev/events` on the
//! runner) for a delivery or onboarding workflow to take over. The deal leaves draftgate's
//! scope: a closed deal fires no trigger, and its waiting drafts were superseded as it closed.
//!
//! Publication is at least once: an outcome is published whenever its closing event is
//! recorded, a redelivery included, so consumers deduplicate on `detail.event_id`.
//!
//! `detail`, schema version 1:
//! `{"schema_version": 1, "event_id", "deal": {"crm", "id"}, "name", "outcome": "won"|"lost",
//!   "stage", "raw_stage", "amount", "currency", "reason", "contact_email", "closed_at"}`
//! (`amount`, `currency`, `reason`, `contact_email` may be null).

use serde_json::{json, Value};

use crate::config::Config;
use crate::domain::{Deal, DealEvent, DomainEvent, EventKind, Stage};

pub const SCHEMA_VERSION: u32 = 1;

/// The reason a CRM gave for the outcome, from the deal's facts.
pub fn reason(deal: &Deal) -> Option<String> {
    [
        "deal.lost_reason",
        "deal.closed_lost_reason",
        "deal.closed_won_reason",
        "deal.close_reason",
        "deal.reason",
    ]
    .iter()
    .find_map(|k| deal.facts.get(*k).map(|f| f.value.clone()))
    .or_else(|| {
        deal.last_interaction
            .as_ref()
            .filter(|i| i.summary.starts_with("Deal lost: "))
            .map(|i| i.summary.trim_start_matches("Deal lost: ").to_string())
    })
}

/// The bus event for `event` if it is the one that closed `deal` (as the deal now stands).
pub fn closing(config: &Config, deal: &Deal, event: &DealEvent) -> Option<DomainEvent> {
    let EventKind::StageChanged { raw_stage } = &event.kind else {
        return None;
    };
    let stage = config.canonical_stage(event.source_crm(), raw_stage)?;
    if !stage.is_closed() || deal.stage != Some(stage) {
        return None;
    }
    let outcome = if stage == Stage::ClosedWon {
        "won"
    } else {
        "lost"
    };
    let detail: Value = json!({
        "schema_version": SCHEMA_VERSION,
        "event_id": event.id,
        "deal": deal.key,
        "name": deal.name,
        "outcome": outcome,
        "stage": stage,
        "raw_stage": raw_stage,
        "amount": deal.amount,
        "currency": deal.currency,
        "reason": reason(deal),
        "contact_email": deal.contact_email,
        "closed_at": event.occurred_at,
    });
    Some(DomainEvent {
        detail_type: format!("deal.{outcome}"),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DealRef, Fact};

    #[test]
    fn only_the_closing_stage_change_is_announced_with_its_outcome_and_reason() {
        let config = Config::bundled().unwrap();
        let at: jiff::Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
        let mut deal = Deal::new(DealRef::new("pipedrive", "7"), at);
        deal.name = "Globex".into();
        deal.stage = Some(Stage::ClosedLost);
        deal.amount = Some(9000.0);
        deal.facts.insert(
            "deal.lost_reason".into(),
            Fact::new("Went with a competitor", "pipedrive lost_reason"),
        );
        let event = |raw: &str| DealEvent {
            id: format!("pipedrive:7:{raw}"),
            deal: deal.key.clone(),
            occurred_at: at,
            source: "pipedrive".into(),
            kind: EventKind::StageChanged {
                raw_stage: raw.into(),
            },
            snapshot: None,
        };
        let lost = closing(&config, &deal, &event("lost")).expect("announced");
        assert_eq!(lost.detail_type, "deal.lost");
        assert_eq!(lost.detail["schema_version"], 1);
        assert_eq!(lost.detail["reason"], "Went with a competitor");
        assert_eq!(lost.detail["amount"], 9000.0);
        assert_eq!(lost.detail["closed_at"], "2026-11-30T10:00:00Z");
        // A stage change into an open stage, or one the deal has since left, is not an outcome.
        assert!(closing(&config, &deal, &event("1")).is_none());
        deal.stage = Some(Stage::Negotiating);
        assert!(closing(&config, &deal, &event("lost")).is_none());
    }
}
