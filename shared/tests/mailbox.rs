//! The mailbox clients against mocks of the Gmail API and Microsoft Graph (wiremock, shapes
//! from Google's discovery document and Graph's OpenAPI description): token refresh on 401, a
//! history position too old (404) caught up from the newest messages, 429 waited out, a revoked
//! grant, Google's push JWTs, Graph lifecycle notifications, and a send interrupted before it
//! was recorded found in Sent instead of sent twice.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{json, Value};
use shared::adapters::embedded::EmbeddedStore;
use shared::adapters::mailbox::api::MailApi;
use shared::adapters::mailbox::gmail::{GmailMailbox, GmailSender, PushAuth};
use shared::adapters::mailbox::oauth::{OAuthApp, TokenSource};
use shared::adapters::mailbox::outlook::OutlookMailbox;
use shared::config::Config;
use shared::domain::OutboundEmail;
use shared::ports::{Bookkeeping, Sender, SentLookup};
use shared::providers::mailbox::{MailError, MailboxSource, Notice};
use shared::providers::Incoming;
use shared::secret::Secret;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tests/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn api(server: &MockServer, name: &'static str) -> MailApi {
    let app = OAuthApp {
        provider: "Google",
        client_id: "test-client".into(),
        client_secret: Secret::new("test-secret"),
        auth_url: format!("{}/auth", server.uri()),
        token_url: format!("{}/token", server.uri()),
    };
    MailApi::new(
        name,
        &server.uri(),
        Arc::new(TokenSource::new(app, Secret::new("1//refresh"))),
    )
}

async fn tokens(server: &MockServer, tokens: &[&str]) {
    for (i, t) in tokens.iter().enumerate() {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains("refresh_token=1%2F%2Frefresh"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({ "access_token": t, "expires_in": 3599, "token_type": "Bearer" }),
            ))
            .up_to_n_times(if i + 1 == tokens.len() { u64::MAX } else { 1 })
            .mount(server)
            .await;
    }
}

fn message(id: &str, from: &str, at_ms: i64, extra: &[(&str, &str)]) -> Value {
    let mut headers = vec![
        json!({ "name": "From", "value": from }),
        json!({ "name": "Subject", "value": "Re: Proposal" }),
        json!({ "name": "Message-ID", "value": format!("<{id}@mail.example>") }),
    ];
    headers.extend(extra.iter().map(|(k, v)| json!({ "name": k, "value": v })));
    json!({ "id": id, "threadId": format!("t-{id}"), "labelIds": ["INBOX"], "snippet": "…",
            "internalDate": at_ms.to_string(), "payload": { "headers": headers } })
}

fn reader(server: &MockServer) -> GmailMailbox {
    GmailMailbox::new(
        api(server, "Gmail"),
        PushAuth {
            token: Some(Secret::new("push")),
            jwks_url: None,
            service_account: None,
        },
        Some("projects/p/topics/gmail".into()),
    )
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_read_goes_on() {
    let server = MockServer::start().await;
    tokens(&server, &["stale", "fresh"]).await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/history"))
        .and(header("authorization", "Bearer stale"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({ "error": { "code": 401, "status": "UNAUTHENTICATED" } })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/history"))
        .and(header("authorization", "Bearer fresh"))
        .and(query_param("startHistoryId", "500"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "history": [{ "id": "510", "messagesAdded": [{ "message": { "id": "m1", "threadId": "t-m1" } }] }],
            "historyId": "512"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages/m1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(message(
            "m1",
            "Dana <dana@acme.example>",
            1_764_000_000_000,
            &[],
        )))
        .mount(&server)
        .await;
    let store = EmbeddedStore::open_in_memory().unwrap();
    store
        .set_marker("mailbox:gmail:history", "500")
        .await
        .unwrap();
    let batch = reader(&server)
        .read(
            &*store,
            json!({ "emailAddress": "a@b.example", "historyId": 511 }),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(batch.messages.len(), 1);
    assert_eq!(
        batch.messages[0].from.as_deref(),
        Some("Dana <dana@acme.example>")
    );
    assert!(batch
        .positions
        .contains(&("mailbox:gmail:history".into(), "512".into())));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests.iter().filter(|r| r.url.path() == "/token").count(),
        2
    );
}

#[tokio::test]
async fn a_position_too_old_catches_up_on_the_newest_messages_since_the_last_check() {
    let server = MockServer::start().await;
    tokens(&server, &["t"]).await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/history"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({ "error": { "code": 404, "message": "Requested entity was not found." } }),
        ))
        .mount(&server)
        .await;
    // 429 first (Retry-After: 1), then the list.
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .and(query_param("maxResults", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [{ "id": "new", "threadId": "t1" }, { "id": "old", "threadId": "t2" }],
            "resultSizeEstimate": 2
        })))
        .mount(&server)
        .await;
    let checked = Timestamp::from_millisecond(1_764_000_000_000).unwrap();
    for (id, at) in [("new", 1_764_000_100_000_i64), ("old", 1_763_999_000_000)] {
        Mock::given(method("GET"))
            .and(path(format!("/gmail/v1/users/me/messages/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(message(
                id,
                "dana@acme.example",
                at,
                &[],
            )))
            .mount(&server)
            .await;
    }
    let store = EmbeddedStore::open_in_memory().unwrap();
    store
        .set_marker("mailbox:gmail:history", "42")
        .await
        .unwrap();
    store
        .set_marker("mailbox:gmail:checked_at", &checked.to_string())
        .await
        .unwrap();
    let batch = reader(&server)
        .read(
            &*store,
            json!({ "emailAddress": "a@b.example", "historyId": 9000 }),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let ids: Vec<&str> = batch.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["new"], "only what arrived since the last check");
    assert!(batch
        .positions
        .contains(&("mailbox:gmail:history".into(), "9000".into())));
    assert!(batch.skipped[0].contains("too old"), "{:?}", batch.skipped);
}

