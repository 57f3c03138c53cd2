//! Translate API Gateway's request into the library's and back.

use lambda_http::{Body, Error, Request, Response};
use shared::adapters::lambda::{to_request, to_response};
use shared::providers::intake::Intake;

/// Mailbox pushes (`/webhooks/gmail`, `/webhooks/outlook`) read the mailbox; the rest is intake.
pub async fn handle(
    intake: &Intake,
    mail: &shared::providers::mail_intake::MailIntake,
    req: Request,
) -> Result<Response<Body>, Error> {
    let req = to_request(req);
    if shared::providers::mail_intake::MailIntake::is_mailbox_route(req.uri().path()) {
        return Ok(to_response(mail.handle(intake, req).await));
    }
    Ok(to_response(intake.handle(req).await))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use async_trait::async_trait;
    use shared::adapters::clock::ManualClock;
    use shared::adapters::embedded::EmbeddedStore;
    use shared::assembly::{Adapters, Services, Settings};
    use shared::domain::{DealRef, DealSnapshot, EventKind, Stage};
    use shared::ports::{AuditReader, CrmClient, CrmError};
    use shared::providers::intake::Intake;
    use shared::providers::Providers;

    use super::*;
    use shared::ports::DealStore;

    struct StubCrm;

    #[async_trait]
    impl CrmClient for StubCrm {
        async fn fetch_deal(&self, id: &str) -> Result<DealSnapshot, CrmError> {
            // The reference batch's second deal was deleted in HubSpot since.
            if id == "18544521874" {
                return Err(CrmError::NotFound(id.into()));
            }
            Ok(DealSnapshot {
                name: Some(format!("Deal {id}")),
                ..Default::default()
            })
        }
    }

    fn intake(store: &Arc<EmbeddedStore>) -> Intake {
        intake_at(
            store,
            jiff::Timestamp::from_millisecond(1732183513000 + 2_000).unwrap(),
            shared::config::Config::bundled().unwrap(),
        )
    }

    /// The intake on `store`, its clock standing at `now`, on `config`.
    fn intake_at(
        store: &Arc<EmbeddedStore>,
        now: jiff::Timestamp,
        config: shared::config::Config,
    ) -> Intake {
        let mut crm: HashMap<String, Arc<dyn CrmClient>> = HashMap::new();
        crm.insert("hubspot".into(), Arc::new(StubCrm));
        Services::build(
            Adapters {
                crm_clients: crm,
                ..Adapters::embedded(store, Arc::new(ManualClock::new(now)))
            },
            Settings {
                public_base_url: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com".into(),
                providers: Providers::from_secrets(&[
                    (
                        "HUBSPOT_CLIENT_SECRET",
                        "0c8f3b6e-5d2a-4f71-9b3e-8a1d2c4e6f70",
                    ),
                    ("INBOX_WEBHOOK_SECRET", "dev-inbox-secret"),
                    ("PIPEDRIVE_WEBHOOK_USER", "dev-pipedrive-user"),
                    ("PIPEDRIVE_WEBHOOK_PASSWORD", "dev-pipedrive-password"),
                    (
                        "CLOSE_WEBHOOK_KEY",
                        "058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c",
                    ),
                    ("SALESFORCE_PATH_TOKEN", "9f2c7e1a4b"),
                    ("SALESFORCE_ORG_ID", "00D5g000004ABCDEA4"),
                    ("GENERIC_WEBHOOK_SECRET", "dev-generic-secret"),
                ]),
                ..Settings::new(Arc::new(config))
            },
        )
        .intake()
    }

    fn sample_event() -> Request {
        event_file("hubspot-deal-stage-changed.json")
    }

    fn event_json(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/../../events/crm-webhook/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn event_file(name: &str) -> Request {
        to_lambda(&event_json(name))
    }

    fn to_lambda(event: &serde_json::Value) -> Request {
        lambda_http::request::from_str(&event.to_string()).expect("API Gateway v2 event")
    }

    /// The timestamp the `events/crm-webhook/{inbox,generic}-*.json` samples are signed with
    /// (2026-03-02T10:15:00Z), as README documents.
    const SAMPLE_SIGNED_AT: i64 = 1772446500;

    /// An intake whose clock stands two seconds after the draftgate samples were signed, on
    /// the bundled config plus the Notion stage mapping the generic sample uses.
    fn draftgate_intake(store: &Arc<EmbeddedStore>) -> Intake {
        let mut text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/draftgate.toml"
        ))
        .unwrap();
        if !text.contains("[stages.notion]") {
            text.push_str("\n[stages.notion]\n\"Lead\" = \"qualified\"\n\"Proposal sent\" = \"proposal\"\n\"Negotiation\" = \"negotiating\"\n\"Won\" = \"closed_won\"\n\"Lost\" = \"closed_lost\"\n");
        }
        intake_at(
            store,
            jiff::Timestamp::from_second(SAMPLE_SIGNED_AT + 2).unwrap(),
            shared::config::Config::parse("draftgate.toml", &text, &shared::config::BundledFiles)
                .unwrap(),
        )
    }

    async fn answer(intake: &Intake, req: Request) -> (u16, serde_json::Value) {
        let resp = handle(intake, &Default::default(), req).await.unwrap();
        let body = serde_json::from_slice(resp.body().as_ref()).unwrap();
        (resp.status().as_u16(), body)
    }

    fn accepted_and_duplicates(body: &serde_json::Value) -> (Option<u64>, Option<u64>) {
        (body["accepted"].as_u64(), body["duplicates"].as_u64())
    }

    const ACME: (&str, &str) = ("hubspot", "18544521873");

    #[tokio::test]
    async fn the_sample_api_gateway_event_is_verified_recorded_and_a_redelivery_is_counted() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = intake(&store);
        let resp = handle(&intake, &Default::default(), sample_event())
            .await
            .unwrap();
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

        let again = handle(&intake, &Default::default(), sample_event())
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(again.body().as_ref()).unwrap();
        assert_eq!(
            (body["accepted"].as_u64(), body["duplicates"].as_u64()),
            (Some(0), Some(2))
        );
        let kinds: Vec<String> = store
            .entries(None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind.to_string())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| *k == "event.accepted").count(),
            2,
            "one audit entry per accepted event: {kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "deal.unknown_in_crm").count(),
            1,
            "the deal HubSpot no longer knows is recorded as such, once: {kinds:?}"
        );
    }

    /// The sample batch as a Lambda function URL delivers it (`WebhookEndpoint=FunctionUrl`):
    /// same payload format, the function URL's host, no route key, signed by HubSpot for `url`.
    fn via_function_url(url_signed_for: &str) -> Request {
        const HOST: &str = "k3x7q2m9p4w8z1v6n5b0c7d2f4g8h1j3.lambda-url.eu-west-1.on.aws";
        let mut event = event_json("hubspot-deal-stage-changed.json");
        let body = event["body"].as_str().unwrap().to_owned();
        let ts = event["headers"]["x-hubspot-request-timestamp"]
            .as_str()
            .unwrap()
            .to_owned();
        let url = url_signed_for.replace("{host}", HOST);
        let sig = shared::providers::signature::hubspot_v3_signature(
            b"0c8f3b6e-5d2a-4f71-9b3e-8a1d2c4e6f70",
            "POST",
            &url,
            body.as_bytes(),
            &ts,
        );
        event["routeKey"] = "$default".into();
        event["headers"]["host"] = HOST.into();
        event["headers"]["x-hubspot-signature-v3"] = sig.into();
        event["requestContext"]["routeKey"] = "$default".into();
        event["requestContext"]["domainName"] = HOST.into();
        event["requestContext"]["domainPrefix"] = HOST.split('.').next().unwrap().into();
        event["requestContext"]["apiId"] = HOST.split('.').next().unwrap().into();
        event.as_object_mut().unwrap().remove("pathParameters");
        to_lambda(&event)
    }

    #[tokio::test]
    async fn a_hubspot_batch_through_the_function_url_is_checked_against_that_url() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let (status, body) = answer(
            &intake(&store),
            via_function_url("https://{host}/webhooks/hubspot"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(accepted_and_duplicates(&body), (Some(2), Some(0)));

        // Signed for the API's URL but delivered to the function URL: not what HubSpot sent.
        let store = EmbeddedStore::open_in_memory().unwrap();
        let (status, body) = answer(
            &intake(&store),
            via_function_url(
                "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/webhooks/hubspot",
            ),
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert!(store
            .get_deal(&DealRef::new(ACME.0, ACME.1))
            .await
            .unwrap()
            .is_none());
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
        let resp = handle(&intake, &Default::default(), req).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(store.all_deals().unwrap().is_empty());
        assert!(store.entries(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_signed_inbox_reply_is_recorded_as_the_prospects_reply() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = draftgate_intake(&store);
        let (status, body) = answer(&intake, event_file("inbox-reply.json")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["provider"], "inbox");
        assert_eq!(accepted_and_duplicates(&body), (Some(1), Some(0)));

        let deal = DealRef::new(ACME.0, ACME.1);
        let state = store.get_deal(&deal).await.unwrap().unwrap();
        assert_eq!(
            state.last_inbound_at,
            Some("2026-03-02T10:14:41Z".parse().unwrap())
        );
        let timeline = store.timeline(&deal).await.unwrap();
        assert!(
            matches!(&timeline[0].kind, EventKind::ProspectReplied { summary }
                if summary.starts_with("Reply from jane.doe@acme.example: \"Re: Proposal for Acme Corp")),
            "{:?}",
            timeline[0].kind
        );

        let (_, again) = answer(&intake, event_file("inbox-reply.json")).await;
        assert_eq!(accepted_and_duplicates(&again), (Some(0), Some(1)));
        assert_eq!(store.entries(None).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_out_of_office_message_is_recorded_as_an_auto_reply_not_a_reply() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = draftgate_intake(&store);
        let (status, body) = answer(&intake, event_file("inbox-out-of-office.json")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(accepted_and_duplicates(&body), (Some(1), Some(0)));

        let deal = DealRef::new(ACME.0, ACME.1);
        let timeline = store.timeline(&deal).await.unwrap();
        assert_eq!(timeline.len(), 1);
        assert!(
            matches!(timeline[0].kind, EventKind::AutoReplyReceived { .. }),
            "{:?}",
            timeline[0].kind
        );
        let state = store.get_deal(&deal).await.unwrap().unwrap();
        assert_eq!(state.last_inbound_at, None, "an auto reply is not a reply");
    }

    #[tokio::test]
    async fn a_signed_meeting_booking_schedules_the_meeting() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = draftgate_intake(&store);
        let (status, body) = answer(&intake, event_file("inbox-meeting-booked.json")).await;
        assert_eq!(status, 200, "{body}");
        let state = store
            .get_deal(&DealRef::new(ACME.0, ACME.1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            state.next_meeting_at,
            Some("2026-03-05T14:00:00Z".parse().unwrap())
        );
        assert_eq!(state.next_meeting_id.as_deref(), Some("evt_7Jd2QeZ"));
    }

    #[tokio::test]
    async fn a_forged_inbox_signature_is_401_and_stores_nothing() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = draftgate_intake(&store);
        let mut event = event_json("inbox-reply.json");
        let forged = shared::providers::signature::draftgate_signature(
            b"not-the-secret",
            "1772446500",
            event["body"].as_str().unwrap().as_bytes(),
        );
        event["headers"]["x-draftgate-signature"] = forged.into();
        let (status, body) = answer(&intake, to_lambda(&event)).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].as_str().unwrap().contains("inbox signature"));
        // A signature made for another body does not verify this one either.
        let mut event = event_json("inbox-reply.json");
        event["headers"]["x-draftgate-signature"] =
            event_json("inbox-out-of-office.json")["headers"]["x-draftgate-signature"].clone();
        assert_eq!(answer(&intake, to_lambda(&event)).await.0, 401);
        assert!(store.all_deals().unwrap().is_empty());
        assert!(store.entries(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_generic_sample_batch_is_recorded_and_a_redelivery_is_counted() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = draftgate_intake(&store);
        let (status, body) = answer(&intake, event_file("generic-deal-events.json")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["provider"], "generic");
        assert_eq!(accepted_and_duplicates(&body), (Some(5), Some(0)));

        let deal = DealRef::new("notion", "3f9a2c1e-77b0-4c3e-9d51-0b8e6a4f2d10");
        let state = store.get_deal(&deal).await.unwrap().unwrap();
        assert_eq!(state.name, "Globex - Brand refresh");
        assert_eq!(state.stage, Some(Stage::Proposal));
        assert_eq!(
            state.contact_email.as_deref(),
            Some("sam.lee@globex.example")
        );
        assert_eq!(
            state.facts["contact.first_name"].source,
            "notion via generic webhook"
        );
        assert_eq!(state.quote_expires_on, Some(jiff::civil::date(2026, 3, 31)));
        assert_eq!(store.timeline(&deal).await.unwrap().len(), 5);

        let (_, again) = answer(&intake, event_file("generic-deal-events.json")).await;
        assert_eq!(accepted_and_duplicates(&again), (Some(0), Some(5)));
    }

    #[tokio::test]
    async fn a_generic_batch_with_one_bad_event_stores_nothing_and_answers_400() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = draftgate_intake(&store);
        let mut event = event_json("generic-deal-events.json");
        let body = event["body"]
            .as_str()
            .unwrap()
            .replace("\"type\": \"call_logged\"", "\"type\": \"call\"");
        let signature = shared::providers::signature::draftgate_signature(
            b"dev-generic-secret",
            "1772446500",
            body.as_bytes(),
        );
        event["body"] = body.into();
        event["headers"]["x-draftgate-signature"] = signature.into();
        let (status, answer_body) = answer(&intake, to_lambda(&event)).await;
        assert_eq!(status, 400, "{answer_body}");
        let error = answer_body["error"].as_str().unwrap();
        assert!(
            error.starts_with("event 3: unknown type `call`; expected one of deal_created,"),
            "{error}"
        );
        assert!(store.all_deals().unwrap().is_empty());
        assert!(store.entries(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_pipedrive_close_and_salesforce_samples_are_verified_and_recorded_once() {
        let store = EmbeddedStore::open_in_memory().unwrap();
        let intake = intake(&store);
        for (sample, deal) in [
            ("pipedrive-deal-won-v2.json", ("pipedrive", "1432")),
            (
                "close-opportunity-won.json",
                ("close", "oppo_8H4sjNso7FyBFaeR3RXi5PMJbilfo0c6UPCxsJtEhCO"),
            ),
            (
                "salesforce-outbound-opportunity-won.json",
                ("salesforce", "0065g00000XyZabAAF"),
            ),
        ] {
            let resp = handle(&intake, &Default::default(), event_file(sample))
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{sample}: {:?}", resp.body());
            let again = handle(&intake, &Default::default(), event_file(sample))
                .await
                .unwrap();
            assert_eq!(
                again.status(),
                200,
                "{sample}: a redelivery is answered too"
            );
            let won = store
                .get_deal(&DealRef::new(deal.0, deal.1))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{sample}: the deal is recorded"));
            assert_eq!(won.stage, Some(Stage::ClosedWon), "{sample}");
            let recorded = store.timeline(&won.key).await.unwrap().len();
            assert!(recorded >= 1, "{sample}");
            assert_eq!(
                store.timeline(&won.key).await.unwrap().len(),
                recorded,
                "{sample}: the redelivery recorded nothing"
            );
        }
        let ack = handle(
            &intake,
            &Default::default(),
            event_file("salesforce-outbound-opportunity-won.json"),
        )
        .await
        .unwrap();
        let body = match ack.body() {
            Body::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        };
        assert!(body.contains("<Ack>true</Ack>"), "{body}");
    }
}
