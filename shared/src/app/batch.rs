//! SQS batch handling shared by the queue-driven functions and the tests: report only the
//! failed message ids; on a FIFO queue, once a message of a group fails, the later messages of
//! that group in the batch are reported failed unprocessed, so a deal's work never runs out of
//! order.

use std::collections::HashSet;
use std::future::Future;

use tracing::Instrument;

use super::WorkError;

pub struct Message<'a> {
    pub id: &'a str,
    pub group: Option<&'a str>,
    pub body: &'a str,
}

/// Run `handle` over the batch; returns the ids to report as batch item failures.
pub async fn process<'a, F, Fut, T>(messages: &[Message<'a>], mut handle: F) -> Vec<String>
where
    F: FnMut(&'a str) -> Fut,
    Fut: Future<Output = Result<T, WorkError>>,
{
    let mut failed_groups: HashSet<&str> = HashSet::new();
    let mut failed = Vec::new();
    for m in messages {
        if m.group.is_some_and(|g| failed_groups.contains(g)) {
            failed.push(m.id.to_string());
            continue;
        }
        // The services open a child span naming the deal once they have parsed the body.
        let span = tracing::info_span!("message", message_id = m.id);
        if let Err(e) = handle(m.body).instrument(span.clone()).await {
            let _in = span.enter();
            tracing::warn!(error = %crate::error::Chain(&e), "message failed");
            failed.push(m.id.to_string());
            if let Some(g) = m.group {
                failed_groups.insert(g);
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_holds_back_the_rest_of_its_fifo_group_only() {
        let msgs = [
            Message {
                id: "1",
                group: Some("a"),
                body: "fail",
            },
            Message {
                id: "2",
                group: Some("a"),
                body: "ok",
            },
            Message {
                id: "3",
                group: Some("b"),
                body: "ok",
            },
            Message {
                id: "4",
                group: Some("b"),
                body: "fail",
            },
        ];
        let mut seen = Vec::new();
        let failed = process(&msgs, |body| {
            seen.push(body);
            async move {
                if body == "fail" {
                    Err(WorkError::Retryable("boom".into()))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(failed, vec!["1", "2", "4"]);
        assert_eq!(seen, vec!["fail", "ok", "fail"]);
    }
}
