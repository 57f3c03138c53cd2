//! How a use case refuses: the classes of answer other than success, each mapped to an HTTP
//! status once (in `http`). Internals never reach the caller: transient failures say only that
//! the request should be retried.

/// An answer other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        message: String,
        detail: serde_json::Value,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict {
        message: String,
        detail: serde_json::Value,
    },
    #[error("request body exceeds 1 MiB")]
    TooLarge,
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("temporarily unavailable")]
    Transient(#[source] crate::error::Cause),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            detail: serde_json::Value::Null,
        }
    }

    /// What a log may say about this answer: the message of errors draftgate words itself, but
    /// not of bad-request and conflict answers, which can quote the caller's input.
    pub fn log_summary(&self) -> String {
        match self {
            ApiError::BadRequest { .. } => "malformed or invalid input".into(),
            ApiError::Conflict { .. } => "conflicts with the current state".into(),
            ApiError::Transient(_) => "temporarily unavailable".into(),
            other => other.to_string(),
        }
    }
}
