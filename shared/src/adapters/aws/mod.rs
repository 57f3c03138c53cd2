//! AWS adapters: DynamoDB (pipeline store, audit log), SQS (FIFO queues), EventBridge (domain
//! events), SNS (founder e-mail notifications) and, behind the `ses` feature, the SES sender.
//!
//! SDK clients are built once by the caller from [`load_sdk_config`]; the standard
//! `AWS_ENDPOINT_URL` (and per-service `AWS_ENDPOINT_URL_<SERVICE>`) variables point them at an
//! emulator.

mod dynamo;
mod eventbridge;
#[cfg(all(feature = "ses", feature = "secrets", feature = "mailbox"))]
pub mod sending;
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
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::{CallFailed, Cause};

/// The shared SDK configuration: region, credentials and endpoint from the environment.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// How an SDK call failed, classified once for every adapter. Either way it carries the SDK's
/// error (as the source of a [`CallFailed`]), so logs show the whole chain.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Throttling, a 5xx, a timeout or the network: retrying later may succeed.
    Transient(Cause),
    /// The service refused the request as invalid: retrying the same request will not help.
    Permanent(Cause),
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
/// The SDK's errors name the operation and the service's code and message, never request or
/// response bodies.
pub(crate) fn classify<E>(operation: &str, err: SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let kind = match &err {
        SdkError::ServiceError(service) => {
            let throttled = service
                .err()
                .code()
                .is_some_and(|c| THROTTLING_CODES.contains(&c));
            if throttled || service.raw().status().as_u16() >= 500 {
                Failure::Transient
            } else {
                Failure::Permanent
            }
        }
        SdkError::ConstructionFailure(_) => Failure::Permanent,
        _ => Failure::Transient,
    };
    kind(Box::new(CallFailed::new(operation, err)))
}
