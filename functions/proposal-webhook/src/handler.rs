//! Translate API Gateway's request into the library's and back.

use lambda_http::{Body, Error, Request, Response};
use shared::adapters::lambda::{to_request, to_response};
use shared::providers::intake::Intake;

pub async fn handle(intake: &Intake, req: Request) -> Result<Response<Body>, Error> {
    Ok(to_response(intake.handle(to_request(req)).await))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::adapters::clock::ManualClock;
    use shared::adapters::embedded::EmbeddedStore;
    use shared::assembly::{Adapters, Services, Settings};
    use shared::domain::DealRef;
    use shared::ports::DealStore;
    use shared::providers::intake::Intake;
    use shared::providers::Providers;

    use super::*;

    fn intake(store: &Arc<EmbeddedStore>) -> Intake {
        let clock = Arc::new(ManualClock::new("2024-11-21T10:05:00Z".parse().unwrap()));
        Services::build(
            Adapters::embedded(store, clock),
            Settings {
                public_base_url: "https://example.invalid".into(),
                providers: Providers::from_secrets(&[(
                    "PANDADOC_WEBHOOK_KEY",
                    "f3b1e8c2a9d64b7e9c0a5d2e1f4b7c8a",
                )]),
                ..Settings::new(Arc::new(shared::config::Config::bundled().unwrap()))
            },
        )
        .intake()
    }

    fn sample_event() -> Request {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/proposal-webhook/pandadoc-document-completed.json"
        ))
        .unwrap();
        lambda_http::request::from_str(&raw).expect("API Gateway v2 event")
    }

    #[tokio::test]
    async fn a_signed_completed_document_marks_the_prospect_as_having_answered() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let resp = handle(&intake(&store), sample_event()).await.unwrap();
        assert_eq!(resp.status(), 200, "{:?}", resp.body());
        let deal = store
            .get_deal(&DealRef::new("hubspot", "18544521873"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            deal.last_inbound_at,
            Some("2024-11-21T10:04:58.017241Z".parse().unwrap())
        );
        assert_eq!(deal.facts["contact.first_name"].value, "Jane");
    }

    #[tokio::test]
    async fn a_wrong_signature_is_401_and_stores_nothing() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let mut req = sample_event();
        *req.uri_mut() = "https://example.invalid/webhooks/pandadoc?signature=00"
            .parse()
            .unwrap();
        let resp = handle(&intake(&store), req).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(store.all_deals().unwrap().is_empty());
    }
}
