//! Embedded adapters on one SQLite file: the Pipeline store, the audit log, FIFO queues with
//! redrive, the event bus and the outbox. The local runner and the tests use them; the contract
//! suite holds them to the same behaviour as DynamoDB, SQS and EventBridge.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::domain::{
    AuditEntry, Deal, DealEvent, DealRef, DomainEvent, Draft, DraftStatus, Firing,
    FounderNotification, OutboundEmail, SentReceipt,
};
use crate::error::Cause;
use crate::ports::{
    keys, AuditLog, AuditReader, Clock, Delivery, EventPublisher, Notifier, NotifyError,
    PublishError, Queue, QueueConsumer, QueueError, QueueMessage, Recorded, SendError, Sender,
    SentLookup, StoreError,
};

const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS deals (pk TEXT PRIMARY KEY, version INTEGER NOT NULL, due_sk TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deals_due ON deals(due_sk) WHERE due_sk IS NOT NULL;
CREATE TABLE IF NOT EXISTS timeline (pk TEXT NOT NULL, sk TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (pk, sk));
CREATE TABLE IF NOT EXISTS dedup (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS firings (pk TEXT NOT NULL, sk TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (pk, sk));
CREATE TABLE IF NOT EXISTS drafts (id TEXT PRIMARY KEY, status TEXT NOT NULL, status_sk TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS drafts_status ON drafts(status, status_sk);
CREATE INDEX IF NOT EXISTS drafts_open_by_deal ON drafts(json_extract(doc, '$.deal.crm'), json_extract(doc, '$.deal.id')) WHERE status IN ('PENDING', 'SNOOZED');
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, deal_pk TEXT, sk TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_sk ON audit(sk);
CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, group_id TEXT NOT NULL,
  body TEXT NOT NULL, visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT);
CREATE INDEX IF NOT EXISTS queue_name ON queue(name, seq);
CREATE TABLE IF NOT EXISTS queue_dedup (name TEXT NOT NULL, dedup_id TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (name, dedup_id));
CREATE TABLE IF NOT EXISTS dead_letters (seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, body TEXT NOT NULL, receive_count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS published (seq INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS budget (day TEXT NOT NULL, occurrence TEXT NOT NULL, PRIMARY KEY (day, occurrence));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notices (key TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS links (link TEXT NOT NULL, crm TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (link, crm, id));
"#;

/// Webhook dedup claims live as long as the DynamoDB TTL keeps them.
const DEDUP_TTL_SECS: i64 = 30 * 24 * 3600;
/// SQS FIFO deduplication window.
const QUEUE_DEDUP_MS: i64 = 5 * 60 * 1000;
/// How long a received message stays invisible before it is handed out again.
const VISIBILITY_MS: i64 = 30_000;
/// Receives before a message moves to the dead-letter table (the DLQ's maxReceiveCount).
pub const MAX_RECEIVES: u32 = 5;

fn unavailable(e: impl Into<Cause>) -> StoreError {
    StoreError::Unavailable(e.into())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Wall-clock milliseconds for queue visibility and dedup windows: infrastructure timing,
/// deliberately independent of the business clock the runner can move.
fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub struct EmbeddedStore {
    conn: Mutex<Connection>,
}

impl EmbeddedStore {
    /// Open (or create) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Arc<EmbeddedStore>, StoreError> {
        std::fs::create_dir_all(dir).map_err(unavailable)?;
        let conn = Connection::open(dir.join("draftgate.sqlite3")).map_err(unavailable)?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> Result<Arc<EmbeddedStore>, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> Result<Arc<EmbeddedStore>, StoreError> {
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Arc::new(EmbeddedStore {
            conn: Mutex::new(conn),
        }))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A named FIFO queue in this store.
    pub fn queue(self: &Arc<Self>, name: &str) -> Arc<EmbeddedQueue> {
        Arc::new(EmbeddedQueue {
            store: self.clone(),
            name: name.to_string(),
        })
    }

    /// The outbox: the local runner's sender and founder notifier.
    pub fn outbox(self: &Arc<Self>, clock: Arc<dyn Clock>) -> Arc<Outbox> {
        Arc::new(Outbox {
            store: self.clone(),
            clock,
        })
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(unavailable)
    }

    pub fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Every message sent or notified, oldest first.
    pub fn outbox_entries(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        read_docs(&self.conn(), "SELECT doc FROM outbox ORDER BY seq", [])
    }

    /// Every domain event published, oldest first.
    pub fn published_events(&self) -> Result<Vec<DomainEvent>, StoreError> {
        read_docs(&self.conn(), "SELECT doc FROM published ORDER BY seq", [])
    }

    /// Messages that exhausted their receives, by queue name.
    pub fn dead_letters(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT body FROM dead_letters WHERE name = ?1 ORDER BY seq")
            .map_err(unavailable)?;
        let rows = stmt
            .query_map([name], |r| r.get::<_, String>(0))
            .map_err(unavailable)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
    }

    /// Every deal's state (the runner's `explain`, tests and dev tools).
    pub fn all_deals(&self) -> Result<Vec<Deal>, StoreError> {
        read_docs(&self.conn(), "SELECT doc FROM deals ORDER BY pk", [])
    }
}

fn read_docs<T: for<'de> Deserialize<'de>, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for doc in rows {
        let doc = doc.map_err(unavailable)?;
        out.push(serde_json::from_str(&doc).map_err(corrupt)?);
    }
    Ok(out)
}

fn to_doc<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(corrupt)
}

/// Write deal state under the optimistic-locking rule of `DealStore::record_event`.
fn write_deal(tx: &Connection, deal: &Deal) -> Result<(), StoreError> {
    let pk = keys::deal_pk(&deal.key);
    let due = deal.next_due_at.map(|t| keys::due_sk(t, &deal.key));
    let doc = to_doc(deal)?;
    let changed = if deal.version <= 1 {
        tx.execute(
            "INSERT INTO deals (pk, version, due_sk, doc) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(pk) DO NOTHING",
            params![pk, deal.version as i64, due, doc],
        )
    } else {
        tx.execute(
            "UPDATE deals SET version = ?2, due_sk = ?3, doc = ?4 WHERE pk = ?1 AND version = ?5",
            params![pk, deal.version as i64, due, doc, (deal.version - 1) as i64],
        )
    }
    .map_err(unavailable)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

fn draft_status_sk(draft: &Draft) -> String {
    let at = match (draft.status, draft.snoozed_until) {
        (DraftStatus::Snoozed, Some(until)) => until,
        _ => draft.created_at,
    };
    keys::status_sk(at, &draft.id)
}

#[async_trait]
impl crate::ports::DealStore for EmbeddedStore {
    async fn get_deal(&self, deal: &DealRef) -> Result<Option<Deal>, StoreError> {
        let doc: Option<String> = self
            .conn()
            .query_row(
                "SELECT doc FROM deals WHERE pk = ?1",
                [keys::deal_pk(deal)],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        doc.map(|d| serde_json::from_str(&d).map_err(corrupt))
            .transpose()
    }

    async fn record_event(&self, event: &DealEvent, deal: &Deal) -> Result<Recorded, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let now_s = wall_ms() / 1000;
        tx.execute(
            "DELETE FROM dedup WHERE id = ?1 AND expires_at < ?2",
            params![event.id, now_s],
        )
        .map_err(unavailable)?;
        let claimed = tx
            .execute(
                "INSERT INTO dedup (id, expires_at) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING",
                params![event.id, now_s + DEDUP_TTL_SECS],
            )
            .map_err(unavailable)?;
        if claimed == 0 {
            return Ok(Recorded::Duplicate);
        }
        tx.execute(
            "INSERT OR REPLACE INTO timeline (pk, sk, doc) VALUES (?1, ?2, ?3)",
            params![
                keys::deal_pk(&event.deal),
                keys::event_sk(event.occurred_at, &event.id),
                to_doc(event)?
            ],
        )
        .map_err(unavailable)?;
        // On conflict the transaction drops uncommitted, so the dedup claim is not burnt.
        write_deal(&tx, deal)?;
        tx.commit().map_err(unavailable)?;
        Ok(Recorded::Applied)
    }

    async fn is_duplicate(&self, _deal: &DealRef, event_id: &str) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM dedup WHERE id = ?1 AND expires_at >= ?2",
                params![event_id, wall_ms() / 1000],
                |r| r.get(0),
            )
            .map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn put_deal(&self, deal: &Deal) -> Result<(), StoreError> {
        write_deal(&self.conn(), deal)
    }

    async fn timeline(&self, deal: &DealRef) -> Result<Vec<DealEvent>, StoreError> {
        read_docs(
            &self.conn(),
            "SELECT doc FROM timeline WHERE pk = ?1 ORDER BY sk",
            [keys::deal_pk(deal)],
        )
    }

    async fn all_deals(&self, limit: usize) -> Result<Vec<Deal>, StoreError> {
        let mut deals = EmbeddedStore::all_deals(self)?;
        deals.truncate(limit);
        Ok(deals)
    }

    async fn due_deals(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(DealRef, Timestamp)>, StoreError> {
        let deals: Vec<Deal> = read_docs(
            &self.conn(),
            "SELECT doc FROM deals WHERE due_sk IS NOT NULL AND due_sk <= ?1 ORDER BY due_sk LIMIT ?2",
            params![keys::due_upper_bound(now), limit as i64],
        )?;
        Ok(deals
            .into_iter()
            .filter_map(|d| d.next_due_at.map(|t| (d.key, t)))
            .collect())
    }
}

#[async_trait]
impl crate::ports::DraftStore for EmbeddedStore {
    async fn claim_firing(&self, firing: &Firing) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "INSERT INTO firings (pk, sk, doc) VALUES (?1, ?2, ?3) ON CONFLICT(pk, sk) DO NOTHING",
                params![keys::deal_pk(&firing.deal), keys::firing_sk(&firing.occurrence), to_doc(firing)?],
            )
            .map_err(unavailable)?;
        Ok(n == 1)
    }

    async fn create_draft(&self, draft: &Draft) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "INSERT INTO drafts (id, status, status_sk, doc) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(id) DO NOTHING",
                params![draft.id, draft.status.as_str(), draft_status_sk(draft), to_doc(draft)?],
            )
            .map_err(unavailable)?;
        Ok(n == 1)
    }

    async fn get_draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
        let doc: Option<String> = self
            .conn()
            .query_row("SELECT doc FROM drafts WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(unavailable)?;
        doc.map(|d| serde_json::from_str(&d).map_err(corrupt))
            .transpose()
    }

    async fn update_draft(&self, draft: &Draft, expected: DraftStatus) -> Result<(), StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE drafts SET status = ?2, status_sk = ?3, doc = ?4 WHERE id = ?1 AND status = ?5",
                params![draft.id, draft.status.as_str(), draft_status_sk(draft), to_doc(draft)?, expected.as_str()],
            )
            .map_err(unavailable)?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn claim_budget(
        &self,
        day: &str,
        occurrence: &str,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let held: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM budget WHERE day = ?1 AND occurrence = ?2",
                params![day, occurrence],
                |r| r.get(0),
            )
            .map_err(unavailable)?;
        if held > 0 {
            return Ok(true);
        }
        let used: i64 = tx
            .query_row("SELECT COUNT(*) FROM budget WHERE day = ?1", [day], |r| {
                r.get(0)
            })
            .map_err(unavailable)?;
        if used >= limit as i64 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO budget (day, occurrence) VALUES (?1, ?2)",
            params![day, occurrence],
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(true)
    }

    async fn budget_used(&self, day: &str) -> Result<u32, StoreError> {
        let used: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM budget WHERE day = ?1", [day], |r| {
                r.get(0)
            })
            .map_err(unavailable)?;
        Ok(used as u32)
    }

    async fn open_drafts(&self, deal: &DealRef) -> Result<usize, StoreError> {
        // The partial index on the deal holds only waiting drafts; the trigger is then checked
        // on those few.
        let open: Vec<Draft> = read_docs(
            &self.conn(),
            "SELECT doc FROM drafts WHERE status IN ('PENDING', 'SNOOZED') \
             AND json_extract(doc, '$.deal.crm') = ?1 AND json_extract(doc, '$.deal.id') = ?2",
            params![deal.crm, deal.id],
        )?;
        Ok(open.iter().filter(|d| d.counts_as_open()).count())
    }

    async fn drafts_by_status(
        &self,
        status: DraftStatus,
        until: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Draft>, StoreError> {
        let upper = until
            .map(keys::due_upper_bound)
            .unwrap_or_else(|| "~".to_string());
        read_docs(
            &self.conn(),
            "SELECT doc FROM drafts WHERE status = ?1 AND status_sk <= ?2 ORDER BY status_sk LIMIT ?3",
            params![status.as_str(), upper, limit as i64],
        )
    }
}

