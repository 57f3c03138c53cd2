//! SQS batch in, batch item failures out.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shared::adapters::lambda_sqs::handle_batch;
use shared::app::writeback::CrmWriteback;

pub async fn handle(
    writer: &CrmWriteback,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    Ok(handle_batch(&event.payload, |body| writer.handle(body)).await)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use async_trait::async_trait;
    use shared::adapters::clock::ManualClock;
    use shared::adapters::embedded::EmbeddedStore;
    use shared::assembly::{Adapters, Services, Settings};
    use shared::domain::FieldChange;
    use shared::ports::{Activity, CrmError, CrmWriter};

    use super::*;

    /// Refuses the first `fail` calls, then writes.
    struct Flaky {
        fail: AtomicUsize,
        logged: AtomicUsize,
    }

    #[async_trait]
    impl CrmWriter for Flaky {
        async fn log_activity(&self, _: &str, _: &Activity) -> Result<String, CrmError> {
            if self.fail.load(Ordering::SeqCst) > 0 {
                self.fail.fetch_sub(1, Ordering::SeqCst);
                return Err(CrmError::Unavailable("503".into()));
            }
            Ok(format!(
                "n{}",
                self.logged.fetch_add(1, Ordering::SeqCst) + 1
            ))
        }

        async fn update_deal(&self, _: &str, _: &[FieldChange]) -> Result<Vec<String>, CrmError> {
            Ok(vec![])
        }
    }

    fn event() -> LambdaEvent<SqsEvent> {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/crm-writeback/deal-lost.json"
        ))
        .unwrap();
        LambdaEvent::new(
            serde_json::from_str(&raw).unwrap(),
            lambda_runtime::Context::default(),
        )
    }

    #[tokio::test]
    async fn a_refused_write_is_a_batch_item_failure_and_the_retry_logs_it_once() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let crm = Arc::new(Flaky {
            fail: AtomicUsize::new(1),
            logged: AtomicUsize::new(0),
        });
        let clock = Arc::new(ManualClock::new("2026-11-26T10:00:00Z".parse().unwrap()));
        let writer = Services::build(
            Adapters {
                crm_writers: HashMap::from([("hubspot".to_string(), {
                    let w: Arc<dyn CrmWriter> = crm.clone();
                    w
                })]),
                ..Adapters::embedded(&store, clock)
            },
            Settings::new(Arc::new(shared::config::Config::bundled().unwrap())),
        )
        .writeback();
        let out = handle(&writer, event()).await.unwrap();
        assert_eq!(
            out.batch_item_failures.len(),
            1,
            "the CRM refused: SQS retries"
        );
        let out = handle(&writer, event()).await.unwrap();
        assert!(out.batch_item_failures.is_empty());
        let out = handle(&writer, event()).await.unwrap();
        assert!(
            out.batch_item_failures.is_empty(),
            "a redelivery after success"
        );
        assert_eq!(
            crm.logged.load(Ordering::SeqCst),
            1,
            "the outcome is logged once"
        );
    }
}
