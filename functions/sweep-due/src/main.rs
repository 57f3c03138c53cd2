//! sweep-due: run by the EventBridge schedule; enqueues due deals for evaluation.

mod handler;

use lambda_runtime::{run, service_fn, Error};
use shared::assembly::{wiring, Adapters, Services};
use shared::config::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let evaluate_queue = env.required("EVALUATE_QUEUE_URL");
    let draft_queue = env.required("DRAFT_QUEUE_URL");
    env.finish_or_exit();

    let adapters = Adapters {
        evaluate_queue: Some(wiring::queue(&start, evaluate_queue)),
        draft_queue: Some(wiring::queue(&start, draft_queue)),
        ..start.adapters()
    };
    let sweeper = start.live(adapters, start.settings(), Services::sweeper);
    run(service_fn(move |event| {
        let sweeper = sweeper.clone();
        async move { handler::handle(&*sweeper.get().await, event).await }
    }))
    .await
}
