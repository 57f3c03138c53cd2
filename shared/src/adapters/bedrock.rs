//! Amazon Bedrock as the draft writer, in the account the stack runs in (no deal data leaves
//! it): one Converse call per draft, with a time limit (retries included), the SDK's retries on
//! throttling and server errors, and a token cap. With a guardrail configured, the answer then
//! goes through ApplyGuardrail (its contextual grounding check against the facts, and its denied
//! topics): an intervention sets the answer aside. The deterministic grounding check still runs
//! after it: a guardrail's score is a probability, the check is a rule.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, GuardrailAction, GuardrailContentBlock,
    GuardrailContentQualifier, GuardrailContentSource, GuardrailTextBlock, InferenceConfiguration,
    Message, StopReason, SystemContentBlock,
};
use aws_sdk_bedrockruntime::Client;

use crate::ports::{Answer, DraftWriter, Prompt, WriterError};

/// A Bedrock Guardrail: its id (or ARN) and version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guardrail {
    pub id: String,
    pub version: String,
}

pub struct BedrockWriter {
    client: Client,
    model: String,
    guardrail: Option<Guardrail>,
    timeout: Duration,
}

/// What the guardrail is told the answer was written for.
const QUERY: &str = "Write a follow-up email to the prospect from the facts given.";

impl BedrockWriter {
    /// A writer on `sdk`'s region and credentials; `endpoint` overrides Bedrock's endpoint
    /// (`BEDROCK_ENDPOINT_URL`: a mock in tests, a VPC endpoint in production).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        endpoint: Option<&str>,
        model: &str,
        guardrail: Option<Guardrail>,
        timeout: Duration,
    ) -> Self {
        let mut config = aws_sdk_bedrockruntime::config::Builder::from(sdk).retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(250)),
        );
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        Self::with_client(Client::from_conf(config.build()), model, guardrail, timeout)
    }

    pub fn with_client(
        client: Client,
        model: &str,
        guardrail: Option<Guardrail>,
        timeout: Duration,
    ) -> Self {
        BedrockWriter {
            client,
            model: model.to_string(),
            guardrail,
            timeout,
        }
    }

    async fn converse(&self, prompt: &Prompt) -> Result<Answer, WriterError> {
        let user = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.user.clone()))
            .build()
            .map_err(|e| WriterError::Failed(format!("the request: {e}")))?;
        let out = self
            .client
            .converse()
            .model_id(&self.model)
            .system(SystemContentBlock::Text(prompt.system.clone()))
            .messages(user)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(i32::try_from(prompt.max_tokens).unwrap_or(i32::MAX))
                    .temperature(0.3)
                    .build(),
            )
            .send()
            .await
            .map_err(failure)?;
        let usage = out.usage();
        let tokens_in = usage.map(|u| u64::try_from(u.input_tokens).unwrap_or(0));
        let tokens_out = usage.map(|u| u64::try_from(u.output_tokens).unwrap_or(0));
        match out.stop_reason() {
            StopReason::GuardrailIntervened | StopReason::ContentFiltered => {
                return Err(WriterError::Refused(
                    "the model's own content filter".into(),
                ))
            }
            StopReason::MaxTokens => {
                return Err(WriterError::Failed(format!(
                    "the answer passed the cap of {} tokens",
                    prompt.max_tokens
                )))
            }
            _ => {}
        }
        let text: String = out
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| {
                m.content()
                    .iter()
                    .filter_map(|c| c.as_text().ok())
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        if text.trim().is_empty() {
            return Err(WriterError::Empty);
        }
        Ok(Answer {
            text,
            tokens_in,
            tokens_out,
        })
    }

    /// The guardrail's verdict on the answer: grounded in the facts, and no denied topic.
    async fn guard(
        &self,
        guardrail: &Guardrail,
        prompt: &Prompt,
        text: &str,
    ) -> Result<(), WriterError> {
        let block = |text: &str, qualifier: GuardrailContentQualifier| {
            GuardrailTextBlock::builder()
                .text(text)
                .qualifiers(qualifier)
                .build()
                .map(GuardrailContentBlock::Text)
                .map_err(|e| WriterError::Failed(format!("the guardrail request: {e}")))
        };
        let out = self
            .client
            .apply_guardrail()
            .guardrail_identifier(&guardrail.id)
            .guardrail_version(&guardrail.version)
            .source(GuardrailContentSource::Output)
            .content(block(
                &prompt.grounding,
                GuardrailContentQualifier::GroundingSource,
            )?)
            .content(block(QUERY, GuardrailContentQualifier::Query)?)
            .content(block(text, GuardrailContentQualifier::GuardContent)?)
            .send()
            .await
            .map_err(failure)?;
        match out.action() {
            GuardrailAction::GuardrailIntervened => Err(WriterError::Refused(
                out.action_reason()
                    .map(crate::domain::headers::one_line)
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| format!("guardrail {}", guardrail.id)),
            )),
            _ => Ok(()),
        }
    }
}

