//! The first floor: a Lambda function that only runs `lambda_runtime` and answers `{}`. What any
//! Rust function pays before it does anything.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(Value::Object(serde_json::Map::new()))
    }))
    .await
}
