//! The Pipeline and Audit tables on DynamoDB.
//!
//! Items are the domain structs as `serde_dynamo` writes them (so the table stays readable in
//! the console) plus the key and index attributes from [`crate::keys`]. The index attributes
//! are derived from the struct on every write, so an item and its index entries never disagree.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use jiff::{SignedDuration, Timestamp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_dynamo::aws_sdk_dynamodb_1 as dynamo;

use super::{classify, Failure};
use crate::adapters::clock::SystemClock;
use crate::domain::{AuditEntry, Deal, DealEvent, DealRef, Draft, DraftStatus, Firing};
use crate::error::Chain;
use crate::ports::{
    keys, AuditLog, AuditReader, Bookkeeping, Clock, DealStore, DraftStore, Recorded, StoreError,
};

type Item = HashMap<String, AttributeValue>;

/// How long a day's budget item is kept after its first claim (it is read only on its own day).
const BUDGET_RETENTION: SignedDuration = SignedDuration::from_hours(8 * 24);

/// Attributes of the budget item (`keys::budget_pk`): the day, slots taken, and the
/// occurrences holding them (a string set).
const BUDGET_DAY: &str = "day";
const BUDGET_USED: &str = "used";
const BUDGET_OCCURRENCES: &str = "occurrences";

/// The sort-key prefix shared by every timeline entry (`keys::event_id_sk`, and
/// `keys::event_sk` for entries written before).
const EVENT_SK_PREFIX: &str = "EVENT#";

/// Attributes that exist only for keys and indexes; stripped before decoding a domain struct.
const KEY_ATTRIBUTES: [&str; 7] = [
    keys::PK,
    keys::SK,
    keys::GSI_DUE_PK,
    keys::GSI_DUE_SK,
    keys::GSI_STATUS_PK,
    keys::GSI_STATUS_SK,
    keys::TTL_ATTR,
];

/// Position of each write inside the `record_event` transaction; cancellation reasons are
/// reported in the same order.
const TX_EVENT: usize = 0;
const TX_DEAL: usize = 1;

/// [`PipelineStore`] on the single Pipeline table.
#[derive(Clone, Debug)]
pub struct DynamoPipelineStore {
    client: Client,
    table: String,
}

impl DynamoPipelineStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoPipelineStore {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        Ok(out.item)
    }

    /// An unconditional PutItem (idempotent items: links, markers).
    async fn put_plain(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error("PutItem", e))?;
        Ok(())
    }

    /// Whether an event recorded before timeline entries were keyed by event id left a claim
    /// of its own (`keys::dedup_pk`). Those claims are no longer written and expire within 30
    /// days, so an eventually consistent read (half a read unit) is enough.
    async fn legacy_claim(&self, event_id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::dedup_pk(event_id)))
            .key(keys::SK, s(keys::DEDUP_SK))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", keys::PK)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        Ok(out.item.is_some())
    }

    /// A conditional PutItem; `Ok(false)` when the condition failed.
    async fn put_if(&self, item: Item, condition: Condition) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition.expression)
            .set_expression_attribute_names(condition.names)
            .set_expression_attribute_values(condition.values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(store_error("PutItem", e)),
        }
    }
}

#[async_trait]
impl DealStore for DynamoPipelineStore {
    async fn get_deal(&self, deal: &DealRef) -> Result<Option<Deal>, StoreError> {
        self.get(keys::deal_pk(deal), keys::STATE_SK)
            .await?
            .map(decode)
            .transpose()
    }

