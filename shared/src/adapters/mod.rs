//! Port implementations: AWS (DynamoDB, SQS, EventBridge, SNS, SES) and embedded (SQLite).

pub mod clock;
pub mod fanout;
#[cfg(feature = "http-client")]
pub mod slack;
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "lambda-http")]
pub mod lambda;
