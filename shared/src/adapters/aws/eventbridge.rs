//! Domain events on an EventBridge bus.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::{classify, Failure};
use crate::domain::DomainEvent;
use crate::ports::{EventPublisher, PublishError};

/// [`EventPublisher`] on one bus; every event carries `source` (`"draftgate"`).
#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
    source: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus_name: impl Into<String>, source: impl Into<String>) -> Self {
        EventBridgePublisher {
            client,
            bus_name: bus_name.into(),
            source: source.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, event: &DomainEvent) -> Result<(), PublishError> {
        let detail = serde_json::to_string(&event.detail).map_err(|e| PublishError(Box::new(e)))?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(&self.source)
            .detail_type(&event.detail_type)
            .detail(detail)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| match classify("PutEvents", e) {
                Failure::Transient(m) | Failure::Permanent(m) => PublishError(m),
            })?;
        // PutEvents answers 200 even when an entry was refused.
        if out.failed_entry_count > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| {
                    e.error_code()
                        .map(|c| format!("{c}: {}", e.error_message().unwrap_or("")))
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(PublishError(
                format!("PutEvents refused the event: {why}").into(),
            ));
        }
        Ok(())
    }
}