    async fn record_event(&self, event: &DealEvent, deal: &Deal) -> Result<Recorded, StoreError> {
        let condition = version_condition(deal.version)?;
        if self.legacy_claim(&event.id).await? {
            return Ok(Recorded::Duplicate);
        }
        // The timeline entry is the redelivery claim: keyed by the event id, written only if
        // absent, in the same transaction as the deal's new state (two items: the fewest
        // write units that keep the event and the state it leads to together).
        let mut entry = encode(event)?;
        strip_nulls(&mut entry);
        entry.insert(keys::PK.into(), s(keys::deal_pk(&event.deal)));
        entry.insert(keys::SK.into(), s(keys::event_id_sk(&event.id)));

        let writes = [
            // TX_EVENT
            self.put(entry, Some(Condition::not_exists()))?,
            // TX_DEAL
            self.put(deal_item(deal)?, Some(condition))?,
        ];
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(
                writes
                    .into_iter()
                    .map(|p| TransactWriteItem::builder().put(p).build())
                    .collect(),
            ))
            .send()
            .await;
        let Err(err) = result else {
            return Ok(Recorded::Applied);
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        {
            let reason = |i: usize| {
                cancelled
                    .cancellation_reasons()
                    .get(i)
                    .and_then(|r| r.code())
            };
            // A seen event id wins over a stale version: the event is already in, nothing to redo.
            if reason(TX_EVENT) == Some("ConditionalCheckFailed") {
                return Ok(Recorded::Duplicate);
            }
            if reason(TX_DEAL) == Some("ConditionalCheckFailed") {
                return Err(StoreError::Conflict);
            }
            // Another transaction was writing one of these items: re-read and retry.
            if cancelled
                .cancellation_reasons()
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"))
            {
                return Err(StoreError::Conflict);
            }
        }
        Err(store_error("TransactWriteItems", err))
    }

    async fn is_duplicate(&self, deal: &DealRef, event_id: &str) -> Result<bool, StoreError> {
        if self
            .get(keys::deal_pk(deal), &keys::event_id_sk(event_id))
            .await?
            .is_some()
        {
            return Ok(true);
        }
        self.legacy_claim(event_id).await
    }

    async fn put_deal(&self, deal: &Deal) -> Result<(), StoreError> {
        let condition = version_condition(deal.version)?;
        match self.put_if(deal_item(deal)?, condition).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict),
        }
    }

    async fn timeline(&self, deal: &DealRef) -> Result<Vec<DealEvent>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::deal_pk(deal)))
            .expression_attribute_values(":prefix", s(EVENT_SK_PREFIX))
            .consistent_read(true);
        let mut events = query_all(query, usize::MAX)
            .await?
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<DealEvent>, _>>()?;
        // Keyed by id (and, before that, by time then id): in the order they happened.
        events.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
        Ok(events)
    }

    async fn all_deals(&self, limit: usize) -> Result<Vec<Deal>, StoreError> {
        let mut deals = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :state")
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":state", s(keys::STATE_SK))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("Scan", e))?;
            for item in out.items.unwrap_or_default() {
                deals.push(decode::<Deal>(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || deals.len() >= limit {
                break;
            }
        }
        deals.sort_by(|a, b| a.key.cmp(&b.key));
        deals.truncate(limit);
        Ok(deals)
    }

    async fn due_deals(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(DealRef, Timestamp)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI_DUE)
            .key_condition_expression("#pk = :pk AND #sk <= :upper")
            .expression_attribute_names("#pk", keys::GSI_DUE_PK)
            .expression_attribute_names("#sk", keys::GSI_DUE_SK)
            .expression_attribute_values(":pk", s(keys::DUE_PARTITION))
            .expression_attribute_values(":upper", s(keys::due_upper_bound(now)));
        query_all(query, limit)
            .await?
            .iter()
            .map(|item| parse_due_sk(string_attr(item, keys::GSI_DUE_SK)?))
            .collect()
    }
}

#[async_trait]
impl DraftStore for DynamoPipelineStore {
    async fn claim_firing(&self, firing: &Firing) -> Result<bool, StoreError> {
        let mut item = encode(firing)?;
        item.insert(keys::PK.into(), s(keys::deal_pk(&firing.deal)));
        item.insert(keys::SK.into(), s(keys::firing_sk(&firing.occurrence)));
        self.put_if(item, Condition::not_exists()).await
    }

    async fn create_draft(&self, draft: &Draft) -> Result<bool, StoreError> {
        self.put_if(draft_item(draft)?, Condition::not_exists())
            .await
    }