#[tokio::test]
async fn a_revoked_grant_is_reported_as_such_and_an_api_down_as_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_grant", "error_description": "Token has been expired or revoked." })))
        .mount(&server)
        .await;
    let store = EmbeddedStore::open_in_memory().unwrap();
    store
        .set_marker("mailbox:gmail:history", "1")
        .await
        .unwrap();
    let err = reader(&server)
        .read(
            &*store,
            json!({ "emailAddress": "a@b.example", "historyId": 2 }),
            Timestamp::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Revoked(_)), "{err:?}");

    let down = MockServer::start().await;
    tokens(&down, &["t"]).await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/history"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&down)
        .await;
    let err = reader(&down)
        .read(
            &*store,
            json!({ "emailAddress": "a@b.example", "historyId": 2 }),
            Timestamp::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Unavailable(_)), "{err:?}");
    // The position did not move: the retried push reads the same messages.
    assert_eq!(
        store
            .marker("mailbox:gmail:history")
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
}

fn signed_jwt(aud: &str, kid: &str) -> String {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(&fixture("keys/google-push-test.pem")).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(kid.into());
    let now = Timestamp::now().as_second();
    jsonwebtoken::encode(
        &h,
        &json!({ "iss": "https://accounts.google.com", "aud": aud, "iat": now, "exp": now + 3600,
                 "email": "gmail-push@northwind.iam.gserviceaccount.com", "email_verified": true,
                 "sub": "1234567890" }),
        &key,
    )
    .unwrap()
}

#[tokio::test]
async fn google_push_jwts_are_checked_against_googles_keys_and_the_route_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/oauth2/v3/certs"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("keys/google-push-test.jwks.json"),
            "application/json",
        ))
        .mount(&server)
        .await;
    let mailbox = GmailMailbox::new(
        api(&server, "Gmail"),
        PushAuth {
            token: None,
            jwks_url: Some(format!("{}/oauth2/v3/certs", server.uri())),
            service_account: Some("gmail-push@northwind.iam.gserviceaccount.com".into()),
        },
        None,
    );
    let config = Config::bundled().unwrap();
    let url = "https://hooks.northwind.example/webhooks/gmail";
    let body = fixture("payloads/gmail-pubsub-push-request.json");
    let open = |bearer: Option<String>| {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("/webhooks/gmail")
            .header("content-type", "application/json");
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        req.body(bytes::Bytes::from(body.clone())).unwrap()
    };
    let check = |req| {
        let config = &config;
        let mailbox = &mailbox;
        async move {
            let incoming = Incoming {
                request: &req,
                url: url.into(),
                now: Timestamp::now(),
                config,
            };
            mailbox.open(&incoming).await.map(|n| match n {
                Notice::Read(v) => v,
                Notice::Answer(_) => panic!("no handshake for Gmail"),
            })
        }
    };
    let notice = check(open(Some(signed_jwt(url, "draftgate-test-key-1"))))
        .await
        .unwrap();
    assert_eq!(notice["emailAddress"], "sam.seller@example.com");
    assert_eq!(notice["historyId"], 4839215);
    for (bearer, why) in [
        (None, "no JWT"),
        (
            Some(signed_jwt(
                "https://elsewhere.example/push",
                "draftgate-test-key-1",
            )),
            "another audience",
        ),
        (
            Some(signed_jwt(url, "unknown-key")),
            "a key Google does not list",
        ),
        (
            Some(format!("{}x", signed_jwt(url, "draftgate-test-key-1"))),
            "a broken signature",
        ),
    ] {
        let err = check(open(bearer)).await.unwrap_err();
        assert_eq!(err.status().as_u16(), 401, "{why}: {err}");
    }
}

