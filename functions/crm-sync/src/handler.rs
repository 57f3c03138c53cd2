//! The schedule's payload carries nothing the sync needs. A CRM that could not be read is an
//! error after the others were synced, so the invocation shows as failed (and alarms); its
//! watermark did not move, so the next run reads the same changes again.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::app::sync::Syncer;

pub async fn handle(
    syncer: &Syncer,
    mailboxes: Vec<Value>,
    _event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let summary = syncer.run().await;
    let failed: Vec<String> = summary
        .crms
        .iter()
        .filter_map(|c| c.error.as_ref().map(|e| format!("{}: {e}", c.crm)))
        .collect();
    if !failed.is_empty() {
        return Err(format!("CRM sync incomplete: {}", failed.join("; ")).into());
    }
    let mut out = serde_json::to_value(summary)?;
    out["mailboxes"] = Value::Array(mailboxes);
    Ok(out)
}
