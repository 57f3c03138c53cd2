//! SQS-triggered functions: translate the batch for `app::batch` and its failures back into
//! `ReportBatchItemFailures`.

use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::app::batch::{process, Message};
use crate::app::WorkError;

pub async fn handle_batch<'a, F, Fut, T>(event: &'a SqsEvent, handle: F) -> SqsBatchResponse
where
    F: FnMut(&'a str) -> Fut,
    Fut: Future<Output = Result<T, WorkError>>,
{
    let messages: Vec<Message<'_>> = event
        .records
        .iter()
        .map(|r| Message {
            id: r.message_id.as_deref().unwrap_or_default(),
            group: r.attributes.get("MessageGroupId").map(String::as_str),
            body: r.body.as_deref().unwrap_or_default(),
        })
        .collect();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = process(&messages, handle)
        .await
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
