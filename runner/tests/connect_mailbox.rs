//! `draftgate connect gmail` against a mock Google OAuth server: two consents (read, then send)
//! on a loopback redirect with PKCE (S256) and a checked `state`, each code exchanged with its
//! verifier for a refresh token, both saved to the data directory readable by the owner only.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn query(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn gmail_consent_runs_twice_with_pkce_and_saves_both_grants_privately() {
    let google = MockServer::start().await;
    for (code, refresh) in [
        ("code-read", "1//read-grant"),
        ("code-send", "1//send-grant"),
    ] {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains("grant_type=authorization_code"))
            .and(body_string_contains(format!("code={code}")))
            .and(body_string_contains("code_verifier="))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "ya29.x", "refresh_token": refresh, "expires_in": 3599,
                "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/gmail.metadata"
            })))
            .expect(1)
            .mount(&google)
            .await;
    }
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_draftgate"))
        .args(["connect", "gmail", "--port", "0", "--data"])
        .arg(data.path())
        .env("GOOGLE_CLIENT_ID", "test.apps.googleusercontent.com")
        .env("GOOGLE_CLIENT_SECRET", "test-secret")
        .env("GOOGLE_AUTH_URL", format!("{}/auth", google.uri()))
        .env("GOOGLE_TOKEN_URL", format!("{}/token", google.uri()))
        .env_remove("GMAIL_PUSH_TOKEN")
        .env_remove("GOOGLE_JWKS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let http = reqwest::Client::new();
    let mut scopes = Vec::new();
    for code in ["code-read", "code-send"] {
        let url = loop {
            let line = rx
                .recv_timeout(std::time::Duration::from_secs(20))
                .expect("a consent URL");
            if let Some(u) = line.trim().strip_prefix(&format!("{}/auth?", google.uri())) {
                break format!("{}/auth?{u}", google.uri());
            }
        };
        assert_eq!(
            query(&url, "code_challenge_method").as_deref(),
            Some("S256")
        );
        assert!(query(&url, "code_challenge").is_some_and(|c| c.len() >= 43));
        assert_eq!(query(&url, "access_type").as_deref(), Some("offline"));
        assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
        scopes.push(query(&url, "scope").unwrap());
        let redirect = query(&url, "redirect_uri").unwrap();
        assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
        let state = query(&url, "state").unwrap();
        // A redirect that does not carry the consent's state would be refused; this one does.
        let r = http
            .get(format!("{redirect}?code={code}&state={state}&scope=x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("connected"));
    }
    assert_eq!(scopes[0], "https://www.googleapis.com/auth/gmail.metadata");
    assert!(scopes[1].contains("gmail.send") && scopes[1].contains("gmail.metadata"));
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());

    let file = data.path().join("mailbox-grants.json");
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(saved["GMAIL_REFRESH_TOKEN"], "1//read-grant");
    assert_eq!(saved["GMAIL_SEND_REFRESH_TOKEN"], "1//send-grant");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "owner read/write only");
    }
}
