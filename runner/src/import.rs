//! `draftgate import`: one CRM sync into the runner's store, from the command line. The same as
//! `POST /dev/sync` on a running runner (and the scheduled crm-sync function in AWS).

use std::path::Path;
use std::sync::Arc;

use shared::adapters::embedded::EmbeddedStore;
use shared::app::sync::SyncSummary;
use shared::assembly::{Adapters, Services, Settings};
use shared::config::settings::Env;
use shared::config::Config;
use shared::providers::CrmApis;

use crate::server::runner_clock;

pub async fn run(data: &Path, config: Arc<Config>) -> Result<SyncSummary, String> {
    let env = Env::new();
    let apis = CrmApis::from_settings(|name| env.optional(name));
    if apis.sources.is_empty() {
        return Err(
            "no CRM API is configured: set PIPEDRIVE_API_TOKEN (and PIPEDRIVE_API_BASE_URL, your company domain)".into(),
        );
    }
    let store = EmbeddedStore::open(data)
        .map_err(|e| format!("cannot open the store in {}: {e}", data.display()))?;
    let clock = runner_clock(&store);
    let adapters = Adapters::embedded(&store, clock).with_crm_apis(apis);
    let syncer = Services::build(adapters, Settings::new(config)).syncer();
    Ok(syncer.run().await)
}
