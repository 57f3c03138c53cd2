//! AWS adapters: DynamoDB (pipeline store, audit log), SQS (FIFO queues), EventBridge (domain
//! events), SNS (founder e-mail notifications) and, behind the `ses` feature, the SES sender.
//!
//! SDK clients are built once by the caller from [`load_sdk_config`]; the standard
//! `AWS_ENDPOINT_URL` (and per-service `AWS_ENDPOINT_URL_<SERVICE>`) variables point them at an
//! emulator.

mod dynamo;
mod eventbridge;
#[cfg(feature = "ses")]
mod ses;
mod sns;
mod sqs;

pub use dynamo::{DynamoAuditLog, DynamoPipelineStore};
pub use eventbridge::EventBridgePublisher;
#[cfg(feature = "ses")]
pub use ses::SesSender;
pub use sns::SnsEmailNotifier;
pub use sqs::SqsQueue;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The shared SDK configuration: region, credentials and endpoint from the environment.
pub mod wiring;

pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// How an SDK call failed, classified once for every adapter.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Throttling, a 5xx, a timeout or the network: retrying later may succeed.
    Transient(String),
    /// The service refused the request as invalid: retrying the same request will not help.
    Permanent(String),
}

/// Error codes that mean "slow down", whatever the HTTP status says.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "LimitExceededException",
    "SlowDown",
];

/// Classifies an SDK error. Service errors answered with a 4xx (other than throttling) are
/// permanent; everything else (5xx, dispatch, timeouts, unreadable responses) is transient.
/// The message is the SDK's error chain: request and response bodies are not included.
pub(crate) fn classify<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = format!("{operation}: {}", DisplayErrorContext(err));
    match err {
        SdkError::ServiceError(service) => {
            let throttled = service
                .err()
                .code()
                .is_some_and(|c| THROTTLING_CODES.contains(&c));
            if throttled || service.raw().status().as_u16() >= 500 {
                Failure::Transient(message)
            } else {
                Failure::Permanent(message)
            }
        }
        SdkError::ConstructionFailure(_) => Failure::Permanent(message),
        _ => Failure::Transient(message),
    }
}
