//! Any OpenAI-compatible chat-completions endpoint as the draft writer: a local Ollama,
//! llama.cpp server or vLLM, or a hosted one (`OPENAI_BASE_URL`, optional `OPENAI_API_KEY`).
//! One call per draft, with a time limit, a token cap, and retries on throttling (429, honouring
//! `Retry-After` up to a cap) and on a server error; the key never reaches a log or an error.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::ports::{Answer, DraftWriter, Prompt, WriterError};
use crate::providers::api::{backoff, retry_after};
use crate::secret::Secret;

/// The largest answer read (bytes): a follow-up's JSON is a few kilobytes.
const MAX_ANSWER: usize = 256 * 1024;

/// The model's HTTP client: built once, and never following a redirect (the prompt holds the
/// deal's facts and conversation, for this endpoint only).
fn model_http() -> reqwest::Client {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("draftgate")
            .build()
            .expect("a TLS client builds")
    })
    .clone()
}

pub struct OpenAiWriter {
    base_url: String,
    key: Option<Secret>,
    model: String,
    timeout: Duration,
    max_attempts: u32,
    max_wait: Duration,
}

impl OpenAiWriter {
    /// `base_url` ends in `/v1` (the endpoint is `{base_url}/chat/completions`).
    pub fn new(base_url: &str, key: Option<Secret>, model: &str, timeout: Duration) -> Self {
        OpenAiWriter {
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            model: model.to_string(),
            timeout,
            max_attempts: 3,
            max_wait: Duration::from_secs(10),
        }
    }

    fn body(&self, prompt: &Prompt) -> Value {
        json!({
            "model": self.model,
            "messages": [
                { "role": "system", "content": prompt.system },
                { "role": "user", "content": prompt.user },
            ],
            "max_tokens": prompt.max_tokens,
            "temperature": 0.3,
            "response_format": { "type": "json_object" },
            "stream": false,
        })
    }
}

#[async_trait]
impl DraftWriter for OpenAiWriter {
    fn model(&self) -> &str {
        &self.model
    }

    /// One answer within the time limit, retries and waits included.
    async fn write(&self, prompt: &Prompt) -> Result<Answer, WriterError> {
        tokio::time::timeout(self.timeout, self.attempts(prompt))
            .await
            .unwrap_or(Err(WriterError::Timeout))
    }
}

impl OpenAiWriter {
    async fn attempts(&self, prompt: &Prompt) -> Result<Answer, WriterError> {
        let url = format!("{}/chat/completions", self.base_url);
        let body = self.body(prompt);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = model_http().post(&url).json(&body);
            if let Some(key) = &self.key {
                request = request.bearer_auth(key.expose());
            }
            let last = attempt >= self.max_attempts;
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if e.is_timeout() => return Err(WriterError::Timeout),
                Err(_) if !last => {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(WriterError::Failed(kind_of(&e))),
            };
            let status = response.status();
            if status.as_u16() == 429 {
                let wait = retry_after(response.headers().get("retry-after"))
                    .unwrap_or_else(|| backoff(attempt));
                if last || wait > self.max_wait {
                    return Err(WriterError::Throttled);
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() && !last {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            if status.as_u16() == 404 {
                return Err(WriterError::Failed(
                    "HTTP 404: no chat-completions endpoint there (the base URL usually ends in /v1), or no such model".into(),
                ));
            }
            if !status.is_success() {
                return Err(WriterError::Failed(format!("HTTP {}", status.as_u16())));
            }
            let bytes = read_capped(response).await?;
            let value: Value = serde_json::from_slice(&bytes)
                .map_err(|_| WriterError::Failed("the answer is not JSON".into()))?;
            return answer(&value);
        }
    }
}

/// The answer's bytes, refusing one larger than [`MAX_ANSWER`] before reading it all.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, WriterError> {
    let too_big = || WriterError::Failed(format!("the answer is larger than {MAX_ANSWER} bytes"));
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER as u64)
    {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| WriterError::Failed("the answer broke off".into()))?
    {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `choices[0].message.content`, with the usage counts.
fn answer(value: &Value) -> Result<Answer, WriterError> {
    let text = value
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if text.is_empty() {
        return Err(WriterError::Empty);
    }
    let count = |key: &str| {
        value
            .pointer(&format!("/usage/{key}"))
            .and_then(Value::as_u64)
    };
    Ok(Answer {
        text: text.to_string(),
        tokens_in: count("prompt_tokens"),
        tokens_out: count("completion_tokens"),
    })
}

/// What went wrong, without the URL (which may carry a token).
fn kind_of(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "cannot connect".into()
    } else if e.is_request() {
        "the request failed".into()
    } else {
        "no answer".into()
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn prompt() -> Prompt {
        Prompt {
            system: "Write a follow-up.".into(),
            user: "Facts: …".into(),
            grounding: "deal.name: Acme".into(),
            max_tokens: 400,
        }
    }

    fn completion(content: &str) -> Value {
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "llama3.2",
            "choices": [{ "index": 0, "finish_reason": "stop",
                "message": { "role": "assistant", "content": content } }],
            "usage": { "prompt_tokens": 812, "completion_tokens": 96, "total_tokens": 908 }
        })
    }

