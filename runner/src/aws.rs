//! `draftgate serve --aws`: the runner's routes and workers on DynamoDB, SQS and EventBridge
//! (an emulator through `AWS_ENDPOINT_URL`, or a real account through the standard AWS
//! settings) instead of the embedded store.
//!
//! The tables, queues and bus are named by the functions' own settings (`PIPELINE_TABLE`,
//! `AUDIT_TABLE`, `EVALUATE_QUEUE_URL`, `DRAFT_QUEUE_URL`, `CRM_WRITE_QUEUE_URL`,
//! `EVENT_BUS_NAME`), so the runner can share a deployed stack's resources. Any that is not set is
//! created when absent under `DRAFTGATE_AWS_PREFIX` (default `draftgate-local`), from the
//! definitions in `template.yaml` itself (compiled in): key schema, indexes, TTL, FIFO settings,
//! visibility timeouts and the redrive to each dead-letter queue, so local and deployed resources
//! cannot drift.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml_ng::Value;
use shared::adapters::aws::{DynamoAuditLog, DynamoPipelineStore, EventBridgePublisher, SqsQueue};
use shared::domain::DomainEvent;
use shared::error::Chain;
use shared::ports::{EventPublisher, PublishError};

const TEMPLATE: &str = include_str!("../../template.yaml");
const DEFAULT_PREFIX: &str = "draftgate-local";

/// The AWS side of the runner: its store, audit log, queues and bus.
pub struct Backend {
    pub store: Arc<DynamoPipelineStore>,
    pub audit: Arc<DynamoAuditLog>,
    pub evaluate_q: Arc<SqsQueue>,
    pub draft_q: Arc<SqsQueue>,
    pub writes_q: Arc<SqsQueue>,
    pub bus: Arc<EventBridgePublisher>,
    /// What the start-up banner says about each resource.
    pub notes: Vec<String>,
}

/// One resource of the template: its logical id and properties (intrinsics kept as tags).
fn resource(template: &Value, logical: &str) -> Result<Value, String> {
    template
        .get("Resources")
        .and_then(|r| r.get(logical))
        .and_then(|r| r.get("Properties"))
        .cloned()
        .ok_or_else(|| format!("template.yaml has no {logical}"))
}

/// A value without its CloudFormation tag (`!Sub x` → `x`).
fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .map(untag)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("template.yaml: `{key}` missing or not text"))
}

/// `${AWS::StackName}-pipeline` → `<prefix>-pipeline`.
fn name(v: &Value, key: &str, prefix: &str) -> Result<String, String> {
    Ok(text(v, key)?.replace("${AWS::StackName}", prefix))
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>, String> {
    v.get("KeySchema")
        .and_then(Value::as_sequence)
        .ok_or("template.yaml: a KeySchema is missing")?
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName")?)
                .key_type(KeyType::from(text(k, "KeyType")?))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

async fn table(
    client: &aws_sdk_dynamodb::Client,
    template: &Value,
    logical: &str,
    prefix: &str,
) -> Result<(String, bool), String> {
    let p = resource(template, logical)?;
    let table = name(&p, "TableName", prefix)?;
    if client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .is_ok()
    {
        return Ok((table, false));
    }
    let mut create = client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::from(text(&p, "BillingMode")?))
        .set_key_schema(Some(key_schema(&p)?));
    for a in p
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(a, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(text(a, "AttributeType")?))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for g in p
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let projection = g.get("Projection").ok_or("an index without Projection")?;
        let mut proj = Projection::builder()
            .projection_type(ProjectionType::from(text(projection, "ProjectionType")?));
        for a in projection
            .get("NonKeyAttributes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            proj = proj.non_key_attributes(untag(a).as_str().unwrap_or_default());
        }
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(g, "IndexName")?)
                .set_key_schema(Some(key_schema(g)?))
                .projection(proj.build())
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    create
        .send()
        .await
        .map_err(|e| format!("creating table {table}: {}", Chain(&e)))?;
    if let Some(ttl) = p.get("TimeToLiveSpecification") {
        client
            .update_time_to_live()
            .table_name(&table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(ttl, "AttributeName")?)
                    .enabled(ttl.get("Enabled").and_then(Value::as_bool).unwrap_or(true))
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| format!("enabling TTL on {table}: {}", Chain(&e)))?;
    }
    Ok((table, true))
}

