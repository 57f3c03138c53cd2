//! review-api: the approval endpoint, and the only function linked with the sender (SES).

mod handler;

use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use shared::adapters::aws::{wiring, EventBridgePublisher, SesSender};
use shared::app::review::Review;
use shared::settings::Env;
use shared::tokens::TokenSigner;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let (core, sdk) = wiring::core(&mut env).await;
    let public_base_url = env.required("PUBLIC_BASE_URL");
    let bus = env.required("EVENT_BUS_NAME");
    let signing_key = env.secret("DRAFTGATE_SIGNING_KEY");
    let configuration_set = env.optional("SES_CONFIGURATION_SET");
    // The role may only send from the template's SenderAddress: catch a config that disagrees at
    // start instead of as an access-denied error on the founder's first approval.
    if let Some(sender) = env.optional("SENDER_ADDRESS") {
        if !core
            .config
            .founder
            .from
            .to_ascii_lowercase()
            .contains(&sender.to_ascii_lowercase())
        {
            env.problem(format!(
                "config founder.from `{}` is not the SES sender address `{sender}`",
                core.config.founder.from
            ));
        }
    }
    env.finish_or_exit();

    let review = Arc::new(Review {
        core,
        sender: Arc::new(SesSender::new(
            aws_sdk_sesv2::Client::new(&sdk),
            configuration_set,
        )),
        events: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            bus,
            "draftgate",
        )),
        tokens: TokenSigner::new(signing_key),
        public_base_url,
    });
    run(service_fn(move |req| {
        let review = review.clone();
        async move { handler::handle(&review, req).await }
    }))
    .await
}
