//! Hostile input against the real `draftgate` binary, black-box: CRM text that carries line
//! breaks, header names, Markdown links, images and headings; an edited subject that tries to
//! add a recipient; decisions posted from another site; a malformed Salesforce body; and a
//! runner started on an address other machines can reach. The founder's Gmail is a mock of its
//! API; every message it is asked to send is read back with a real RFC 5322 parser.

use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use mail_parser::MessageParser;
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;

use support::{free_port, Runner};

const HOSTILE_NAME: &str = "Zenith\r\nBcc: victim@evil.example\r\nX-Injected: yes";

impl Runner {
    async fn founder_notes(&self) -> Vec<Value> {
        self.get("/dev/outbox")
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "founder" && m["draft_id"].is_string())
            .cloned()
            .collect()
    }

    async fn draft_json(&self, review_url: &str) -> Value {
        self.http
            .get(review_url)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A decision posted as a browser would, with `headers` (`Origin`, `Sec-Fetch-Site`).
    async fn decide(
        &self,
        review_url: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let (url, token) = review_url.split_once("?token=").unwrap();
        let mut form = vec![("token", token)];
        form.extend_from_slice(fields);
        let mut req = self
            .http
            .post(url)
            .header("Accept", "application/json")
            .form(&form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

async fn gmail() -> MockServer {
    let google = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "access_token": "ya29.e2e", "expires_in": 3599, "token_type": "Bearer" }),
        ))
        .mount(&google)
        .await;
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/messages/send"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({ "id": "18c-sent", "threadId": "t-new", "labelIds": ["SENT"] }),
            ),
        )
        .mount(&google)
        .await;
    google
}

/// Every raw message Gmail was asked to send.
async fn sent_raw(google: &MockServer) -> Vec<String> {
    google
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/gmail/v1/users/me/messages/send")
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            let raw = base64::engine::general_purpose::URL_SAFE
                .decode(v["raw"].as_str().unwrap())
                .unwrap();
            String::from_utf8(raw).unwrap()
        })
        .collect()
}