#[async_trait]
impl crate::ports::Bookkeeping for EmbeddedStore {
    async fn put_links(&self, deal: &DealRef, links: &[String]) -> Result<(), StoreError> {
        let conn = self.conn();
        for link in links {
            conn.execute(
                "INSERT OR IGNORE INTO links (link, crm, id) VALUES (?1, ?2, ?3)",
                params![link, deal.crm, deal.id],
            )
            .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn linked(&self, link: &str) -> Result<Vec<DealRef>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT crm, id FROM links WHERE link = ?1 ORDER BY crm, id")
            .map_err(unavailable)?;
        let rows = stmt
            .query_map([link], |r| {
                Ok(DealRef::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(unavailable)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
    }

    async fn add_notice(&self, key: &str, text: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO notices (key, text) VALUES (?1, ?2)",
                params![key, text],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn notices(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT key, text FROM notices ORDER BY key LIMIT ?1")
            .map_err(unavailable)?;
        let rows = stmt
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(unavailable)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
    }

    async fn remove_notice(&self, key: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM notices WHERE key = ?1", [key])
            .map_err(unavailable)?;
        Ok(())
    }

    async fn marker(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.meta_get(&format!("marker:{name}"))
    }

    async fn set_marker(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.meta_set(&format!("marker:{name}"), value)
    }
}

#[async_trait]
impl AuditLog for EmbeddedStore {
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let n = self
            .conn()
            .execute(
                "INSERT INTO audit (id, deal_pk, sk, doc) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(id) DO NOTHING",
                params![entry.id, entry.deal.as_ref().map(keys::deal_pk), keys::audit_sk(entry.at, &entry.id), to_doc(entry)?],
            )
            .map_err(unavailable)?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }
}

#[async_trait]
impl AuditReader for EmbeddedStore {
    async fn entries(&self, deal: Option<&DealRef>) -> Result<Vec<AuditEntry>, StoreError> {
        match deal {
            Some(d) => read_docs(
                &self.conn(),
                "SELECT doc FROM audit WHERE deal_pk = ?1 ORDER BY sk",
                [keys::deal_pk(d)],
            ),
            None => read_docs(&self.conn(), "SELECT doc FROM audit ORDER BY sk", []),
        }
    }
}

#[async_trait]
impl EventPublisher for EmbeddedStore {
    async fn publish(&self, event: &DomainEvent) -> Result<(), PublishError> {
        let doc = serde_json::to_string(event).map_err(|e| PublishError(e.into()))?;
        self.conn()
            .execute("INSERT INTO published (doc) VALUES (?1)", [doc])
            .map(|_| ())
            .map_err(|e| PublishError(e.into()))
    }
}

/// A FIFO queue with SQS semantics: per-group order (one message of a group in flight at a
/// time), a five-minute dedup window, a visibility timeout and redrive to dead letters.
pub struct EmbeddedQueue {
    store: Arc<EmbeddedStore>,
    name: String,
}

fn queue_err(e: impl Into<Cause>) -> QueueError {
    QueueError::Unavailable(e.into())
}

impl EmbeddedQueue {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages waiting or in flight.
    pub fn depth(&self) -> Result<usize, QueueError> {
        let n: i64 = self
            .store
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM queue WHERE name = ?1",
                [&self.name],
                |r| r.get(0),
            )
            .map_err(queue_err)?;
        Ok(n as usize)
    }

    /// Make a received message visible again after `delay` (a failed attempt).
    pub fn release(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.store
            .conn()
            .execute(
                "UPDATE queue SET visible_at = ?2, receipt = NULL WHERE receipt = ?1",
                params![receipt, wall_ms() + delay.as_millis() as i64],
            )
            .map(|_| ())
            .map_err(queue_err)
    }

    /// Move this queue's dead letters back onto it, oldest first, each in its own group (what an
    /// SQS dead-letter queue redrive does); returns how many moved. Their receive counts start
    /// again.
    pub fn redrive(&self) -> Result<usize, QueueError> {
        let mut conn = self.store.conn();
        let tx = conn.transaction().map_err(queue_err)?;
        let moved = tx
            .execute(
                "INSERT INTO queue (name, group_id, body, visible_at) SELECT name, 'redrive-' || seq, body, ?2 FROM dead_letters WHERE name = ?1 ORDER BY seq",
                params![self.name, wall_ms()],
            )
            .map_err(queue_err)?;
        tx.execute("DELETE FROM dead_letters WHERE name = ?1", [&self.name])
            .map_err(queue_err)?;
        tx.commit().map_err(queue_err)?;
        Ok(moved)
    }

    /// When the next waiting message becomes visible, if any (for the runner's worker loop).
    pub fn next_visible_at_ms(&self) -> Result<Option<i64>, QueueError> {
        self.store
            .conn()
            .query_row(
                "SELECT MIN(visible_at) FROM queue WHERE name = ?1",
                [&self.name],
                |r| r.get(0),
            )
            .map_err(queue_err)
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), QueueError> {
        let mut conn = self.store.conn();
        let tx = conn.transaction().map_err(queue_err)?;
        let now = wall_ms();
        tx.execute("DELETE FROM queue_dedup WHERE expires_at < ?1", [now])
            .map_err(queue_err)?;
        let fresh = tx
            .execute(
                "INSERT INTO queue_dedup (name, dedup_id, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![self.name, message.dedup_id, now + QUEUE_DEDUP_MS],
            )
            .map_err(queue_err)?;
        if fresh == 1 {
            tx.execute(
                "INSERT INTO queue (name, group_id, body, visible_at) VALUES (?1, ?2, ?3, ?4)",
                params![self.name, message.group_id, message.body, now],
            )
            .map_err(queue_err)?;
        }
        tx.commit().map_err(queue_err)
    }
}

#[async_trait]
impl QueueConsumer for EmbeddedQueue {
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let mut conn = self.store.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(queue_err)?;
        let now = wall_ms();
        let rows: Vec<(i64, String, String, i64, i64, Option<String>)> = {
            let mut stmt = tx
                .prepare("SELECT seq, group_id, body, visible_at, receive_count, receipt FROM queue WHERE name = ?1 ORDER BY seq")
                .map_err(queue_err)?;
            let rows = stmt
                .query_map([&self.name], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .map_err(queue_err)?;
            rows.collect::<Result<_, _>>().map_err(queue_err)?
        };
        let mut blocked_groups = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (seq, group, body, visible_at, count, receipt) in rows {
            if out.len() >= max {
                break;
            }
            let in_flight = receipt.is_some() && visible_at > now;
            // FIFO: a group with a message in flight or still waiting its turn blocks later ones.
            if !blocked_groups.insert(group) || in_flight || visible_at > now {
                continue;
            }
            if count as u32 >= MAX_RECEIVES {
                tx.execute(
                    "INSERT INTO dead_letters (name, body, receive_count) VALUES (?1, ?2, ?3)",
                    params![self.name, body, count],
                )
                .map_err(queue_err)?;
                tx.execute("DELETE FROM queue WHERE seq = ?1", [seq])
                    .map_err(queue_err)?;
                continue;
            }
            let receipt = ulid::Ulid::new().to_string();
            tx.execute(
                "UPDATE queue SET receipt = ?2, visible_at = ?3, receive_count = receive_count + 1 WHERE seq = ?1",
                params![seq, receipt, now + VISIBILITY_MS],
            )
            .map_err(queue_err)?;
            out.push(Delivery {
                id: seq.to_string(),
                body,
                receipt,
                receive_count: count as u32 + 1,
            });
        }
        tx.commit().map_err(queue_err)?;
        Ok(out)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.store
            .conn()
            .execute("DELETE FROM queue WHERE receipt = ?1", [receipt])
            .map(|_| ())
            .map_err(queue_err)
    }
}

/// One message in the local runner's outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// `prospect` (an approved message) or `founder` (a review notification).
    pub kind: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub subject: String,
    pub body: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The message it answers, when it continues a conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
}

/// The local runner's sender and notifier: everything lands in the outbox table.
pub struct Outbox {
    store: Arc<EmbeddedStore>,
    clock: Arc<dyn Clock>,
}

impl Outbox {
    fn push(&self, entry: &OutboxEntry) -> Result<(), Cause> {
        let doc = serde_json::to_string(entry)?;
        self.store
            .conn()
            .execute("INSERT INTO outbox (doc) VALUES (?1)", [doc])?;
        Ok(())
    }
}

impl Outbox {
    /// Record a message to a prospect that `receipt` says left (by the outbox itself, or by
    /// the founder's mailbox when the runner sends through it too).
    pub fn record_sent(&self, email: &OutboundEmail, receipt: &SentReceipt) -> Result<(), Cause> {
        // As a sender would write it: the headers through the one encoder.
        let h = email.headers()?;
        self.push(&OutboxEntry {
            kind: "prospect".into(),
            to: h.to.encoded(),
            from: Some(h.from.encoded()),
            subject: h.subject,
            body: email.body.clone(),
            at: self.clock.now(),
            draft_id: Some(email.draft_id.clone()),
            review_url: None,
            message_id: Some(receipt.id.clone()),
            in_reply_to: h.in_reply_to,
        })
    }

    /// The message already recorded for `draft_id`, if any.
    pub fn sent_for(&self, draft_id: &str) -> Result<Option<OutboxEntry>, Cause> {
        Ok(self
            .store
            .outbox_entries()?
            .into_iter()
            .find(|e| e.kind == "prospect" && e.draft_id.as_deref() == Some(draft_id)))
    }
}

#[async_trait]
impl Sender for Outbox {
    async fn send(&self, email: &OutboundEmail) -> Result<SentReceipt, SendError> {
        email
            .headers()
            .map_err(|e| SendError::Rejected(Box::new(e)))?;
        let receipt = SentReceipt {
            id: format!("outbox-{}", ulid::Ulid::new()),
            conversation: None,
        };
        self.record_sent(email, &receipt)
            .map_err(SendError::Unavailable)?;
        Ok(receipt)
    }

    fn finds_sent(&self) -> bool {
        true
    }

    async fn find_sent(&self, email: &OutboundEmail) -> Result<SentLookup, SendError> {
        Ok(
            match self
                .sent_for(&email.draft_id)
                .map_err(SendError::Unavailable)?
            {
                Some(entry) => SentLookup::Found(SentReceipt {
                    id: entry.message_id.unwrap_or_default(),
                    conversation: None,
                }),
                None => SentLookup::NotFound,
            },
        )
    }
}

#[async_trait]
impl Notifier for Outbox {
    async fn notify(&self, note: &FounderNotification) -> Result<(), NotifyError> {
        self.push(&OutboxEntry {
            kind: "founder".into(),
            to: note.to.clone(),
            from: None,
            subject: crate::domain::headers::subject(&note.subject),
            body: note.body.clone(),
            at: self.clock.now(),
            draft_id: note.draft_id.clone(),
            review_url: note.review_url.clone(),
            message_id: None,
            in_reply_to: None,
        })
        .map_err(NotifyError)
    }
}
