//! Port implementations: AWS (DynamoDB, SQS, EventBridge, SNS, SES) and embedded (SQLite).

pub mod clock;
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "lambda-http")]
pub mod lambda;
