//! A mailbox API (Gmail, Microsoft Graph) over reqwest with a refreshing OAuth token: a 401
//! drops the cached access token and tries once more with a fresh one; 429 and 5xx wait and
//! retry a few times (`Retry-After` honoured up to a cap) before giving up as unavailable, so
//! the push is retried by its provider. Tokens and URLs never reach an error message.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::oauth::TokenSource;
use crate::providers::api::{backoff, retry_after, shared_http};
use crate::providers::mailbox::MailError;

const ATTEMPTS: u32 = 4;
const MAX_WAIT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct MailApi {
    pub name: &'static str,
    base_url: String,
    tokens: Arc<TokenSource>,
}

impl MailApi {
    pub fn new(name: &'static str, base_url: &str, tokens: Arc<TokenSource>) -> Self {
        MailApi {
            name,
            base_url: base_url.trim_end_matches('/').to_string(),
            tokens,
        }
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, MailError> {
        self.call(reqwest::Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, MailError> {
        self.call(reqwest::Method::POST, path, &[], Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, MailError> {
        self.call(reqwest::Method::PATCH, path, &[], Some(body))
            .await
    }

    /// `path` is relative to the base URL, or an absolute URL the API gave (a Graph
    /// `@odata.nextLink`), which must be under the base URL: the token goes nowhere else.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, MailError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            if !path.starts_with(&format!("{}/", self.base_url)) {
                return Err(MailError::Invalid(format!(
                    "{} gave a link outside its API",
                    self.name
                )));
            }
            path.to_string()
        } else {
            format!("{}{path}", self.base_url)
        };
        // What errors may name: the path without query or ids beyond the route.
        let route = url
            .strip_prefix(&self.base_url)
            .unwrap_or("")
            .split('?')
            .next()
            .unwrap_or("")
            .to_string();
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let token = self.tokens.access().await?;
            let mut req = shared_http()
                .request(method.clone(), &url)
                .timeout(Duration::from_secs(10))
                .bearer_auth(token.expose())
                .query(query);
            match body {
                Some(Value::Null) => req = req.header(reqwest::header::CONTENT_LENGTH, "0"),
                Some(b) => req = req.json(b),
                None => {}
            }
            let wait = match req.send().await {
                Err(e) => {
                    if attempt >= ATTEMPTS {
                        return Err(MailError::Unavailable(Box::new(e.without_url())));
                    }
                    backoff(attempt)
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        let bytes = resp
                            .bytes()
                            .await
                            .map_err(|e| MailError::Unavailable(Box::new(e.without_url())))?;
                        if bytes.is_empty() {
                            return Ok(Value::Null);
                        }
                        return serde_json::from_slice(&bytes).map_err(|e| {
                            MailError::Invalid(format!("{} {method} {route}: {e}", self.name))
                        });
                    }
                    if status == reqwest::StatusCode::UNAUTHORIZED && !refreshed {
                        // The cached token was refused: once more with a fresh one.
                        refreshed = true;
                        attempt -= 1;
                        self.tokens.invalidate().await;
                        continue;
                    }
                    if status == reqwest::StatusCode::NOT_FOUND {
                        return Err(MailError::NotFound(format!("{} {route}", self.name)));
                    }
                    let retryable = status == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || status.is_server_error();
                    if !retryable {
                        let problem = resp.text().await.unwrap_or_default();
                        let problem = crate::domain::checks::excerpt(&problem, 300);
                        return Err(MailError::Invalid(format!(
                            "{} answered {status} to {method} {route}: {problem}",
                            self.name
                        )));
                    }
                    if attempt >= ATTEMPTS {
                        return Err(MailError::Unavailable(
                            format!(
                                "{} answered {status} to {method} {route} {attempt} times",
                                self.name
                            )
                            .into(),
                        ));
                    }
                    let asked = retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
                    if asked.is_some_and(|w| w > MAX_WAIT) {
                        return Err(MailError::Unavailable(
                            format!("{} asked to wait longer than it is worth now", self.name)
                                .into(),
                        ));
                    }
                    asked.unwrap_or_else(|| backoff(attempt))
                }
            };
            tracing::info!(
                api = self.name,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "mailbox API busy; waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }
}
