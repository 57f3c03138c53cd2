//! The append-only audit record.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::deal::DealRef;

/// Declares `AuditKind` from (variant = "wire name") pairs, so each name is written once.
macro_rules! audit_kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// What an audit record says happened. Serialised as the dotted names the log has always
        /// used (`draft.created`, …), so existing logs read; a name this version does not know
        /// is kept as written (`Other`).
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum AuditKind {
            $($(#[$doc])* $variant,)*
            /// A kind written by another version of draftgate.
            Other(String),
        }

        impl AuditKind {
            pub fn as_str(&self) -> &str {
                match self {
                    $(AuditKind::$variant => $name,)*
                    AuditKind::Other(s) => s,
                }
            }

            /// The kind named `name` (never fails: an unknown name is `Other`).
            pub fn parse(name: &str) -> AuditKind {
                match name {
                    $($name => AuditKind::$variant,)*
                    other => AuditKind::Other(other.to_string()),
                }
            }
        }
    };
}

audit_kinds! {
    /// An event was accepted and recorded on its deal.
    EventAccepted = "event.accepted",
    /// A CRM stage the config does not map.
    StageUnmapped = "stage.unmapped",
    /// The CRM answered 404 for a deal a webhook named.
    DealUnknownInCrm = "deal.unknown_in_crm",
    /// The deal was won (announced on the bus).
    DealWon = "deal.won",
    /// The deal was lost (announced on the bus).
    DealLost = "deal.lost",
    /// A trigger occurrence fired and a draft is on its way.
    TriggerFired = "trigger.fired",
    /// A due follow-up held back: an undecided draft of the deal waits.
    TriggerHeld = "trigger.held",
    /// A due follow-up put off: the day's draft budget is spent.
    TriggerDeferred = "trigger.deferred",
    /// A fired trigger no longer held when its draft was to be written.
    TriggerStopped = "trigger.stopped",
    /// A draft was written and waits for a decision.
    DraftCreated = "draft.created",
    /// A person approved a draft (with their edits, if any).
    DraftApproved = "draft.approved",
    /// A person rejected a draft, with a reason.
    DraftRejected = "draft.rejected",
    /// A person snoozed a draft.
    DraftSnoozed = "draft.snoozed",
    /// A snoozed draft came back to the queue.
    DraftResurfaced = "draft.resurfaced",
    /// A draft was withdrawn: its reason is gone.
    DraftSuperseded = "draft.superseded",
    /// The sender accepted a message to a prospect.
    MessageSent = "message.sent",
    /// The sender refused or failed a message.
    SendFailed = "send.failed",
    /// An interrupted send was taken up again.
    SendResumed = "send.resumed",
    /// An interrupted send was found already in the mailbox's Sent.
    SendFoundInSent = "send.found_in_sent",
    /// A fresh review link was sent to an approver.
    LinkReissued = "link.reissued",
    /// The founder was told of a draft.
    FounderNotified = "founder.notified",
    /// A meeting-prep brief was delivered.
    BriefSent = "brief.sent",
    /// The daily digest of waiting drafts was delivered.
    DigestSent = "digest.sent",
    /// The weekly pipeline summary was delivered.
    SummarySent = "summary.sent",
    /// A proposal was due but no template fits the deal type.
    ProposalNoTemplate = "proposal.no_template",
    /// Approved changes were written to the CRM.
    CrmWritten = "crm.written",
    /// A CRM write was skipped, with why.
    CrmWriteSkipped = "crm.write_skipped",
    /// A CRM write failed for good, with why.
    CrmWriteFailed = "crm.write_failed",
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