/// A queue as the template defines it (creating it is idempotent); answers its URL and ARN.
async fn queue(
    client: &aws_sdk_sqs::Client,
    template: &Value,
    logical: &str,
    prefix: &str,
    arns: &HashMap<String, String>,
) -> Result<(String, String), String> {
    let p = resource(template, logical)?;
    let queue = name(&p, "QueueName", prefix)?;
    let mut create = client.create_queue().queue_name(&queue);
    let flag = |key: &str| {
        p.get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    let number = |key: &str| p.get(key).and_then(Value::as_u64).map(|n| n.to_string());
    if p.get("FifoQueue").and_then(Value::as_bool) == Some(true) {
        create = create
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(
                QueueAttributeName::ContentBasedDeduplication,
                flag("ContentBasedDeduplication"),
            );
    }
    for (key, attr) in [
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        (
            "MessageRetentionPeriod",
            QueueAttributeName::MessageRetentionPeriod,
        ),
    ] {
        if let Some(n) = number(key) {
            create = create.attributes(attr, n);
        }
    }
    if let Some(redrive) = p.get("RedrivePolicy") {
        let target = text(redrive, "deadLetterTargetArn")?;
        let dlq = target.trim_end_matches(".Arn");
        let arn = arns
            .get(dlq)
            .ok_or_else(|| format!("{logical}'s dead-letter queue {dlq} is created after it"))?;
        let max = redrive
            .get("maxReceiveCount")
            .and_then(Value::as_u64)
            .ok_or("a RedrivePolicy without maxReceiveCount")?;
        create = create.attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max }).to_string(),
        );
    }
    let url = create
        .send()
        .await
        .map_err(|e| format!("creating queue {queue}: {}", Chain(&e)))?
        .queue_url
        .ok_or("CreateQueue answered no URL")?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("reading {queue}'s ARN: {}", Chain(&e)))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or("GetQueueAttributes answered no QueueArn")?;
    Ok((url, arn))
}

