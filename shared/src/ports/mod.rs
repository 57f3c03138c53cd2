//! The small traits the application services talk to. Each has a real AWS adapter and an
//! embedded one (`adapters/`), held to the same behaviour by one contract suite.

pub mod keys;
mod writer;

pub use writer::{Answer, DraftWriter, Prompt, WriterError};

use async_trait::async_trait;
use jiff::Timestamp;

use crate::domain::{
    AuditEntry, Deal, DealEvent, DealRef, DealSnapshot, DomainEvent, Draft, DraftStatus, Firing,
    FounderNotification, OutboundEmail, SentReceipt,
};
use crate::error::Cause;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: someone else changed the item first. The caller re-reads.
    #[error("conditional write conflict")]
    Conflict,
    /// The store could not be reached or throttled; retrying later may succeed.
    #[error("store unavailable")]
    Unavailable(#[source] Cause),
    /// An item could not be decoded. Not retryable.
    #[error("corrupt item: {0}")]
    Corrupt(String),
}

/// Outcome of recording one provider event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    Applied,
    /// The event id was seen before; nothing was written.
    Duplicate,
}

/// Deals: their state, timelines, webhook dedup claims, and the due index.
#[async_trait]
pub trait DealStore: Send + Sync {
    async fn get_deal(&self, deal: &DealRef) -> Result<Option<Deal>, StoreError>;

    /// Atomically claim `event.id`, append the event to the deal's timeline and write `deal`.
    /// `deal.version` is the new version: 1 means the deal must not exist yet, otherwise the
    /// stored version must be `deal.version - 1`. A seen event id gives `Recorded::Duplicate`
    /// and writes nothing; a version mismatch gives `StoreError::Conflict`.
    async fn record_event(&self, event: &DealEvent, deal: &Deal) -> Result<Recorded, StoreError>;

    /// Whether `deal` already recorded this event id (an event id names one event of one deal;
    /// a provider event about several deals is recorded as one id per deal).
    async fn is_duplicate(&self, deal: &DealRef, event_id: &str) -> Result<bool, StoreError>;

    /// Write `deal` under the same optimistic-locking rule as `record_event`.
    async fn put_deal(&self, deal: &Deal) -> Result<(), StoreError>;

    /// The deal's timeline, oldest first.
    async fn timeline(&self, deal: &DealRef) -> Result<Vec<DealEvent>, StoreError>;

    /// Every deal's state, for the weekly summary (a scan: once a week, never on a request
    /// path), in key order, at most `limit`.
    async fn all_deals(&self, limit: usize) -> Result<Vec<Deal>, StoreError>;

    /// Deals whose `next_due_at` is at or before `now`, earliest first (from the due index).
    async fn due_deals(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(DealRef, Timestamp)>, StoreError>;
}

/// Drafts, the trigger occurrences that made them, and the daily draft budget.
#[async_trait]
pub trait DraftStore: Send + Sync {
    /// Claim a trigger occurrence. `true` if this call claimed it, `false` if it was claimed before.
    async fn claim_firing(&self, firing: &Firing) -> Result<bool, StoreError>;

    /// Create a draft. `false` (and nothing written) if a draft with that id exists.
    async fn create_draft(&self, draft: &Draft) -> Result<bool, StoreError>;

    async fn get_draft(&self, id: &str) -> Result<Option<Draft>, StoreError>;

    /// Replace a draft only if its stored status is still `expected`; otherwise `Conflict`.
    async fn update_draft(&self, draft: &Draft, expected: DraftStatus) -> Result<(), StoreError>;

    /// Take one slot of `day`'s draft budget for `occurrence` (`day` is the founder's local
    /// date, `YYYY-MM-DD`). Idempotent per occurrence: an occurrence that already holds a slot
    /// gets `true` again without taking another. `false` when `limit` slots are taken.
    async fn claim_budget(
        &self,
        day: &str,
        occurrence: &str,
        limit: u32,
    ) -> Result<bool, StoreError>;

    /// Slots of `day`'s draft budget taken so far.
    async fn budget_used(&self, day: &str) -> Result<u32, StoreError>;

