//! Port implementations: AWS (DynamoDB, SQS, EventBridge, SNS, SES) and embedded (SQLite).

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "bedrock")]
pub mod bedrock;
pub mod clock;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod fanout;
#[cfg(feature = "lambda-http")]
pub mod lambda;
#[cfg(feature = "lambda-sqs")]
pub mod lambda_sqs;
#[cfg(feature = "mailbox")]
pub mod mailbox;
#[cfg(feature = "http-client")]
pub mod openai;
#[cfg(feature = "s3-config")]
pub mod s3_config;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "http-client")]
pub mod slack;
#[cfg(feature = "telemetry")]
pub mod telemetry;
