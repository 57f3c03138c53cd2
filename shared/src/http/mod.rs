//! The HTTP surface as plain `http` types, shared by the Lambda functions (lambda_http) and the
//! local runner (axum). Errors are classified once here and mapped to a status once.

mod pages;
pub mod review;
mod slack;

use bytes::Bytes;
pub use http::{header, HeaderMap, Method, StatusCode};
use serde_json::json;

pub use crate::app::ApiError;

pub type Request = http::Request<Bytes>;
pub type Response = http::Response<Bytes>;

/// Bodies larger than this are refused with 413 before anything else is read.
pub const MAX_BODY: usize = 1024 * 1024;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
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
        // Our own pages' form posts carry their origin (`no-referrer` would make it `null`);
        // other sites still get no referrer, so a link's token never leaves.
        .header("referrer-policy", "same-origin")
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

/// A JSON body must not repeat a key in any object: parsers disagree on which value wins (the
/// first, the last, an error), so a signed payload with a repeated key could mean one thing to
/// the signer's checks and another here. Refused with 400 naming the key; a body that is not
/// JSON at all is left to the route's parser, which says what is wrong with it.
pub fn require_unique_json_keys(body: &[u8]) -> Result<(), ApiError> {
    match serde_json::from_slice::<UniqueKeys>(body) {
        Err(e) if e.classify() == serde_json::error::Category::Data => Err(ApiError::BadRequest {
            message: format!("malformed JSON: {e}"),
            detail: json!({ "duplicate_key": true }),
        }),
        _ => Ok(()),
    }
}

/// Any JSON value, read only to check that no object repeats a key.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let shown: String = crate::domain::headers::one_line(&key)
                    .chars()
                    .take(64)
                    .collect();
                return Err(serde::de::Error::custom(format!("duplicate key `{shown}`")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

/// The origin (`scheme://host[:port]`, lowercased, without a default port) of a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, h)| h);
    let host = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("https", Some((h, "443"))) | ("http", Some((h, "80"))) => h,
        _ => authority,
    };
    (!host.is_empty() && matches!(scheme.as_str(), "http" | "https"))
        .then(|| format!("{scheme}://{host}"))
}

/// A decision (a state-changing POST from a page) must come from the service's own pages:
/// `Origin` equal to `public_base_url`'s, or equal to the origin of the `Host` the request was
/// sent to when the browser also says `Sec-Fetch-Site: same-origin` (the same service reached
/// by another name, such as `localhost` for `127.0.0.1`). A `null` or foreign origin is refused
/// whatever else the request says, and so is a browser that says the request is cross-site. A
/// client that sends neither header is not a browser: no page of another site can make it act,
/// and it must hold the link's token anyway (README, "Security").
pub fn require_own_origin(headers: &HeaderMap, public_base_url: &str) -> Result<(), ApiError> {
    let fetch_site = header(headers, "sec-fetch-site").map(|s| s.trim().to_ascii_lowercase());
    let refuse = |why: String| {
        Err(ApiError::Forbidden(format!(
            "Nothing was changed: this request came from {why}, and decisions are taken only \
             on draftgate's own pages. Open the link in your notification and decide there."
        )))
    };
    let Some(origin) = header(headers, "origin").map(str::trim) else {
        return match fetch_site.as_deref() {
            None | Some("none" | "same-origin") => Ok(()),
            Some(other) => refuse(format!("another site (a {other} request)")),
        };
    };
    let Some(theirs) = origin_of(origin) else {
        return refuse(format!("another site ({})", one_line_excerpt(origin)));
    };
    if origin_of(public_base_url).as_deref() == Some(theirs.as_str()) {
        return Ok(());
    }
    // The same service under another name: the browser's own word, and the host it sent to.
    let scheme = theirs.split("://").next().unwrap_or("http");
    let sent_to = header(headers, "host").and_then(|h| origin_of(&format!("{scheme}://{h}")));
    if fetch_site.as_deref() == Some("same-origin") && sent_to.as_deref() == Some(theirs.as_str()) {
        return Ok(());
    }
    refuse(format!("another site ({})", one_line_excerpt(origin)))
}

fn one_line_excerpt(text: &str) -> String {
    crate::domain::headers::one_line(text)
        .chars()
        .take(100)
        .collect()
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

    fn with(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_decision_is_accepted_only_from_the_services_own_origin() {
        let base = "https://Review.Example:443/prod";
        for ok in [
            vec![("origin", "https://review.example")],
            vec![("origin", "https://review.example:443")],
            vec![
                ("origin", "http://localhost:8080"),
                ("host", "localhost:8080"),
                ("sec-fetch-site", "same-origin"),
            ],
            vec![("sec-fetch-site", "same-origin")],
            vec![],
        ] {
            assert!(require_own_origin(&with(&ok), base).is_ok(), "{ok:?}");
        }
        for bad in [
            vec![("origin", "http://evil.example")],
            vec![("origin", "null")],
            vec![("origin", "https://review.example.evil.example")],
            vec![("origin", "http://review.example")],
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
            // The browser's same-origin mark does not rescue a null or foreign origin.
            vec![("origin", "null"), ("sec-fetch-site", "same-origin")],
            vec![
                ("origin", "http://evil.example"),
                ("host", "review.example"),
                ("sec-fetch-site", "same-origin"),
            ],
            vec![
                ("origin", "http://localhost:8080"),
                ("sec-fetch-site", "same-origin"),
            ],
        ] {
            let e = require_own_origin(&with(&bad), base);
            assert_eq!(
                e.as_ref().map_err(ApiError::status).err(),
                Some(StatusCode::FORBIDDEN),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_json_body_that_repeats_a_key_is_refused_at_any_depth() {
        for dup in [
            r#"{"a":1,"a":2}"#,
            r#"[{"deal":{"id":"1","id":"2"}}]"#,
            r#"{"events":[{"type":"x"},{"type":"y","type":"z"}]}"#,
            "{\"a\\u0062\":1,\"ab\":2}",
        ] {
            let e = require_unique_json_keys(dup.as_bytes()).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{dup}");
            assert!(e.to_string().contains("duplicate key"), "{e}");
        }
        for ok in [
            r#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#,
            "[]",
            "not json",
            "{\"a\":",
        ] {
            assert!(require_unique_json_keys(ok.as_bytes()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn origins_are_compared_by_scheme_host_and_port() {
        assert_eq!(
            origin_of("http://127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            origin_of("HTTPS://A.example:443").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("javascript://x"), None);
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
