//! The HTTP surface as plain `http` types, shared by the Lambda functions (lambda_http) and the
//! local runner (axum). Errors are classified once here and mapped to a status once.

use bytes::Bytes;
pub use http::{header, HeaderMap, Method, StatusCode};
use serde_json::json;

pub type Request = http::Request<Bytes>;
pub type Response = http::Response<Bytes>;

/// Bodies larger than this are refused with 413 before anything else is read.
pub const MAX_BODY: usize = 1024 * 1024;

/// An answer other than success. Internals never reach the client: transient failures say only
/// that the request should be retried.
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

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Transient(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({ "error": match &self {
            ApiError::Transient(_) => "temporarily unavailable, retry later".to_string(),
            other => other.to_string(),
        }});
        if let ApiError::BadRequest { detail, .. } | ApiError::Conflict { detail, .. } = &self {
            if let (Some(obj), serde_json::Value::Object(extra)) = (body.as_object_mut(), detail) {
                obj.extend(extra.clone());
            }
        }
        if let ApiError::Transient(_) = &self {
            tracing::warn!(error = %crate::error::Chain(&self), "transient failure; asking the caller to retry");
        }
        json_response(status, &body)
    }
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(
            serde_json::to_vec(body).expect("JSON value serialises"),
        ))
        .expect("static response parts")
}

pub fn html_response(status: StatusCode, html: String) -> Response {
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header("referrer-policy", "no-referrer")
        .header("x-frame-options", "DENY")
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        )
        .body(Bytes::from(html))
        .expect("static response parts")
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The first value of a query parameter, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query?)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The media type of the request, lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    header(headers, "content-type").map(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    require_media_type(headers, "application/json")
}

/// The request's media type must be `expected` (for XML, `text/xml` and `application/xml` are
/// the same thing).
pub fn require_media_type(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let xml = |m: &str| m == "text/xml" || m == "application/xml";
    match media_type(headers).as_deref() {
        Some(m) if m == expected || (xml(m) && xml(expected)) => Ok(()),
        Some(other) => Err(ApiError::BadRequest {
            message: format!("unsupported content type `{other}`; send {expected}"),
            detail: json!({ "expected_content_type": expected }),
        }),
        None => Err(ApiError::BadRequest {
            message: format!("missing content type; send {expected}"),
            detail: json!({ "expected_content_type": expected }),
        }),
    }
}

pub fn check_size(body: &Bytes) -> Result<(), ApiError> {
    if body.len() > MAX_BODY {
        Err(ApiError::TooLarge)
    } else {
        Ok(())
    }
}

/// Whether the client asked for JSON rather than a page.
pub fn wants_json(headers: &HeaderMap) -> bool {
    header(headers, "accept")
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// The URL a webhook was sent to, as its sender signs it (HubSpot v3, Google's push audience):
/// `public_base_url` with the request's path and query. A request that came through a Lambda
/// function URL (host `<id>.lambda-url.<region>.on.aws`, the `WebhookEndpoint=FunctionUrl`
/// deployment) was sent to that host instead: a function cannot be given its own URL in its
/// settings, and no other route reaches a function with such a host.
pub fn request_url(public_base_url: &str, req: &Request) -> String {
    let path = req
        .uri()
        .path_and_query()
        .map_or(req.uri().path(), http::uri::PathAndQuery::as_str);
    match function_url_host(req.headers()) {
        Some(host) => format!("https://{host}{path}"),
        None => format!("{}{path}", public_base_url.trim_end_matches('/')),
    }
}

fn function_url_host(headers: &HeaderMap) -> Option<&str> {
    let host = header(headers, "host")?;
    let (id, rest) = host.split_once(".lambda-url.")?;
    let region = rest.strip_suffix(".on.aws")?;
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (id_ok && region_ok).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: Option<&str>, uri: &str) -> Request {
        let mut b = http::Request::post(uri);
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(Bytes::new()).unwrap()
    }

    #[test]
    fn a_webhook_is_checked_against_the_public_base_url() {
        let base = "https://hooks.example/";
        assert_eq!(
            request_url(
                base,
                &req(
                    Some("abc.execute-api.eu-west-1.amazonaws.com"),
                    "/webhooks/hubspot?x=1"
                )
            ),
            "https://hooks.example/webhooks/hubspot?x=1"
        );
        assert_eq!(
            request_url(base, &req(None, "/webhooks/hubspot")),
            "https://hooks.example/webhooks/hubspot"
        );
    }

    #[test]
    fn a_webhook_through_a_function_url_is_checked_against_that_url() {
        let host = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.eu-west-1.on.aws";
        assert_eq!(
            request_url(
                "https://hooks.example",
                &req(Some(host), "/webhooks/hubspot")
            ),
            format!("https://{host}/webhooks/hubspot")
        );
        // Hosts that only look like one keep the configured base.
        for spoof in [
            "lambda-url.eu-west-1.on.aws",
            ".lambda-url.eu-west-1.on.aws",
            "x.lambda-url.eu-west-1.on.aws.evil.example",
            "x/y.lambda-url.eu-west-1.on.aws",
            "x.lambda-url..on.aws",
        ] {
            assert_eq!(
                request_url(
                    "https://hooks.example",
                    &req(Some(spoof), "/webhooks/hubspot")
                ),
                "https://hooks.example/webhooks/hubspot",
                "{spoof}"
            );
        }
    }
}