/// An SDK failure in words (its error code, never the request or the answer).
fn failure<E: ProvideErrorMetadata, R>(e: SdkError<E, R>) -> WriterError {
    match &e {
        SdkError::TimeoutError(_) => WriterError::Timeout,
        SdkError::ServiceError(s) => match s.err().code() {
            Some("ThrottlingException" | "ServiceQuotaExceededException") => WriterError::Throttled,
            Some("ModelTimeoutException") => WriterError::Timeout,
            Some(code) => WriterError::Failed(code.to_string()),
            None => WriterError::Failed("an error without a code".into()),
        },
        SdkError::DispatchFailure(_) => WriterError::Failed("the request failed".into()),
        _ => WriterError::Failed("no answer".into()),
    }
}

#[async_trait]
impl DraftWriter for BedrockWriter {
    fn model(&self) -> &str {
        &self.model
    }

    /// One checked answer within the time limit, the SDK's retries and the guardrail included.
    async fn write(&self, prompt: &Prompt) -> Result<Answer, WriterError> {
        let call = async {
            let answer = self.converse(prompt).await?;
            if let Some(guardrail) = &self.guardrail {
                self.guard(guardrail, prompt, &answer.text).await?;
            }
            Ok(answer)
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(WriterError::Timeout))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use wiremock::matchers::{body_partial_json, header_exists, method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn prompt() -> Prompt {
        Prompt {
            system: "Write a follow-up.".into(),
            user: "Facts: deal.name: Acme".into(),
            grounding: "deal.name: Acme".into(),
            max_tokens: 400,
        }
    }

    fn writer(server: &MockServer, guardrail: Option<Guardrail>, timeout_ms: u64) -> BedrockWriter {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .region(aws_sdk_bedrockruntime::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .endpoint_url(server.uri())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .build();
        BedrockWriter::with_client(
            Client::from_conf(config),
            "anthropic.claude-3-haiku-20240307-v1:0",
            guardrail,
            Duration::from_millis(timeout_ms),
        )
    }

    /// A Converse answer as Bedrock serves it.
    fn converse(text: &str, stop: &str) -> Value {
        json!({
            "output": { "message": { "role": "assistant", "content": [{ "text": text }] } },
            "stopReason": stop,
            "usage": { "inputTokens": 905, "outputTokens": 88, "totalTokens": 993 },
            "metrics": { "latencyMs": 1210 }
        })
    }

    fn guardrail() -> Option<Guardrail> {
        Some(Guardrail {
            id: "gr-draft".into(),
            version: "3".into(),
        })
    }

    fn guard_answer(action: &str, reason: Option<&str>) -> Value {
        let mut v = json!({
            "usage": { "topicPolicyUnits": 1, "contentPolicyUnits": 0, "wordPolicyUnits": 0,
                "sensitiveInformationPolicyUnits": 0, "sensitiveInformationPolicyFreeUnits": 0,
                "contextualGroundingPolicyUnits": 1 },
            "action": action, "outputs": [], "assessments": []
        });
        if let Some(r) = reason {
            v["actionReason"] = json!(r);
        }
        v
    }

    const CONVERSE: &str = r"^/model/[^/]+/converse$";

    #[tokio::test]
    async fn converse_is_called_signed_with_the_system_prompt_and_cap() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(
                "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
            ))
            .and(header_exists("authorization"))
            .and(body_partial_json(json!({
                "system": [{ "text": "Write a follow-up." }],
                "messages": [{ "role": "user", "content": [{ "text": "Facts: deal.name: Acme" }] }],
                "inferenceConfig": { "maxTokens": 400 }
            })))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(converse(r#"{"subject": "Acme", "body": "Hi"}"#, "end_turn")),
            )
            .expect(1)
            .mount(&server)
            .await;
        let a = writer(&server, None, 5000).write(&prompt()).await.unwrap();
        assert_eq!(a.text, r#"{"subject": "Acme", "body": "Hi"}"#);
        assert_eq!((a.tokens_in, a.tokens_out), (Some(905), Some(88)));
    }

    #[tokio::test]
    async fn a_throttle_is_retried_then_the_answer_taken() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(CONVERSE))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("x-amzn-errortype", "ThrottlingException")
                    .set_body_json(json!({ "message": "Too many requests" })),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(CONVERSE))
            .respond_with(ResponseTemplate::new(200).set_body_json(converse("{}", "end_turn")))
            .mount(&server)
            .await;
        assert_eq!(
            writer(&server, None, 5000)
                .write(&prompt())
                .await
                .unwrap()
                .text,
            "{}"
        );
    }

