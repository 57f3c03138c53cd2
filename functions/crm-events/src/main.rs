//! crm-events: CRM change events on the EventBridge bus (Salesforce Change Data Capture through
//! Event Relay or AppFlow) -> canonical events, recorded like a webhook's.

mod handler;

use lambda_runtime::{run, service_fn, Error};
use shared::assembly::{wiring, Adapters, Services};
use shared::config::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let bus = env.required("EVENT_BUS_NAME");
    env.finish_or_exit();

    // Events on the bus are authenticated by IAM (the rule), not by a webhook secret.
    // Won and lost deals are announced on the bus (EVENT_BUS_NAME).
    let adapters = Adapters {
        events: Some(wiring::event_bus(&start, bus)),
        ..start.adapters()
    };
    let intake = start.live(adapters, start.settings(), Services::intake);
    run(service_fn(move |event| {
        let intake = intake.clone();
        async move { handler::handle(&*intake.get().await, event).await }
    }))
    .await
}
