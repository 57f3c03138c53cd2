//! crm-sync: run by its EventBridge schedule; reads each configured CRM's deals (every open one
//! the first time, then what changed) and records them.

mod handler;

use lambda_runtime::{run, service_fn, Error};
use shared::adapters::aws::wiring;
use shared::app::sync::Syncer;
use shared::providers::CrmApis;
use shared::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let apis = CrmApis::from_settings(|name| env.optional(name));
    env.finish_or_exit();

    let syncer = start.live(move |core| Syncer {
        core,
        sources: apis.sources.clone(),
    });
    run(service_fn(move |event| {
        let syncer = syncer.clone();
        async move { handler::handle(&*syncer.get().await, event).await }
    }))
    .await
}