    async fn get_draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
        self.get(keys::draft_pk(id), keys::DRAFT_SK)
            .await?
            .map(decode)
            .transpose()
    }

    async fn update_draft(&self, draft: &Draft, expected: DraftStatus) -> Result<(), StoreError> {
        let condition = Condition {
            expression: "#status = :expected",
            names: Some(HashMap::from([("#status".into(), "status".into())])),
            values: Some(HashMap::from([(":expected".into(), s(expected.as_str()))])),
        };
        match self.put_if(draft_item(draft)?, condition).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict),
        }
    }

    async fn claim_budget(
        &self,
        day: &str,
        occurrence: &str,
        limit: u32,
    ) -> Result<bool, StoreError> {
        if limit == 0 {
            // No slot can be taken (the condition below lets a day's first claim through
            // whatever the limit); an earlier holder still keeps its slot.
            return self.holds_budget_slot(day, occurrence).await;
        }
        // Old days' items go away by TTL, which compares with the real clock (the business
        // clock may be moved by tests and replays).
        let expires_at = SystemClock
            .now()
            .checked_add(BUDGET_RETENTION)
            .map_err(|e| StoreError::Corrupt(format!("budget expiry: {e}")))?;
        // One conditional update takes the slot and records who holds it, so concurrent claims
        // can never take more than `limit` slots between them.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::budget_pk(day)))
            .key(keys::SK, s(keys::BUDGET_SK))
            .update_expression(
                "SET #day = :day, #ttl = if_not_exists(#ttl, :expires) ADD #used :one, #occ :occset",
            )
            .condition_expression(
                "(attribute_not_exists(#used) OR #used < :limit) AND NOT contains(#occ, :o)",
            )
            .expression_attribute_names("#day", BUDGET_DAY)
            .expression_attribute_names("#ttl", keys::TTL_ATTR)
            .expression_attribute_names("#used", BUDGET_USED)
            .expression_attribute_names("#occ", BUDGET_OCCURRENCES)
            .expression_attribute_values(":day", s(day))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N(expires_at.as_second().to_string()),
            )
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":occset", AttributeValue::Ss(vec![occurrence.into()]))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":o", s(occurrence))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // Either the day is full or this occurrence already holds a slot: the item says which.
            Err(e) if is_condition_failure(&e) => self.holds_budget_slot(day, occurrence).await,
            Err(e) => Err(store_error("UpdateItem", e)),
        }
    }

    async fn budget_used(&self, day: &str) -> Result<u32, StoreError> {
        let Some(item) = self.get(keys::budget_pk(day), keys::BUDGET_SK).await? else {
            return Ok(0);
        };
        match item.get(BUDGET_USED) {
            None => Ok(0),
            Some(AttributeValue::N(n)) => n.parse().map_err(|_| {
                StoreError::Corrupt(format!("budget {day}: `{BUDGET_USED}` is {n:?}"))
            }),
            Some(_) => Err(StoreError::Corrupt(format!(
                "budget {day}: `{BUDGET_USED}` is not a number"
            ))),
        }
    }

    async fn open_drafts(&self, deal: &DealRef) -> Result<usize, StoreError> {
        // The index is KEYS_ONLY: the read is billed on this deal's few keys, never the queue.
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI_OPEN)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::GSI_OPEN_PK)
            .expression_attribute_values(":pk", s(keys::open_pk(deal)));
        Ok(query_all(query, usize::MAX).await?.len())
    }

    async fn drafts_by_status(
        &self,
        status: DraftStatus,
        until: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Draft>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI_STATUS)
            .expression_attribute_names("#pk", keys::GSI_STATUS_PK)
            .expression_attribute_values(":pk", s(keys::status_pk(status)));
        query = match until {
            // `due_upper_bound` is the generic "index time at or before" bound: the status
            // index's sort key has the same `<sortable time>#<id>` shape as the due index's.
            Some(until) => query
                .key_condition_expression("#pk = :pk AND #sk <= :upper")
                .expression_attribute_names("#sk", keys::GSI_STATUS_SK)
                .expression_attribute_values(":upper", s(keys::due_upper_bound(until))),
            None => query.key_condition_expression("#pk = :pk"),
        };
        query_all(query, limit)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }
}

#[async_trait]
impl Bookkeeping for DynamoPipelineStore {
    async fn put_links(&self, deal: &DealRef, links: &[String]) -> Result<(), StoreError> {
        for link in links {
            let mut item = Item::new();
            item.insert(keys::PK.into(), s(keys::link_pk(link)));
            item.insert(keys::SK.into(), s(keys::deal_pk(deal)));
            item.insert("crm".into(), s(deal.crm.clone()));
            item.insert("deal_id".into(), s(deal.id.clone()));
            self.put_plain(item).await?;
        }
        Ok(())
    }

