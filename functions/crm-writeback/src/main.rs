//! crm-writeback: SQS (FIFO, grouped by deal) -> write what a person approved to the deal's CRM:
//! the activity (follow-up sent, brief delivered, call notes, outcome) and the approved field
//! changes. A CRM that refuses or does not answer fails the message: SQS retries it, then keeps
//! it in the DLQ; each write done is recorded, so a retry never writes it twice.

mod handler;

use lambda_runtime::{run, service_fn, Error};
use shared::assembly::{wiring, Adapters, Services};
use shared::config::settings::Env;
use shared::providers::CrmApis;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let apis = CrmApis::from_settings(|name| env.optional(name));
    env.finish_or_exit();

    let adapters = Adapters {
        crm_writers: apis.writers,
        ..start.adapters()
    };
    let writer = start.live(adapters, start.settings(), Services::writeback);
    run(service_fn(move |event| {
        let writer = writer.clone();
        async move { handler::handle(&*writer.get().await, event).await }
    }))
    .await
}
