//! Translation between lambda_http's request/response and the library's `http` types.

use bytes::Bytes;
use lambda_http::Body;

use crate::http::{Request, Response};

/// The raw body bytes exactly as received (API Gateway's base64 is already decoded by lambda_http).
pub fn to_request(req: lambda_http::Request) -> Request {
    let (parts, body) = req.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    http::Request::from_parts(parts, bytes)
}

pub fn to_response(resp: Response) -> lambda_http::Response<Body> {
    let (parts, body) = resp.into_parts();
    let text = String::from_utf8(body.to_vec());
    let body = match text {
        Ok(t) => Body::Text(t),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    lambda_http::Response::from_parts(parts, body)
}
