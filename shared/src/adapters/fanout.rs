//! Notify the founder on every configured channel; succeed if at least one channel delivered.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{Draft, FounderNotification};
use crate::error::Chain;
use crate::ports::{Notifier, NotifyError};

pub struct Fanout(pub Vec<Arc<dyn Notifier>>);

#[async_trait]
impl Notifier for Fanout {
    async fn notify(&self, note: &FounderNotification) -> Result<(), NotifyError> {
        let mut errors = Vec::new();
        for n in &self.0 {
            if let Err(e) = n.notify(note).await {
                tracing::warn!(error = %Chain(&e), "a notification channel failed");
                errors.push(Chain(&e).to_string());
            }
        }
        if errors.len() < self.0.len() || self.0.is_empty() {
            Ok(())
        } else {
            Err(NotifyError(
                format!("every channel failed: {}", errors.join("; ")).into(),
            ))
        }
    }

    async fn decided(&self, draft: &Draft, summary: &str) -> Result<(), NotifyError> {
        for n in &self.0 {
            if let Err(e) = n.decided(draft, summary).await {
                tracing::warn!(error = %Chain(&e), "a notification channel could not show a decision");
            }
        }
        Ok(())
    }
}
