//! A CRM API over reqwest: a base URL, a credential, a timeout, and the retry rules every CRM
//! client needs. 429 waits for `Retry-After` (seconds or an HTTP date, capped); a 5xx or a
//! network failure backs off exponentially; both give up after a few attempts with
//! `CrmError::Unavailable`, so a sync stops without moving its watermark and retries next run.
//! Credentials and URLs (which may carry tokens) never reach an error message.

use std::time::Duration;

use serde_json::Value;

use crate::ports::CrmError;

use crate::secret::Secret;

/// How a CRM wants its credential.
#[derive(Clone)]
pub enum Auth {
    Bearer(Secret),
    /// A named header, e.g. Pipedrive's `x-api-token`.
    Header(&'static str, Secret),
    /// HTTP Basic with the secret as user name and no password (Close's API keys).
    BasicUser(Secret),
}

/// One HTTP client (connection pool, TLS configuration) for every CRM API of the process:
/// building one costs milliseconds of a cold start, so it is built once, on first use.
pub(crate) fn shared_http() -> reqwest::Client {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .user_agent("draftgate")
            .build()
            .expect("a TLS client builds")
    })
    .clone()
}

#[derive(Clone)]
pub struct ApiClient {
    /// Each request's time limit.
    timeout: Duration,
    base_url: String,
    auth: Auth,
    /// Names the CRM in errors.
    name: &'static str,
    max_attempts: u32,
    /// The longest `Retry-After` honoured; longer waits fail the run (the next one retries).
    max_wait: Duration,
}

impl ApiClient {
    pub fn new(name: &'static str, base_url: &str, auth: Auth) -> Self {
        ApiClient {
            timeout: Duration::from_secs(10),
            base_url: base_url.trim_end_matches('/').to_string(),
            auth,
            name,
            max_attempts: 4,
            max_wait: Duration::from_secs(60),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Fail fast instead of retrying: a webhook's caller (HubSpot waits 5 s) retries itself.
    pub fn single_attempt(mut self, timeout: Duration) -> Self {
        self.max_attempts = 1;
        self.timeout = timeout;
        self
    }

    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Bearer(token) => req.bearer_auth(token.expose()),
            Auth::Header(name, value) => req.header(*name, value.expose()),
            Auth::BasicUser(key) => req.basic_auth(key.expose(), Some("")),
        }
    }

    /// GET `path` (relative to the base URL) with `query`; the JSON body of a 2xx.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CrmError> {
        self.send(reqwest::Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CrmError> {
        self.send(reqwest::Method::POST, path, &[], Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, CrmError> {
        self.send(reqwest::Method::PATCH, path, &[], Some(body))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, CrmError> {
        self.send(reqwest::Method::PUT, path, &[], Some(body)).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, CrmError> {
        let url = format!("{}{path}", self.base_url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let http = shared_http();
            let mut req = self.authorize(
                http.request(method.clone(), &url)
                    .timeout(self.timeout)
                    .query(query),
            );
            if let Some(b) = body {
                req = req.json(b);
            }
            let wait = match req.send().await {
                Err(e) => {
                    let e = e.without_url();
                    if attempt >= self.max_attempts {
                        return Err(CrmError::Unavailable(Box::new(e)));
                    }
                    backoff(attempt)
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status == reqwest::StatusCode::NO_CONTENT {
                        return Ok(Value::Null);
                    }
                    if status.is_success() {
                        return resp.json().await.map_err(|e| {
                            CrmError::Invalid(format!("{} {path}: {}", self.name, e.without_url()))
                        });
                    }
                    if status == reqwest::StatusCode::NOT_FOUND {
                        return Err(CrmError::NotFound(path.to_string()));
                    }
                    let retryable = status == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || status.is_server_error();
                    if !retryable {
                        return Err(CrmError::Invalid(format!(
                            "{} answered {status} to {method} {path}",
                            self.name
                        )));
                    }
                    if attempt >= self.max_attempts {
                        return Err(CrmError::Unavailable(
                            format!(
                                "{} answered {status} to {method} {path} {attempt} times",
                                self.name
                            )
                            .into(),
                        ));
                    }
                    let asked = retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
                    if let Some(w) = asked.filter(|w| *w > self.max_wait) {
                        let why = format!(
                            "{} asked to wait {} s (Retry-After); trying again on the next run",
                            self.name,
                            w.as_secs()
                        );
                        return Err(CrmError::Unavailable(why.into()));
                    }
                    asked.unwrap_or_else(|| backoff(attempt))
                }
            };
            tracing::info!(
                crm = self.name,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "CRM API busy; waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt.min(6)))
}

/// `Retry-After`: delay-seconds, or an HTTP date.
pub(crate) fn retry_after(value: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    Some(
        when.duration_since(now)
            .try_into()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let h = |s: &str| reqwest::header::HeaderValue::from_str(s).unwrap();
        assert_eq!(retry_after(Some(&h("7"))), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(Some(&h("Wed, 21 Oct 2015 07:28:00 GMT"))),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(retry_after(Some(&h("soon"))), None);
        assert_eq!(retry_after(None), None);
    }
}
