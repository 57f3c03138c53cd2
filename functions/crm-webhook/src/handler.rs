//! Translate API Gateway's request into the library's and back.

use lambda_http::{Body, Error, Request, Response};
use shared::adapters::lambda::{to_request, to_response};
use shared::app::intake::Intake;

pub async fn handle(intake: &Intake, req: Request) -> Result<Response<Body>, Error> {
    Ok(to_response(intake.handle(to_request(req)).await))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use async_trait::async_trait;
    use shared::adapters::clock::ManualClock;
    use shared::adapters::embedded::EmbeddedStore;
    use shared::app::intake::{Intake, WebhookSecrets};
    use shared::app::Core;
    use shared::domain::{DealRef, DealSnapshot, Stage};
    use shared::ports::{AuditReader, CrmClient, CrmError, PipelineStore};
    use shared::secret::Secret;

    use super::*;

    struct StubCrm;

    #[async_trait]
    impl CrmClient for StubCrm {
        async fn fetch_deal(&self, id: &str) -> Result<DealSnapshot, CrmError> {
            Ok(DealSnapshot {
                name: Some(format!("Deal {id}")),
                ..Default::default()
            })
        }
    }

    fn intake(store: &Arc<EmbeddedStore>) -> Intake {
        let mut crm: HashMap<String, Arc<dyn CrmClient>> = HashMap::new();
        crm.insert("hubspot".into(), Arc::new(StubCrm));
        Intake {
            core: Core {
                config: Arc::new(shared::config::Config::bundled().unwrap()),
                store: store.clone(),
                audit: store.clone(),
                clock: Arc::new(ManualClock::new(
                    jiff::Timestamp::from_millisecond(1732183513000 + 2_000).unwrap(),
                )),
            },
            secrets: WebhookSecrets {
                hubspot_client_secret: Some(Secret::new("0c8f3b6e-5d2a-4f71-9b3e-8a1d2c4e6f70")),
                pandadoc_key: None,
            },
            crm,
            public_base_url: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com".into(),
        }
    }

    fn sample_event() -> Request {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/crm-webhook/hubspot-deal-stage-changed.json"
        ))
        .unwrap();
        lambda_http::request::from_str(&raw).expect("API Gateway v2 event")
    }

    #[tokio::test]
    async fn the_sample_api_gateway_event_is_verified_recorded_and_a_redelivery_is_counted() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = intake(&store);
        let resp = handle(&intake, sample_event()).await.unwrap();
        assert_eq!(resp.status(), 200, "{:?}", resp.body());
        let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(
            (body["accepted"].as_u64(), body["duplicates"].as_u64()),
            (Some(2), Some(0))
        );
        let won = store
            .get_deal(&DealRef::new("hubspot", "18544521873"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(won.stage, Some(Stage::ClosedWon));
        assert_eq!(won.name, "Deal 18544521873");

        let again = handle(&intake, sample_event()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(again.body().as_ref()).unwrap();
        assert_eq!(
            (body["accepted"].as_u64(), body["duplicates"].as_u64()),
            (Some(0), Some(2))
        );
        assert_eq!(
            store.entries(None).await.unwrap().len(),
            2,
            "one audit entry per accepted event"
        );
    }

    #[tokio::test]
    async fn a_forged_signature_is_401_and_stores_nothing() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = intake(&store);
        let mut req = sample_event();
        req.headers_mut().insert(
            "x-hubspot-signature-v3",
            "AAAAyCr9TgSkPaofYoFal8DS9U/GDramdi8L9A130ZI="
                .parse()
                .unwrap(),
        );
        let resp = handle(&intake, req).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(store.all_deals().unwrap().is_empty());
        assert!(store.entries(None).await.unwrap().is_empty());
    }
}