    async fn linked(&self, link: &str) -> Result<Vec<DealRef>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(keys::link_pk(link)));
        query_all(query, usize::MAX)
            .await?
            .into_iter()
            .map(|item| {
                Ok(DealRef::new(
                    string_attr(&item, "crm")?,
                    string_attr(&item, "deal_id")?,
                ))
            })
            .collect()
    }

    async fn add_notice(&self, key: &str, text: &str) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::NOTICES_PK));
        item.insert(keys::SK.into(), s(key));
        item.insert("text".into(), s(text));
        self.put_if(item, Condition::not_exists()).await.map(|_| ())
    }

    async fn notices(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(keys::NOTICES_PK))
            .consistent_read(true);
        query_all(query, limit)
            .await?
            .into_iter()
            .map(|item| {
                Ok((
                    string_attr(&item, keys::SK)?.to_string(),
                    string_attr(&item, "text")?.to_string(),
                ))
            })
            .collect()
    }

    async fn remove_notice(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::NOTICES_PK))
            .key(keys::SK, s(key))
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", e))?;
        Ok(())
    }

    async fn marker(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.get(keys::marker_pk(name), keys::MARKER_SK).await? {
            Some(item) => Ok(Some(string_attr(&item, "value")?.to_string())),
            None => Ok(None),
        }
    }

    async fn set_marker(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::marker_pk(name)));
        item.insert(keys::SK.into(), s(keys::MARKER_SK));
        item.insert("value".into(), s(value));
        self.put_plain(item).await
    }
}

impl DynamoPipelineStore {
    /// Whether `occurrence` holds one of `day`'s budget slots.
    async fn holds_budget_slot(&self, day: &str, occurrence: &str) -> Result<bool, StoreError> {
        let item = self.get(keys::budget_pk(day), keys::BUDGET_SK).await?;
        Ok(matches!(
            item.as_ref().and_then(|i| i.get(BUDGET_OCCURRENCES)),
            Some(AttributeValue::Ss(held)) if held.iter().any(|o| o == occurrence)
        ))
    }

    fn put(&self, item: Item, condition: Option<Condition>) -> Result<Put, StoreError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            put = put
                .condition_expression(c.expression)
                .set_expression_attribute_names(c.names)
                .set_expression_attribute_values(c.values);
        }
        put.build()
            .map_err(|e| StoreError::Corrupt(format!("transaction item: {e}")))
    }
}

/// [`AuditLog`] and [`AuditReader`] on the Audit table. Deployed functions may only `PutItem`.
#[derive(Clone, Debug)]
pub struct DynamoAuditLog {
    client: Client,
    table: String,
}

impl DynamoAuditLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoAuditLog {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl AuditLog for DynamoAuditLog {
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut item = encode(entry)?;
        item.insert(keys::PK.into(), s(keys::audit_pk(entry.deal.as_ref())));
        item.insert(keys::SK.into(), s(keys::audit_sk(entry.at, &entry.id)));
        let condition = Condition::not_exists();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition.expression)
            .set_expression_attribute_names(condition.names)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(store_error("PutItem", e)),
        }
    }
}

#[async_trait]
impl AuditReader for DynamoAuditLog {
    async fn entries(&self, deal: Option<&DealRef>) -> Result<Vec<AuditEntry>, StoreError> {
        let items = match deal {
            Some(deal) => {
                let query = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", keys::PK)
                    .expression_attribute_values(":pk", s(keys::audit_pk(Some(deal))))
                    .consistent_read(true);
                query_all(query, usize::MAX).await?
            }
            // Reading everything is for tests and dev tools only, so a Scan is acceptable here.
            None => {
                let mut items = Vec::new();
                let mut start = None;
                loop {
                    let out = self
                        .client
                        .scan()
                        .table_name(&self.table)
                        .consistent_read(true)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .map_err(|e| store_error("Scan", e))?;
                    items.extend(out.items.unwrap_or_default());
                    start = out.last_evaluated_key;
                    if start.is_none() {
                        break;
                    }
                }
                items
            }
        };
        let mut entries = items
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<AuditEntry>, _>>()?;
        entries.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(entries)
    }
}

/// A condition expression with its placeholders.
struct Condition {
    expression: &'static str,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl Condition {
    fn not_exists() -> Condition {
        Condition {
            expression: "attribute_not_exists(#pk)",
            names: Some(HashMap::from([("#pk".into(), keys::PK.into())])),
            values: None,
        }
    }
}

/// The optimistic-locking rule: version 1 creates, version n replaces version n - 1.
fn version_condition(version: u64) -> Result<Condition, StoreError> {
    match version {
        // No stored deal can have version -1.
        0 => Err(StoreError::Conflict),
        1 => Ok(Condition::not_exists()),
        n => Ok(Condition {
            expression: "#version = :previous",
            names: Some(HashMap::from([("#version".into(), "version".into())])),
            values: Some(HashMap::from([(
                ":previous".into(),
                AttributeValue::N((n - 1).to_string()),
            )])),
        }),
    }
}