#[tokio::test]
#[allow(clippy::print_stderr)] // prints the sent messages for the record
async fn crm_text_and_edits_never_become_headers_links_or_headings() {
    let google = gmail().await;
    let data = tempfile::tempdir().unwrap();
    let base = google.uri();
    let token_url = format!("{base}/token");
    let runner = support::start(
        data.path(),
        free_port(),
        &[
            ("DRAFTGATE_SIGNING_KEY", "e2e-signing-key"),
            ("MAIL_SENDER", "gmail"),
            ("GOOGLE_CLIENT_ID", "e2e.apps.googleusercontent.com"),
            ("GOOGLE_CLIENT_SECRET", "e2e-client-secret"),
            ("GOOGLE_TOKEN_URL", &token_url),
            ("GMAIL_API_BASE_URL", &base),
            ("GMAIL_REFRESH_TOKEN", "1//e2e-refresh"),
        ],
        &[
            "GENERIC_WEBHOOK_SECRET",
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_BASE_URL",
            "GMAIL_PUBSUB_TOPIC",
            "GMAIL_PUSH_TOKEN",
        ],
    )
    .await;
    let now = runner.now().await;
    let at = |hours_ago: i64| (now - jiff::SignedDuration::from_hours(hours_ago)).to_string();
    // Two deals with hostile names: one waits on a proposal sent four days ago, one enters the
    // proposal stage now (its proposal is drafted at once, as a document).
    let s = runner
        .generic_events(json!([
            {
                "id": "zenith-proposal", "type": "proposal_sent", "occurred_at": at(96),
                "deal": { "crm": "notion", "id": "zenith-1", "name": HOSTILE_NAME, "amount": 24000,
                          "currency": "EUR",
                          "contact": { "email": "mia@zenith.example", "first_name": "Mia\r\nBcc: first@evil.example" } }
            },
            {
                "id": "markup-created", "type": "deal_created", "occurred_at": at(2),
                "deal": { "crm": "notion", "id": "markup-2",
                          "name": "[click me](javascript:alert(1)) ![t](https://evil.example/t.png)",
                          "amount": 9000, "currency": "EUR", "deal_type": "audit",
                          "contact": { "email": "ops@markup.example", "first_name": "Ola",
                                       "company": "Markup\n## Pricing\n| Free | 0 |\n<img src=x onerror=alert(1)>" } }
            },
            {
                "id": "markup-stage", "type": "stage_changed", "stage": "Proposal sent", "occurred_at": at(1),
                "deal": { "crm": "notion", "id": "markup-2" }
            }
        ]))
        .await;
    assert_eq!(s["accepted"], 3, "{s}");
    runner.post_json("/dev/sweep", json!({})).await;

    // Every notification to the founder: one line of subject, whatever the deal is called.
    let notes = runner.founder_notes().await;
    assert_eq!(notes.len(), 2, "{notes:?}");
    for n in &notes {
        let subject = n["subject"].as_str().unwrap();
        assert!(
            !subject.contains(['\r', '\n', '\u{2028}', '\u{2029}']),
            "{subject:?}"
        );
    }
    let mut zenith = None;
    let mut proposal = None;
    for n in &notes {
        let url = n["review_url"].as_str().unwrap().to_string();
        let d = runner.draft_json(&url).await;
        match d["deal"]["id"].as_str() {
            Some("zenith-1") => zenith = Some((url, d)),
            Some("markup-2") => proposal = Some((url, d)),
            other => panic!("{other:?}"),
        }
    }
    let (zenith_url, zenith) = zenith.expect("Zenith's follow-up");
    let (proposal_url, proposal) = proposal.expect("Markup's proposal");
    assert!(
        !zenith["subject"].as_str().unwrap().contains('\n'),
        "{zenith}"
    );

    // The printable proposal: the fields are text. No javascript: link, no image, one Pricing.
    let doc_url = proposal_url.replacen("?token=", "/document?token=", 1);
    let doc = runner
        .http
        .get(&doc_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(doc.contains("<h2>Pricing</h2>"), "{doc}");
    assert_eq!(doc.matches("<h2>Pricing</h2>").count(), 1, "{doc}");
    assert!(!doc.contains("javascript:alert(1)\""), "{doc}");
    assert!(!doc.contains("<a href=\"javascript"), "{doc}");
    assert!(!doc.contains("<img"), "{doc}");
    assert!(doc.contains("[click me](javascript:alert(1))"), "{doc}");
    assert!(proposal["subject"].is_string(), "{proposal}");

    // A decision from another site sends nothing.
    for headers in [
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ] {
        let (status, body) = runner
            .decide(&zenith_url, &[("action", "approve")], &headers)
            .await;
        assert_eq!(status, 403, "{headers:?}: {body}");
    }
    assert!(sent_raw(&google).await.is_empty());

    // From the page itself, with an edited subject that tries to add a recipient.
    let own = runner.base.clone();
    let (status, body) = runner
        .decide(
            &zenith_url,
            &[
                ("action", "approve"),
                (
                    "subject",
                    "Hello\r\nBcc: victim@evil.example\u{2028}X-Injected: yes",
                ),
            ],
            &[("Origin", &own)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let raws = sent_raw(&google).await;
    assert_eq!(raws.len(), 1);
    eprintln!("--- sent through Gmail ---\n{}\n---", raws[0]);
    let head = raws[0].split("\r\n\r\n").next().unwrap();
    for line in head.lines() {
        let name = line.split(':').next().unwrap().to_ascii_lowercase();
        assert!(
            !matches!(name.as_str(), "bcc" | "x-injected" | "cc"),
            "{line}"
        );
    }
    let m = MessageParser::default().parse(raws[0].as_bytes()).unwrap();
    assert!(m.bcc().is_none());
    assert_eq!(m.to().map(|a| a.iter().count()), Some(1));
    assert_eq!(
        m.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("mia@zenith.example")
    );
    assert_eq!(
        m.subject(),
        Some("Hello Bcc: victim@evil.example X-Injected: yes")
    );
    // In the body too, a CRM field stays on its line: nothing reads like a header there.
    let body = m.body_text(0).unwrap();
    assert!(
        body.lines()
            .all(|l| !l.starts_with("Bcc:") && !l.starts_with("X-Injected:")),
        "{body}"
    );
    let outbox = runner.get("/dev/outbox").await;
    for m in outbox.as_array().unwrap() {
        let subject = m["subject"].as_str().unwrap();
        assert!(!subject.contains(['\r', '\n', '\u{2028}']), "{m}");
    }
}

#[tokio::test]
async fn another_sites_page_cannot_read_the_outbox_move_the_clock_or_decide() {
    let data = tempfile::tempdir().unwrap();
    let runner = support::start(data.path(), free_port(), &[], &[]).await;
    let port = runner.base.rsplit(':').next().unwrap().to_string();
    // A page that rebound its own DNS name to the runner's address.
    let rebound = format!("rebind.attacker.example:{port}");
    for (m, p) in [
        ("GET", "/dev/outbox"),
        ("GET", "/review"),
        ("POST", "/review/d1"),
    ] {
        let r = runner
            .http
            .request(m.parse().unwrap(), format!("{}{p}", runner.base))
            .header("Host", &rebound)
            .header("Origin", format!("http://{rebound}"))
            .header("Sec-Fetch-Site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 421, "{m} {p}");
    }
    // A page of another site posting simple requests to the dev routes.
    let before = runner.now().await;
    for p in ["/dev/clock", "/dev/sweep"] {
        let r = runner
            .http
            .post(format!("{}{p}", runner.base))
            .header("Content-Type", "text/plain")
            .header("Origin", "https://evil.example")
            .header("Sec-Fetch-Site", "cross-site")
            .body(r#"{"advance_secs": 86400}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{p}");
    }
    assert!(runner.now().await.duration_since(before) < jiff::SignedDuration::from_hours(1));
    // The runner under its own names still answers.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let r = runner
            .http
            .get(format!("{}/dev/clock", runner.base))
            .header("Host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{host}");
    }
}

#[tokio::test]
async fn a_malformed_salesforce_body_with_the_right_token_is_400() {
    let data = tempfile::tempdir().unwrap();
    let runner = support::start(data.path(), free_port(), &[], &["SALESFORCE_PATH_TOKEN"]).await;
    for (body, want) in [
        ("not xml at all", 400),
        ("<soapenv:Envelope/>", 400),
        ("<a><b></a>", 400),
    ] {
        let r = runner
            .http
            .post(format!(
                "{}/webhooks/salesforce/dev-salesforce-path-token",
                runner.base
            ))
            .header("Content-Type", "text/xml")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "{body}");
        let text = r.text().await.unwrap();
        assert!(!text.contains("<Ack>true</Ack>"), "{text}");
    }
    let r = runner
        .http
        .post(format!("{}/webhooks/salesforce/wrong-token", runner.base))
        .header("Content-Type", "text/xml")
        .body("not xml at all")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// Every secret that falls back to a value the README prints.
const PUBLISHED: [&str; 9] = [
    "HUBSPOT_CLIENT_SECRET",
    "PIPEDRIVE_WEBHOOK_USER",
    "PIPEDRIVE_WEBHOOK_PASSWORD",
    "CLOSE_WEBHOOK_KEY",
    "SALESFORCE_PATH_TOKEN",
    "SALESFORCE_ORG_ID",
    "PANDADOC_WEBHOOK_KEY",
    "INBOX_WEBHOOK_SECRET",
    "GENERIC_WEBHOOK_SECRET",
];

fn serve_on_all_addresses(port: u16, data: &std::path::Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_draftgate"));
    cmd.args(["serve", "--addr", &format!("0.0.0.0:{port}"), "--no-sample"])
        .arg("--data")
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "warn")
        .env_remove("PUBLIC_BASE_URL");
    for name in PUBLISHED {
        cmd.env_remove(name);
    }
    cmd
}

/// The start-up banner, once the runner printed its last line (it then takes requests).
async fn banner(child: &mut std::process::Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let read = tokio::task::spawn_blocking(move || {
        use std::io::BufRead as _;
        let mut text = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            text.push_str(&line);
            text.push('\n');
            if line.trim_start().starts_with("dev routes:") {
                break;
            }
        }
        text
    });
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the runner printed its banner")
        .unwrap()
}

#[tokio::test]
async fn a_runner_on_a_reachable_address_needs_real_secrets_and_keeps_dev_routes_off() {
    let data = tempfile::tempdir().unwrap();
    // With the development secrets, it refuses to start and names each one.
    let port = free_port();
    let out = serve_on_all_addresses(port, data.path(), &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in &PUBLISHED {
        assert!(err.contains(name), "{name} in {err}");
    }
    assert!(
        !data.path().join("draftgate.sqlite3").exists(),
        "a refused start writes nothing"
    );
    // A secret set to the very value the README prints is no secret.
    let out = serve_on_all_addresses(port, data.path(), &[])
        .envs(PUBLISHED.iter().map(|n| (*n, format!("real-{n}"))))
        .env("GENERIC_WEBHOOK_SECRET", "dev-generic-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GENERIC_WEBHOOK_SECRET") && !err.contains("HUBSPOT_CLIENT_SECRET"),
        "{err}"
    );

    // With real secrets (and one source turned off by an empty value) it starts, says the dev
    // routes are off, and does not serve them.
    let secrets: Vec<(&str, String)> = PUBLISHED
        .iter()
        .map(|n| (*n, format!("real-{}", n.to_ascii_lowercase())))
        .collect();
    let start = |extra: &[&str]| {
        let mut cmd = serve_on_all_addresses(port, data.path(), extra);
        for (k, v) in &secrets {
            cmd.env(k, v);
        }
        cmd.env("CLOSE_WEBHOOK_KEY", "")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(&[]);
    let text = banner(&mut child).await;
    assert!(text.contains("dev routes:   off"), "{text}");
    assert!(!text.contains("/dev/outbox"), "{text}");
    for (m, p) in [
        ("GET", "/dev/outbox"),
        ("GET", "/dev/clock"),
        ("POST", "/dev/clock"),
        ("GET", "/dev/audit"),
        ("POST", "/dev/sweep"),
        ("GET", "/dev/hubspot/crm/v3/objects/deals/9001"),
        ("PATCH", "/dev/hubspot/crm/v3/objects/deals/9001"),
    ] {
        let r = http
            .request(m.parse().unwrap(), format!("{base}{p}"))
            .json(&json!({ "advance_secs": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{m} {p}");
    }
    let r = http
        .post(format!("{base}/webhooks/close"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "an empty secret turns Close off");
    child.kill().unwrap();
    child.wait().unwrap();

    // --dev-routes serves them, and says what that exposes.
    let mut child = start(&["--dev-routes"]);
    let text = banner(&mut child).await;
    assert!(text.contains("dev routes:   ON"), "{text}");
    let r = http.get(format!("{base}/dev/outbox")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}
