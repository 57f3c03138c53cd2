//! proposal-webhook: `POST /webhooks/pandadoc`. Wires config, secrets and clients.

mod handler;

use std::collections::HashMap;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::wiring;
use shared::config::settings::Env;
use shared::providers::intake::Intake;
use shared::providers::Providers;
use shared::secret::Secret;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let providers = Providers::build(&["pandadoc"], |spec| {
        env.optional(spec.env).map(Secret::new)
    });
    let bus = env.required("EVENT_BUS_NAME");
    env.finish_or_exit();

    // Won and lost deals are announced on the bus (EVENT_BUS_NAME).
    let events = wiring::event_bus(&start, bus.clone());
    let intake = start.live(move |core| Intake {
        core,
        providers: providers.clone(),
        crm: HashMap::new(),
        public_base_url: public_base_url.clone(),
        events: events.clone(),
    });
    run(service_fn(move |req| {
        let intake = intake.clone();
        async move { handler::handle(&*intake.get().await, req).await }
    }))
    .await
}