    /// How many drafts to the prospect wait undecided (pending or snoozed) for `deal`: read by
    /// the deal alone, whatever else waits in the queue.
    async fn open_drafts(&self, deal: &DealRef) -> Result<usize, StoreError>;

    /// Drafts in `status` whose index time (creation, or snooze end) is at or before `until`
    /// (all of them when `None`), oldest first.
    async fn drafts_by_status(
        &self,
        status: DraftStatus,
        until: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Draft>, StoreError>;
}

/// What links mail and CRM records to deals, the founder's pending notices, and named markers
/// (e.g. how far a CRM sync has read).
#[async_trait]
pub trait Bookkeeping: Send + Sync {
    /// Record that each of `links` (e.g. `close:lead:<id>`, `email:<address>`) leads to `deal`.
    /// Idempotent.
    async fn put_links(&self, deal: &DealRef, links: &[String]) -> Result<(), StoreError>;

    /// The deals a link leads to, in key order.
    async fn linked(&self, link: &str) -> Result<Vec<DealRef>, StoreError>;

    /// Keep a notice for the founder's next notification (something draftgate could not
    /// handle by itself, e.g. an unmapped stage). A notice with the same key is kept once.
    async fn add_notice(&self, key: &str, text: &str) -> Result<(), StoreError>;

    /// Pending notices (key, text), oldest key first.
    async fn notices(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError>;

    /// The founder was told: drop the notice.
    async fn remove_notice(&self, key: &str) -> Result<(), StoreError>;

    /// A named position kept between runs (e.g. how far a CRM sync has read).
    async fn marker(&self, name: &str) -> Result<Option<String>, StoreError>;

    async fn set_marker(&self, name: &str, value: &str) -> Result<(), StoreError>;
}

/// The Pipeline table whole, for the services that need all of it; each adapter implements the
/// three parts.
pub trait PipelineStore: DealStore + DraftStore + Bookkeeping {}

impl<T: DealStore + DraftStore + Bookkeeping + ?Sized> PipelineStore for T {}

/// The append-only audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Append one entry; an existing entry is never overwritten.
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError>;
}

/// Reading the audit log back: the local runner's dev route and the tests. Deployed functions
/// have no read permission on the audit table.
#[async_trait]
pub trait AuditReader: Send + Sync {
    /// Entries for one deal (or all when `None`), oldest first.
    async fn entries(&self, deal: Option<&DealRef>) -> Result<Vec<AuditEntry>, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable")]
    Unavailable(#[source] Cause),
}

/// A message for a FIFO queue: ordered within `group_id`, deduplicated by `dedup_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    pub body: String,
    pub group_id: String,
    pub dedup_id: String,
}

#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: &QueueMessage) -> Result<(), QueueError>;
}

/// A received message; `receipt` acknowledges it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub body: String,
    pub receipt: String,
    pub receive_count: u32,
}

/// Pulling from a queue. Lambda's SQS trigger does this in AWS; the local runner and the
/// contract tests do it through this trait.
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>, QueueError>;
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
}

/// The only way a message reaches a prospect. Wired into the approval service alone.
#[async_trait]
pub trait Sender: Send + Sync {
    /// Send; the provider's message id (and the conversation, for a mailbox).
    async fn send(&self, email: &OutboundEmail) -> Result<SentReceipt, SendError>;

    /// Whether `email` (by its draft's `Message-ID` and draft header) already left: asked before
    /// sending again a message whose first send was interrupted before it was recorded.
    async fn find_sent(&self, _email: &OutboundEmail) -> Result<SentLookup, SendError> {
        Ok(SentLookup::CannotLook)
    }

    /// Whether [`Sender::find_sent`] can look (a mailbox with a Sent folder). Then a send that
    /// failed without a clear refusal (a timeout, a 5xx) may have gone out, and the draft waits
    /// in SENDING for the lookup instead of being offered for a second send.
    fn finds_sent(&self) -> bool {
        false
    }
}

