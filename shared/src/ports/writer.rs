//! A language model that writes drafts, in the founder's own account: an OpenAI-compatible
//! endpoint (a local Ollama, llama.cpp or vLLM server, or a hosted one) or Amazon Bedrock.
//! What it writes is never taken on trust: the drafting use case checks every fact in it.

use async_trait::async_trait;

/// What a model is asked: instructions, the data (facts and conversation, quoted), and a cap
/// on the answer's length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    /// Instructions: draftgate's own words only.
    pub system: String,
    /// The brief and the data, each piece of outside text quoted as data.
    pub user: String,
    /// What the answer may rest on, as plain text (the facts and the founder's side of the
    /// conversation): the grounding source a guardrail checks the answer against.
    pub grounding: String,
    pub max_tokens: u32,
}

/// A model's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    /// Tokens in and out, when the endpoint says.
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
}

impl Answer {
    /// Tokens in and out together, when the endpoint said both.
    pub fn tokens(&self) -> Option<u64> {
        self.tokens_in.zip(self.tokens_out).map(|(i, o)| i + o)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("the model did not answer in time")]
    Timeout,
    #[error("the model is throttled")]
    Throttled,
    #[error("the model answered nothing")]
    Empty,
    #[error("the guardrail stopped the model's answer: {0}")]
    Refused(String),
    #[error("the model call failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait DraftWriter: Send + Sync {
    /// The model, as the draft page names it.
    fn model(&self) -> &str;
    async fn write(&self, prompt: &Prompt) -> Result<Answer, WriterError>;
}
