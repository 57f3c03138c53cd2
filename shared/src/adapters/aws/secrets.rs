//! A JSON secret in Secrets Manager read at run time (the mailbox grants that
//! `draftgate connect` writes), so a new grant takes effect without a redeploy and only the
//! roles granted `secretsmanager:GetSecretValue` on that secret can read it.

use std::collections::HashMap;

use super::{classify, Failure};
use crate::error::Cause;

/// The secret's string keys; empty values are left out.
pub async fn read_json(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
) -> Result<HashMap<String, String>, Cause> {
    let out = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| match classify("GetSecretValue", e) {
            Failure::Permanent(c) | Failure::Transient(c) => c,
        })?;
    let text = out.secret_string().unwrap_or("{}");
    let doc: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| format!("secret {secret} is not a JSON object: {e}"))?;
    Ok(doc
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_str()
                .filter(|s| !s.is_empty())
                .map(|s| (k, s.to_string()))
        })
        .collect())
}
