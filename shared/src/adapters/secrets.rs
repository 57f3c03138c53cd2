//! JSON secrets in Secrets Manager: the mailbox grants that `draftgate connect` writes and the
//! functions read at run time, so a new grant takes effect without a redeploy and only the
//! roles granted `secretsmanager:GetSecretValue` on that secret can read it.

use std::collections::HashMap;

use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::error::Cause;

/// The secret's non-empty string values by key.
pub async fn read_json(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
) -> Result<HashMap<String, String>, Cause> {
    let out = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| format!("GetSecretValue: {}", DisplayErrorContext(e)))?;
    let text = out.secret_string().unwrap_or("{}");
    let doc: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("the secret is not a JSON object: {e}"))?;
    Ok(doc
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_str()
                .filter(|s| !s.is_empty())
                .map(|s| (k, s.to_string()))
        })
        .collect())
}

/// Set `values` in the JSON secret, keeping its other keys (a new version of the secret).
pub async fn put_json_keys(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
    values: &[(String, String)],
) -> Result<(), Cause> {
    let current = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| format!("GetSecretValue: {}", DisplayErrorContext(e)))?;
    let mut doc: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(current.secret_string().unwrap_or("{}"))
            .map_err(|e| format!("the secret is not a JSON object: {e}"))?;
    for (k, v) in values {
        doc.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    client
        .put_secret_value()
        .secret_id(secret)
        .secret_string(serde_json::Value::Object(doc).to_string())
        .send()
        .await
        .map_err(|e| format!("PutSecretValue: {}", DisplayErrorContext(e)))?;
    Ok(())
}