    fn writer(server: &MockServer) -> OpenAiWriter {
        let mut w = OpenAiWriter::new(
            &format!("{}/v1", server.uri()),
            Some(Secret::new("sk-test")),
            "llama3.2",
            Duration::from_millis(500),
        );
        w.max_wait = Duration::from_secs(2);
        w
    }

    #[tokio::test]
    async fn the_answer_is_the_first_choices_content_with_its_token_counts() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", "Bearer sk-test"))
            .and(body_partial_json(json!({
                "model": "llama3.2", "max_tokens": 400,
                "messages": [{ "role": "system", "content": "Write a follow-up." }, { "role": "user", "content": "Facts: …" }]
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion(
                r#"{"subject": "Re: proposal", "body": "Hi Jane"}"#,
            )))
            .expect(1)
            .mount(&server)
            .await;
        let a = writer(&server).write(&prompt()).await.unwrap();
        assert_eq!(a.text, r#"{"subject": "Re: proposal", "body": "Hi Jane"}"#);
        assert_eq!((a.tokens_in, a.tokens_out), (Some(812), Some(96)));
    }

    #[tokio::test]
    async fn a_huge_answer_or_a_redirect_is_refused_without_following_it() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/huge/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(MAX_ANSWER + 1)))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/moved/chat/completions"))
            .respond_with(
                ResponseTemplate::new(307).insert_header("location", "http://127.0.0.1:9/steal"),
            )
            .mount(&server)
            .await;
        let at = |p: &str| {
            OpenAiWriter::new(
                &format!("{}/{p}", server.uri()),
                None,
                "m",
                Duration::from_secs(5),
            )
        };
        let huge = at("huge").write(&prompt()).await.unwrap_err();
        assert!(huge.to_string().contains("larger than"), "{huge}");
        let moved = at("moved").write(&prompt()).await.unwrap_err();
        assert_eq!(moved.to_string(), "the model call failed: HTTP 307");
    }

    #[tokio::test]
    async fn a_throttle_is_waited_out_then_the_answer_taken() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion("{}")))
            .mount(&server)
            .await;
        assert_eq!(writer(&server).write(&prompt()).await.unwrap().text, "{}");
    }

    #[tokio::test]
    async fn a_slow_empty_or_failing_model_is_an_error_never_a_draft() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/slow/chat/completions"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(completion("late"))
                    .set_delay(Duration::from_secs(3)),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/empty/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion("  ")))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/down/chat/completions"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let at = |p: &str, ms: u64| {
            OpenAiWriter::new(
                &format!("{}/{p}", server.uri()),
                None,
                "m",
                Duration::from_millis(ms),
            )
        };
        assert!(matches!(
            at("slow", 300).write(&prompt()).await,
            Err(WriterError::Timeout)
        ));
        assert!(matches!(
            at("empty", 300).write(&prompt()).await,
            Err(WriterError::Empty)
        ));
        let down = at("down", 5000).write(&prompt()).await.unwrap_err();
        assert_eq!(down.to_string(), "the model call failed: HTTP 500");
        // Retries and waits count against the one time limit.
        let hurried = at("down", 300).write(&prompt()).await.unwrap_err();
        assert!(matches!(hurried, WriterError::Timeout), "{hurried}");
    }
}