/// Drops the top-level attributes that are null (an absent `Option` field reads back as
/// `None`): each would cost its name in every write of the item.
fn strip_nulls(item: &mut Item) {
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
}

fn deal_item(deal: &Deal) -> Result<Item, StoreError> {
    let mut item = encode(deal)?;
    strip_nulls(&mut item);
    item.insert(keys::PK.into(), s(keys::deal_pk(&deal.key)));
    item.insert(keys::SK.into(), s(keys::STATE_SK));
    // Sparse due index: a deal with nothing due has no entry in it.
    if let Some(due) = deal.next_due_at {
        item.insert(keys::GSI_DUE_PK.into(), s(keys::DUE_PARTITION));
        item.insert(keys::GSI_DUE_SK.into(), s(keys::due_sk(due, &deal.key)));
    }
    Ok(item)
}

fn draft_item(draft: &Draft) -> Result<Item, StoreError> {
    let mut item = encode(draft)?;
    item.insert(keys::PK.into(), s(keys::draft_pk(&draft.id)));
    item.insert(keys::SK.into(), s(keys::DRAFT_SK));
    let index_at = match (draft.status, draft.snoozed_until) {
        (DraftStatus::Snoozed, Some(until)) => until,
        _ => draft.created_at,
    };
    item.insert(keys::GSI_STATUS_PK.into(), s(keys::status_pk(draft.status)));
    item.insert(
        keys::GSI_STATUS_SK.into(),
        s(keys::status_sk(index_at, &draft.id)),
    );
    // In the open-drafts index only while it waits: a decided draft's put drops it there.
    if draft.counts_as_open() {
        item.insert(keys::GSI_OPEN_PK.into(), s(keys::open_pk(&draft.deal)));
        item.insert(keys::GSI_OPEN_SK.into(), s(&draft.id));
    }
    Ok(item)
}

/// Reads the deal and due time back from a due-index sort key (`<due>#DEAL#<crm>#<id>`); the
/// index is KEYS_ONLY. The parse is checked by rebuilding the key with `keys::due_sk`, so a
/// crm name containing `#` (which would make the key ambiguous) is reported, not guessed.
fn parse_due_sk(sk: &str) -> Result<(DealRef, Timestamp), StoreError> {
    let corrupt = || StoreError::Corrupt(format!("unexpected due index key {sk:?}"));
    let (due, pk) = sk.split_once('#').ok_or_else(corrupt)?;
    let due: Timestamp = due.parse().map_err(|_| corrupt())?;
    let (crm, id) = pk
        .strip_prefix("DEAL#")
        .and_then(|rest| rest.split_once('#'))
        .ok_or_else(corrupt)?;
    let deal = DealRef::new(crm, id);
    if keys::due_sk(due, &deal) != sk {
        return Err(corrupt());
    }
    Ok((deal, due))
}

/// Runs a query to the end or until `limit` items, following pagination.
async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    limit: usize,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    while items.len() < limit {
        let page_limit = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
        let out = query
            .clone()
            .limit(page_limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| store_error("Query", e))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    items.truncate(limit);
    Ok(items)
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn string_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "item without string attribute {name}"
        ))),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    dynamo::to_item(value).map_err(|e| StoreError::Corrupt(format!("encoding item: {e}")))
}

fn decode<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    let pk = match item.get(keys::PK) {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => String::new(),
    };
    for name in KEY_ATTRIBUTES {
        item.remove(name);
    }
    dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("item {pk}: {e}")))
}

fn is_condition_failure<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(err, SdkError::ServiceError(service) if service.err().code() == Some("ConditionalCheckFailedException"))
}

