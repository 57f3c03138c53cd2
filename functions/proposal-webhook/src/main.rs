//! proposal-webhook: `POST /webhooks/pandadoc`. Wires config, secrets and clients.

mod handler;

use lambda_http::{run, service_fn, Error};
use shared::assembly::{wiring, Adapters, Services, Settings};
use shared::config::settings::Env;
use shared::providers::{Providers, SourceKind};
use shared::secret::Secret;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let settings = Settings {
        public_base_url: env.required("PUBLIC_BASE_URL"),
        providers: Providers::build(&Providers::names_of(&[SourceKind::Proposal]), |spec| {
            env.optional(spec.env).map(Secret::new)
        }),
        ..start.settings()
    };
    let bus = env.required("EVENT_BUS_NAME");
    env.finish_or_exit();

    // Won and lost deals are announced on the bus (EVENT_BUS_NAME).
    let adapters = Adapters {
        events: Some(wiring::event_bus(&start, bus)),
        ..start.adapters()
    };
    let intake = start.live(adapters, settings, Services::intake);
    run(service_fn(move |req| {
        let intake = intake.clone();
        async move { handler::handle(&*intake.get().await, req).await }
    }))
    .await
}
