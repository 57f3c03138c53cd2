//! review-api: the approval endpoint, and the only function linked with the sender (SES).

mod handler;

use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::{wiring, EventBridgePublisher, SesSender};
use shared::app::review::Review;
use shared::ports::{EventPublisher, Sender};
use shared::settings::Env;
use shared::tokens::TokenSigner;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let bus = env.required("EVENT_BUS_NAME");
    let tokens = TokenSigner::new(env.secret("DRAFTGATE_SIGNING_KEY"));
    let configuration_set = env.optional("SES_CONFIGURATION_SET");
    // The role may only send from the template's SenderAddress: catch a config that disagrees at
    // start instead of as an access-denied error on the founder's first approval.
    if let Some(sender) = env.optional("SENDER_ADDRESS") {
        let from = &start.core.config.founder.from;
        if !from
            .to_ascii_lowercase()
            .contains(&sender.to_ascii_lowercase())
        {
            env.problem(format!(
                "config founder.from `{from}` is not the SES sender address `{sender}`"
            ));
        }
    }
    env.finish_or_exit();

    let sender: Arc<dyn Sender> = Arc::new(SesSender::new(
        aws_sdk_sesv2::Client::new(&start.sdk),
        configuration_set,
    ));
    let events: Arc<dyn EventPublisher> = Arc::new(EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(&start.sdk),
        bus,
        "draftgate",
    ));
    let review = start.live(move |core| Review {
        core,
        sender: sender.clone(),
        events: events.clone(),
        tokens: tokens.clone(),
        public_base_url: public_base_url.clone(),
    });
    run(service_fn(move |req| {
        let review = review.clone();
        async move { handler::handle(&*review.get().await, req).await }
    }))
    .await
}
