//! The append-only audit record.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::deal::DealRef;

/// What an audit record says happened. Serialised as the dotted names the log has always used
/// (`draft.created`, …), so existing logs read; a name this version does not know is kept as
/// written (`Other`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// An event was accepted and recorded on its deal.
    EventAccepted,
    /// A CRM stage the config does not map.
    StageUnmapped,
    /// The CRM answered 404 for a deal a webhook named.
    DealUnknownInCrm,
    /// The deal was won (announced on the bus).
    DealWon,
    /// The deal was lost (announced on the bus).
    DealLost,
    /// A trigger occurrence fired and a draft is on its way.
    TriggerFired,
    /// A due follow-up held back: an undecided draft of the deal waits.
    TriggerHeld,
    /// A due follow-up put off: the day's draft budget is spent.
    TriggerDeferred,
    /// A fired trigger no longer held when its draft was to be written.
    TriggerStopped,
    /// A draft was written and waits for a decision.
    DraftCreated,
    /// A person approved a draft (with their edits, if any).
    DraftApproved,
    /// A person rejected a draft, with a reason.
    DraftRejected,
    /// A person snoozed a draft.
    DraftSnoozed,
    /// A snoozed draft came back to the queue.
    DraftResurfaced,
    /// A draft was withdrawn: its reason is gone.
    DraftSuperseded,
    /// The sender accepted a message to a prospect.
    MessageSent,
    /// The sender refused or failed a message.
    SendFailed,
    /// An interrupted send was taken up again.
    SendResumed,
    /// An interrupted send was found already in the mailbox's Sent.
    SendFoundInSent,
    /// A fresh review link was sent to an approver.
    LinkReissued,
    /// The founder was told of a draft.
    FounderNotified,
    /// A meeting-prep brief was delivered.
    BriefSent,
    /// The daily digest of waiting drafts was delivered.
    DigestSent,
    /// The weekly pipeline summary was delivered.
    SummarySent,
    /// A proposal was due but no template fits the deal type.
    ProposalNoTemplate,
    /// Approved changes were written to the CRM.
    CrmWritten,
    /// A CRM write was skipped, with why.
    CrmWriteSkipped,
    /// A CRM write failed for good, with why.
    CrmWriteFailed,
    /// A kind written by another version of draftgate.
    Other(String),
}

impl AuditKind {
    pub fn as_str(&self) -> &str {
        match self {
            AuditKind::EventAccepted => "event.accepted",
            AuditKind::StageUnmapped => "stage.unmapped",
            AuditKind::DealUnknownInCrm => "deal.unknown_in_crm",
            AuditKind::DealWon => "deal.won",
            AuditKind::DealLost => "deal.lost",
            AuditKind::TriggerFired => "trigger.fired",
            AuditKind::TriggerHeld => "trigger.held",
            AuditKind::TriggerDeferred => "trigger.deferred",
            AuditKind::TriggerStopped => "trigger.stopped",
            AuditKind::DraftCreated => "draft.created",
            AuditKind::DraftApproved => "draft.approved",
            AuditKind::DraftRejected => "draft.rejected",
            AuditKind::DraftSnoozed => "draft.snoozed",
            AuditKind::DraftResurfaced => "draft.resurfaced",
            AuditKind::DraftSuperseded => "draft.superseded",
            AuditKind::MessageSent => "message.sent",
            AuditKind::SendFailed => "send.failed",
            AuditKind::SendResumed => "send.resumed",
            AuditKind::SendFoundInSent => "send.found_in_sent",
            AuditKind::LinkReissued => "link.reissued",
            AuditKind::FounderNotified => "founder.notified",
            AuditKind::BriefSent => "brief.sent",
            AuditKind::DigestSent => "digest.sent",
            AuditKind::SummarySent => "summary.sent",
            AuditKind::ProposalNoTemplate => "proposal.no_template",
            AuditKind::CrmWritten => "crm.written",
            AuditKind::CrmWriteSkipped => "crm.write_skipped",
            AuditKind::CrmWriteFailed => "crm.write_failed",
            AuditKind::Other(s) => s,
        }
    }

    /// The kind named `name` (never fails: an unknown name is `Other`).
    pub fn parse(name: &str) -> AuditKind {
        match name {
            "event.accepted" => AuditKind::EventAccepted,
            "stage.unmapped" => AuditKind::StageUnmapped,
            "deal.unknown_in_crm" => AuditKind::DealUnknownInCrm,
            "deal.won" => AuditKind::DealWon,
            "deal.lost" => AuditKind::DealLost,
            "trigger.fired" => AuditKind::TriggerFired,
            "trigger.held" => AuditKind::TriggerHeld,
            "trigger.deferred" => AuditKind::TriggerDeferred,
            "trigger.stopped" => AuditKind::TriggerStopped,
            "draft.created" => AuditKind::DraftCreated,
            "draft.approved" => AuditKind::DraftApproved,
            "draft.rejected" => AuditKind::DraftRejected,
            "draft.snoozed" => AuditKind::DraftSnoozed,
            "draft.resurfaced" => AuditKind::DraftResurfaced,
            "draft.superseded" => AuditKind::DraftSuperseded,
            "message.sent" => AuditKind::MessageSent,
            "send.failed" => AuditKind::SendFailed,
            "send.resumed" => AuditKind::SendResumed,
            "send.found_in_sent" => AuditKind::SendFoundInSent,
            "link.reissued" => AuditKind::LinkReissued,
            "founder.notified" => AuditKind::FounderNotified,
            "brief.sent" => AuditKind::BriefSent,
            "digest.sent" => AuditKind::DigestSent,
            "summary.sent" => AuditKind::SummarySent,
            "proposal.no_template" => AuditKind::ProposalNoTemplate,
            "crm.written" => AuditKind::CrmWritten,
            "crm.write_skipped" => AuditKind::CrmWriteSkipped,
            "crm.write_failed" => AuditKind::CrmWriteFailed,
            other => AuditKind::Other(other.to_string()),
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl From<&str> for AuditKind {
    fn from(name: &str) -> Self {
        AuditKind::parse(name)
    }
}

impl PartialEq<&str> for AuditKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for AuditKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl Serialize for AuditKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(AuditKind::parse(&name))
    }
}

/// One append-only audit record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: Timestamp,
    pub kind: AuditKind,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<DealRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub fn new(
        at: Timestamp,
        kind: AuditKind,
        actor: &str,
        detail: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            id: ulid::Ulid::new().to_string(),
            at,
            kind,
            actor: actor.to_string(),
            deal: None,
            draft_id: None,
            detail,
        }
    }

    pub fn deal(mut self, deal: &DealRef) -> Self {
        self.deal = Some(deal.clone());
        self
    }

    pub fn draft(mut self, id: &str) -> Self {
        self.draft_id = Some(id.to_string());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_and_write_the_names_the_log_has_always_used() {
        for name in [
            "event.accepted",
            "draft.created",
            "trigger.deferred",
            "crm.write_failed",
        ] {
            let kind = AuditKind::parse(name);
            assert!(!matches!(kind, AuditKind::Other(_)), "{name}");
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
            let back: AuditKind = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(back, kind);
        }
        // A kind from another version is kept as written.
        let other: AuditKind = serde_json::from_str("\"draft.teleported\"").unwrap();
        assert_eq!(other, AuditKind::Other("draft.teleported".into()));
        assert_eq!(
            serde_json::to_string(&other).unwrap(),
            "\"draft.teleported\""
        );
    }
}
