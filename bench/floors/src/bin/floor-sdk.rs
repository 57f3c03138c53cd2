//! The second floor: a Lambda function that builds aws-config and one DynamoDB client at init,
//! what every SDK-using function pays. An event `{"get_item": {"table": T, "key": {"PK": "…",
//! "SK": "…"}}}` makes one `GetItem`, so the first request after a cold start can be measured;
//! with `FLOOR_WARM=1` the connection is opened during init instead.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    // FLOOR_WARM=1: open the connection (TCP + TLS) during init with one cheap request, so the
    // first invocation finds it ready.
    if std::env::var("FLOOR_WARM").as_deref() == Ok("1") {
        let _ = client.list_tables().limit(1).send().await;
    }
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let client = client.clone();
        async move {
            let Some(get) = event.payload.get("get_item") else {
                return Ok::<_, Error>(json!({}));
            };
            let mut request = client
                .get_item()
                .table_name(get["table"].as_str().unwrap_or_default());
            if let Some(key) = get["key"].as_object() {
                for (name, value) in key {
                    let value = value.as_str().unwrap_or_default().to_string();
                    request = request.key(name, AttributeValue::S(value));
                }
            }
            let item = request.send().await?;
            Ok(json!({ "found": item.item.is_some() }))
        }
    }))
    .await
}
