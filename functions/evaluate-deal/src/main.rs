//! evaluate-deal: SQS (FIFO, grouped by deal) -> claim due trigger occurrences -> draft queue.

mod handler;

use lambda_runtime::{run, service_fn, Error};
use shared::assembly::{wiring, Adapters, Services};
use shared::config::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logs();
    let mut env = Env::new();
    let start = wiring::start(&mut env).await;
    let draft_queue = env.required("DRAFT_QUEUE_URL");
    env.finish_or_exit();

    let adapters = Adapters {
        draft_queue: Some(wiring::queue(&start, draft_queue)),
        ..start.adapters()
    };
    let evaluator = start.live(adapters, start.settings(), Services::evaluator);
    run(service_fn(move |event| {
        let evaluator = evaluator.clone();
        async move { handler::handle(&*evaluator.get().await, event).await }
    }))
    .await
}