/// What a sender found in its Sent folder.
#[derive(Clone, Debug, PartialEq)]
pub enum SentLookup {
    Found(SentReceipt),
    NotFound,
    /// The sender keeps no Sent folder it can search (SES): never send twice blindly.
    CannotLook,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("sender unavailable")]
    Unavailable(#[source] Cause),
    #[error("message rejected")]
    Rejected(#[source] Cause),
}

/// Tells the founder a draft waits for review.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(&self, note: &FounderNotification) -> Result<(), NotifyError>;

    /// A draft was decided (or left the queue): channels that can change what they posted
    /// (a Slack message) show `summary` and drop their buttons.
    async fn decided(&self, _draft: &Draft, _summary: &str) -> Result<(), NotifyError> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("notification failed")]
pub struct NotifyError(#[source] pub Cause);

/// Publishes domain events (EventBridge in AWS).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &DomainEvent) -> Result<(), PublishError>;
}

#[derive(Debug, thiserror::Error)]
#[error("publish failed")]
pub struct PublishError(#[source] pub Cause);

/// Reads deal details from a CRM API.
#[async_trait]
pub trait CrmClient: Send + Sync {
    async fn fetch_deal(&self, deal_id: &str) -> Result<DealSnapshot, CrmError>;

    /// The stage id a webhook named, as the config maps it: a CRM whose closed stages carry
    /// their outcome in metadata (HubSpot) answers `won` or `lost` for them.
    async fn resolve_stage(&self, raw_stage: &str) -> Result<String, CrmError> {
        Ok(raw_stage.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error("deal {0} not found in the CRM")]
    NotFound(String),
    #[error("CRM API unavailable")]
    Unavailable(#[source] Cause),
    #[error("CRM API answered unexpectedly: {0}")]
    Invalid(String),
}

/// A record draftgate logs on a deal in its CRM, after an approved action (a follow-up sent,
/// a brief delivered, a call's notes, an outcome).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Activity {
    pub kind: ActivityKind,
    pub subject: String,
    pub body: String,
    pub at: Timestamp,
    /// Who approved or did it.
    pub by: String,
    /// The contact it was sent to (an email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// A message sent to the prospect (an email engagement).
    Email,
    /// A note on the deal's record.
    Note,
}

/// Writes to a CRM: only the write-back worker holds one, and it writes only what a person
/// approved.
#[async_trait]
pub trait CrmWriter: Send + Sync {
    /// Log `activity` on the deal (and its contact, where the CRM links them); the CRM's id of
    /// the new record.
    async fn log_activity(&self, deal_id: &str, activity: &Activity) -> Result<String, CrmError>;

    /// Apply exactly `changes` to the deal; what was written, one line per request.
    async fn update_deal(
        &self,
        deal_id: &str,
        changes: &[crate::domain::FieldChange],
    ) -> Result<Vec<String>, CrmError>;
}

/// A deal as a CRM's API lists it, for the sync.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncedDeal {
    pub id: String,
    /// Name, stage (won / lost resolved), amount, contact: what the CRM says now.
    pub snapshot: DealSnapshot,
    /// When the deal entered its current stage, if the CRM knows.
    pub stage_entered_at: Option<Timestamp>,
    /// The CRM's last modification of the deal: the sync's watermark.
    pub updated_at: Timestamp,
    pub deleted: bool,
    /// Recent calls, meetings and emails, each with the CRM's own id.
    pub activities: Vec<SyncedActivity>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyncedActivity {
    pub id: String,
    pub at: Timestamp,
    pub kind: crate::domain::EventKind,
}

/// One page of a CRM's deals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DealPage {
    pub deals: Vec<SyncedDeal>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

/// Reads a CRM's deals for the sync.
#[async_trait]
pub trait CrmSource: Send + Sync {
    /// The CRM's name (`pipedrive`, …), as deal references use it.
    fn crm(&self) -> &'static str;

    /// A page of every open deal (`since` = `None`, the first sync), or of every deal the CRM
    /// changed at or after `since`. `page` is the previous page's `next`.
    async fn deals(
        &self,
        since: Option<Timestamp>,
        page: Option<&str>,
    ) -> Result<DealPage, CrmError>;
}

/// Time is a port: nothing reads the system clock except the clock adapter.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}