/// The SDK settings (a region is required), the template's definitions and the name prefix.
async fn start(
    setting: &impl Fn(&str) -> Option<String>,
) -> Result<(aws_config::SdkConfig, Value, String), String> {
    let sdk = shared::adapters::aws::load_sdk_config().await;
    if sdk.region().is_none() {
        return Err(
            "--aws needs a region: set AWS_REGION (and AWS_ENDPOINT_URL for an emulator)".into(),
        );
    }
    let template: Value =
        serde_yaml_ng::from_str(TEMPLATE).map_err(|e| format!("template.yaml: {e}"))?;
    let prefix = setting("DRAFTGATE_AWS_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into());
    Ok((sdk, template, prefix))
}

/// The two tables only, for reading (`draftgate explain --aws`): named by PIPELINE_TABLE and
/// AUDIT_TABLE, or found under `$DRAFTGATE_AWS_PREFIX` as `serve --aws` names them; nothing is
/// created.
pub async fn tables(
    setting: impl Fn(&str) -> Option<String>,
) -> Result<(DynamoPipelineStore, DynamoAuditLog), String> {
    let (sdk, template, prefix) = start(&setting).await?;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let mut names = Vec::new();
    for (var, logical) in [
        ("PIPELINE_TABLE", "PipelineTable"),
        ("AUDIT_TABLE", "AuditTable"),
    ] {
        let table = match setting(var) {
            Some(t) => t,
            None => name(&resource(&template, logical)?, "TableName", &prefix)?,
        };
        if let Err(e) = dynamo.describe_table().table_name(&table).send().await {
            return Err(format!(
                "table {table}: {} (set {var}, or DRAFTGATE_AWS_PREFIX as `serve --aws` had it)",
                Chain(&e)
            ));
        }
        names.push(table);
    }
    let [pipeline, audit] = <[String; 2]>::try_from(names).expect("two tables");
    Ok((
        DynamoPipelineStore::new(dynamo.clone(), pipeline),
        DynamoAuditLog::new(dynamo, audit),
    ))
}

/// The backend from the environment, creating what it does not name.
pub async fn backend(setting: impl Fn(&str) -> Option<String>) -> Result<Backend, String> {
    let (sdk, template, prefix) = start(&setting).await?;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let mut notes = Vec::new();

    let mut tables = Vec::new();
    for (var, logical) in [
        ("PIPELINE_TABLE", "PipelineTable"),
        ("AUDIT_TABLE", "AuditTable"),
    ] {
        let table = match setting(var) {
            Some(t) => {
                notes.push(format!("{var}={t}"));
                t
            }
            None => {
                let (t, created) = table(&dynamo, &template, logical, &prefix).await?;
                notes.push(format!(
                    "{var}={t} ({} from template.yaml)",
                    if created { "created" } else { "found; defined" }
                ));
                t
            }
        };
        tables.push(table);
    }
    let mut arns = HashMap::new();
    let mut urls = Vec::new();
    for (var, logical, dlq) in [
        ("EVALUATE_QUEUE_URL", "EvaluateQueue", "EvaluateDLQ"),
        ("DRAFT_QUEUE_URL", "DraftQueue", "DraftDLQ"),
        ("CRM_WRITE_QUEUE_URL", "CrmWriteQueue", "CrmWriteDLQ"),
    ] {
        let url = match setting(var) {
            Some(u) => u,
            None => {
                let (_, dlq_arn) = queue(&sqs, &template, dlq, &prefix, &arns).await?;
                arns.insert(dlq.to_string(), dlq_arn);
                queue(&sqs, &template, logical, &prefix, &arns).await?.0
            }
        };
        notes.push(format!("{var}={url}"));
        urls.push(url);
    }
    let bus = match setting("EVENT_BUS_NAME") {
        Some(b) => b,
        None => {
            let p = resource(&template, "EventBus")?;
            // `Name: !Ref AWS::StackName`
            let bus = match untag(p.get("Name").ok_or("EventBus without Name")?).as_str() {
                Some("AWS::StackName") => prefix.clone(),
                Some(other) => other.replace("${AWS::StackName}", &prefix),
                None => return Err("template.yaml: EventBus Name is not text".into()),
            };
            if let Err(e) = events.create_event_bus().name(&bus).send().await {
                let exists = e
                    .as_service_error()
                    .is_some_and(aws_sdk_eventbridge::operation::create_event_bus::CreateEventBusError::is_resource_already_exists_exception);
                if !exists {
                    return Err(format!("creating event bus {bus}: {}", Chain(&e)));
                }
            }
            bus
        }
    };
    notes.push(format!("EVENT_BUS_NAME={bus}"));
    let [pipeline, audit] = <[String; 2]>::try_from(tables).expect("two tables");
    let [evaluate, draft, writes] = <[String; 3]>::try_from(urls).expect("three queues");
    Ok(Backend {
        store: Arc::new(DynamoPipelineStore::new(dynamo.clone(), pipeline)),
        audit: Arc::new(DynamoAuditLog::new(dynamo, audit)),
        evaluate_q: Arc::new(SqsQueue::new(sqs.clone(), evaluate)),
        draft_q: Arc::new(SqsQueue::new(sqs.clone(), draft)),
        writes_q: Arc::new(SqsQueue::new(sqs, writes)),
        bus: Arc::new(EventBridgePublisher::new(events, bus, "draftgate")),
        notes,
    })
}

/// Events go to EventBridge and are kept locally for `GET /dev/events`.
pub struct Published {
    pub bus: Arc<dyn EventPublisher>,
    pub local: Arc<dyn EventPublisher>,
}

#[async_trait::async_trait]
impl EventPublisher for Published {
    async fn publish(&self, event: &DomainEvent) -> Result<(), PublishError> {
        self.bus.publish(event).await?;
        self.local.publish(event).await
    }
}