#[tokio::test]
async fn graph_lifecycle_notifications_renew_resubscribe_and_catch_up() {
    let server = MockServer::start().await;
    tokens(&server, &["t"]).await;
    Mock::given(method("PATCH"))
        .and(path("/subscriptions/sub-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "sub-1" })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/subscriptions"))
        .and(body_string_contains("\"clientState\":\"cs-1\""))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": "sub-2" })))
        .expect(1)
        .mount(&server)
        .await;
    for folder in ["inbox", "sentitems"] {
        Mock::given(method("GET"))
            .and(path(format!("/me/mailFolders/{folder}/messages/delta")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "value": [],
                "@odata.deltaLink": format!("{}/me/mailFolders/{folder}/messages/delta?$deltatoken=d-{folder}", server.uri())
            })))
            .mount(&server)
            .await;
    }
    let mut app = OAuthApp {
        provider: "Microsoft",
        client_id: "c".into(),
        client_secret: Secret::new("s"),
        auth_url: format!("{}/auth", server.uri()),
        token_url: format!("{}/token", server.uri()),
    };
    app.provider = "Microsoft";
    let api = MailApi::new(
        "Microsoft Graph",
        &server.uri(),
        Arc::new(TokenSource::new(app, Secret::new("1//refresh"))),
    );
    let outlook = OutlookMailbox::new(
        api,
        Secret::new("cs-1"),
        "https://hooks.example/webhooks/outlook".into(),
    );
    let store = EmbeddedStore::open_in_memory().unwrap();
    let batch = outlook
        .read(
            &*store,
            json!([
                { "subscriptionId": "sub-1", "lifecycleEvent": "reauthorizationRequired", "clientState": "cs-1" },
                { "subscriptionId": "sub-1", "lifecycleEvent": "subscriptionRemoved", "clientState": "cs-1" }
            ]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(batch
        .positions
        .iter()
        .any(|(k, v)| k == "mailbox:outlook:delta:inbox" && v.ends_with("d-inbox")));
    assert!(batch
        .positions
        .iter()
        .any(|(k, v)| k == "mailbox:outlook:delta:sentitems" && v.ends_with("d-sentitems")));
    let sub: Value = serde_json::from_str(
        &store
            .marker("mailbox:outlook:subscription")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sub["id"], "sub-2", "subscribed again after the removal");
    // A notification pointing the client at a host outside the API is never followed.
    let notification: Value = serde_json::from_slice(&fixture(
        "payloads/graph-change-notification-message-created.json",
    ))
    .unwrap();
    assert_eq!(
        notification["value"][0]["clientState"],
        "sk_graph_9c2e7a41b0d34f5e"
    );
}

fn outbound() -> OutboundEmail {
    OutboundEmail {
        draft_id: "d42".into(),
        from: "Alex Rivera <alex@northwind.example>".into(),
        to: "jane.doe@acme.example".into(),
        reply_to: None,
        subject: "Following up".into(),
        body: "Hi Jane".into(),
        thread: None,
    }
}

#[tokio::test]
async fn an_interrupted_send_is_found_in_sent_by_its_draft_header() {
    let server = MockServer::start().await;
    tokens(&server, &["t"]).await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .and(query_param("labelIds", "SENT"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "messages": [{ "id": "other" }, { "id": "ours" }] })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages/other"))
        .respond_with(ResponseTemplate::new(200).set_body_json(message(
            "other",
            "alex@northwind.example",
            1_764_000_000_000,
            &[],
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages/ours"))
        .respond_with(ResponseTemplate::new(200).set_body_json(message(
            "ours",
            "alex@northwind.example",
            1_764_000_000_000,
            &[("X-Draftgate-Draft", "d42")],
        )))
        .mount(&server)
        .await;
    let sender = GmailSender {
        api: api(&server, "Gmail"),
    };
    match sender.find_sent(&outbound()).await.unwrap() {
        SentLookup::Found(r) => {
            assert_eq!(r.id, "ours");
            assert_eq!(r.conversation.unwrap().thread_id, "t-ours");
        }
        other => panic!("{other:?}"),
    }
    let mut not_ours = outbound();
    not_ours.draft_id = "d43".into();
    assert_eq!(
        sender.find_sent(&not_ours).await.unwrap(),
        SentLookup::NotFound
    );
    // Nothing was sent while looking.
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| !r.url.path().ends_with("/send")));
}