    #[tokio::test]
    async fn throttled_slow_empty_capped_or_refused_answers_are_errors() {
        let server = MockServer::start().await;
        let at = |model: &'static str, answer: ResponseTemplate| {
            Mock::given(method("POST"))
                .and(path(format!("/model/{model}/converse")))
                .respond_with(answer)
        };
        at(
            "throttled",
            ResponseTemplate::new(429)
                .insert_header("x-amzn-errortype", "ThrottlingException")
                .set_body_json(json!({ "message": "slow down" })),
        )
        .mount(&server)
        .await;
        at(
            "slow",
            ResponseTemplate::new(200)
                .set_body_json(converse("late", "end_turn"))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
        at(
            "empty",
            ResponseTemplate::new(200).set_body_json(converse(" ", "end_turn")),
        )
        .mount(&server)
        .await;
        at(
            "long",
            ResponseTemplate::new(200).set_body_json(converse("{\"subj", "max_tokens")),
        )
        .mount(&server)
        .await;
        at(
            "filtered",
            ResponseTemplate::new(200).set_body_json(converse("", "guardrail_intervened")),
        )
        .mount(&server)
        .await;
        at(
            "denied",
            ResponseTemplate::new(403)
                .insert_header("x-amzn-errortype", "AccessDeniedException")
                .set_body_json(json!({ "message": "not authorized" })),
        )
        .mount(&server)
        .await;
        let run = |model: &'static str, ms: u64| {
            let server = &server;
            async move {
                let mut w = writer(server, None, ms);
                w.model = model.into();
                w.write(&prompt()).await.unwrap_err()
            }
        };
        assert!(matches!(
            run("throttled", 5000).await,
            WriterError::Throttled
        ));
        assert!(matches!(run("slow", 300).await, WriterError::Timeout));
        assert!(matches!(run("empty", 5000).await, WriterError::Empty));
        assert_eq!(
            run("long", 5000).await.to_string(),
            "the model call failed: the answer passed the cap of 400 tokens"
        );
        assert!(matches!(
            run("filtered", 5000).await,
            WriterError::Refused(_)
        ));
        assert_eq!(
            run("denied", 5000).await.to_string(),
            "the model call failed: AccessDeniedException"
        );
    }

    #[tokio::test]
    async fn the_guardrail_checks_the_answer_against_the_facts_and_may_refuse_it() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(CONVERSE))
            .respond_with(ResponseTemplate::new(200).set_body_json(converse(
                r#"{"subject": "Hi", "body": "We can offer 50% off."}"#,
                "end_turn",
            )))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/guardrail/gr-draft/version/3/apply"))
            .and(body_partial_json(json!({
                "source": "OUTPUT",
                "content": [
                    { "text": { "text": "deal.name: Acme", "qualifiers": ["grounding_source"] } },
                    { "text": { "text": QUERY, "qualifiers": ["query"] } },
                    { "text": { "text": r#"{"subject": "Hi", "body": "We can offer 50% off."}"#, "qualifiers": ["guard_content"] } }
                ]
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(guard_answer(
                "GUARDRAIL_INTERVENED",
                Some("Denied topic: discounts"),
            )))
            .expect(1)
            .mount(&server)
            .await;
        let e = writer(&server, guardrail(), 5000)
            .write(&prompt())
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the guardrail stopped the model's answer: Denied topic: discounts"
        );

        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(CONVERSE))
            .respond_with(ResponseTemplate::new(200).set_body_json(converse("{}", "end_turn")))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/guardrail/gr-draft/version/3/apply"))
            .respond_with(ResponseTemplate::new(200).set_body_json(guard_answer("NONE", None)))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(
            writer(&server, guardrail(), 5000)
                .write(&prompt())
                .await
                .unwrap()
                .text,
            "{}"
        );
    }
}