/// DynamoDB errors as store errors: only a request DynamoDB rejects as invalid (an item it
/// cannot take) is `Corrupt`; everything else, including a missing table or permission, is
/// `Unavailable`, so the caller answers "retry later" and nothing accepted is dropped.
fn store_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let invalid = matches!(
        err.code(),
        Some("ValidationException" | "SerializationException")
    );
    match classify(operation, err) {
        Failure::Permanent(cause) if invalid => StoreError::Corrupt(Chain(&*cause).to_string()),
        Failure::Permanent(cause) | Failure::Transient(cause) => StoreError::Unavailable(cause),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_timeline_prefix_matches_the_event_sort_key() {
        assert!(keys::event_sk(ts("2024-11-21T10:05:12Z"), "e1").starts_with(EVENT_SK_PREFIX));
        assert!(keys::event_id_sk("e1").starts_with(EVENT_SK_PREFIX));
    }

    #[test]
    fn a_due_index_key_parses_back_into_its_deal_and_time() {
        let deal = DealRef::new("hubspot", "185#44");
        let due = ts("2024-11-24T10:00:00.250Z");
        assert_eq!(
            parse_due_sk(&keys::due_sk(due, &deal)).unwrap(),
            (deal, due)
        );
    }

    #[test]
    fn a_malformed_due_index_key_is_corrupt() {
        for sk in [
            "",
            "2024-11-24T10:00:00.000Z",
            "nope#DEAL#a#b",
            "2024-11-24T10:00:00.000Z#DRAFT#x",
        ] {
            assert!(
                matches!(parse_due_sk(sk), Err(StoreError::Corrupt(_))),
                "{sk}"
            );
        }
    }

    /// DynamoDB's billed size of an item: attribute names and values by its documented rules.
    fn item_size(item: &Item) -> usize {
        fn value(v: &AttributeValue) -> usize {
            match v {
                AttributeValue::S(s) => s.len(),
                AttributeValue::N(n) => {
                    let digits = n.trim_start_matches('-').replace('.', "");
                    digits.trim_matches('0').len().max(1).div_ceil(2) + 1
                }
                AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
                AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
                AttributeValue::L(list) => 3 + list.iter().map(|v| value(v) + 1).sum::<usize>(),
                AttributeValue::M(map) => {
                    3 + map
                        .iter()
                        .map(|(k, v)| k.len() + value(v) + 1)
                        .sum::<usize>()
                }
                other => panic!("unexpected attribute {other:?}"),
            }
        }
        item.iter().map(|(k, v)| k.len() + value(v)).sum()
    }

    /// Write units are per KB (twice in a transaction): a deal after its first events, and
    /// each event, stay within one.
    #[test]
    fn a_typical_deal_and_its_events_each_fit_in_one_write_unit() {
        let config = crate::config::Config::bundled().unwrap();
        let at = ts("2026-03-02T10:00:00Z");
        let mut deal: Option<Deal> = None;
        for (i, kind) in ["deal_created", "proposal_sent"].iter().enumerate() {
            let body = serde_json::json!({ "events": [{
                "id": format!("hubspot:44556677:2465712:381627934{i}"), "type": kind,
                "occurred_at": at.to_string(),
                "deal": { "crm": "hubspot", "id": "18550123456", "name": "Acme Corp - Website relaunch",
                          "amount": 24000, "currency": "EUR", "deal_type": "new_business",
                          "contact": { "email": "jane.doe@acme.example", "first_name": "Jane" } } }] })
            .to_string();
            let event = &crate::providers::generic::parse_batch(body.as_bytes()).unwrap()[0];
            let mut next = deal
                .take()
                .unwrap_or_else(|| Deal::new(event.deal.clone(), event.occurred_at));
            next.version += 1;
            next.linked
                .extend(crate::domain::mail::contact_links("jane.doe@acme.example"));
            crate::rules::apply(&mut next, event, &config);
            next.next_due_at = crate::rules::evaluate(&next, &config, at).next_due_at;
            let mut entry = encode(event).unwrap();
            strip_nulls(&mut entry);
            entry.insert(keys::PK.into(), s(keys::deal_pk(&event.deal)));
            entry.insert(keys::SK.into(), s(keys::event_id_sk(&event.id)));
            assert!(
                item_size(&entry) <= 1024,
                "{kind}: event item {} bytes",
                item_size(&entry)
            );
            deal = Some(next);
        }
        let deal = deal.unwrap();
        assert!(deal.next_due_at.is_some(), "a proposal makes the deal due");
        let item = deal_item(&deal).unwrap();
        assert!(
            item_size(&item) <= 1024,
            "deal item {} bytes",
            item_size(&item)
        );
        // Nothing is lost by leaving the nulls out.
        assert_eq!(decode::<Deal>(item).unwrap(), deal);
    }

    #[test]
    fn version_zero_can_never_be_written() {
        assert!(matches!(version_condition(0), Err(StoreError::Conflict)));
    }
}
