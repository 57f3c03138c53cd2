//! Start-up wiring shared by every function's `main.rs`: logs, config, the Pipeline and Audit
//! tables. Each function adds its own clients and service.

use std::sync::Arc;

use super::{load_sdk_config, DynamoAuditLog, DynamoPipelineStore};
use crate::adapters::clock::SystemClock;
use crate::app::Core;
use crate::settings::Env;

/// Structured JSON logs on stdout (see [`crate::telemetry`]).
pub fn init_logs() {
    crate::telemetry::init_json();
}

/// The compiled-in config (exits naming each problem), the SDK config, and the core services on
/// the tables named by `PIPELINE_TABLE` and `AUDIT_TABLE`. Call `env.finish_or_exit()` after
/// reading the function's own settings.
pub async fn core(env: &mut Env) -> (Core, aws_config::SdkConfig) {
    let config = Arc::new(crate::config::load_or_exit());
    let pipeline_table = env.required("PIPELINE_TABLE");
    let audit_table = env.required("AUDIT_TABLE");
    let sdk = load_sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let core = Core {
        config,
        store: Arc::new(DynamoPipelineStore::new(dynamo.clone(), pipeline_table)),
        audit: Arc::new(DynamoAuditLog::new(dynamo, audit_table)),
        clock: Arc::new(SystemClock),
    };
    (core, sdk)
}
