//! Translate API Gateway's request into the library's and back.

use lambda_http::{Body, Error, Request, Response};
use shared::adapters::lambda::{to_request, to_response};
use shared::app::review::Review;

pub async fn handle(review: &Review, req: Request) -> Result<Response<Body>, Error> {
    Ok(to_response(review.handle(to_request(req)).await))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::adapters::clock::ManualClock;
    use shared::adapters::embedded::EmbeddedStore;
    use shared::assembly::{Adapters, Services, Settings};
    use shared::secret::Secret;
    use shared::tokens::TokenSigner;

    use super::*;

    fn review(store: &Arc<EmbeddedStore>, now: &str) -> Review {
        let clock = Arc::new(ManualClock::new(now.parse().unwrap()));
        Services::build(
            Adapters::embedded(store, clock),
            Settings {
                public_base_url: "https://example.invalid".into(),
                tokens: Some(TokenSigner::new(Secret::new("dev-signing-key-not-secret"))),
                ..Settings::new(Arc::new(shared::config::Config::bundled().unwrap()))
            },
        )
        .review()
    }

    fn sample_event() -> Request {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/review-api/get-review-page.json"
        ))
        .unwrap();
        lambda_http::request::from_str(&raw).expect("API Gateway v2 event")
    }

    #[tokio::test]
    async fn the_sample_link_verifies_and_an_unknown_draft_is_404() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let resp = handle(&review(&store, "2024-11-25T00:00:00Z"), sample_event())
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{:?}", resp.body());
    }

    #[tokio::test]
    async fn an_expired_link_is_401() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let resp = handle(&review(&store, "2025-01-01T00:00:00Z"), sample_event())
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
}
