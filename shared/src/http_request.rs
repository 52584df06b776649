//! Reading HTTP API requests: a JSON object body, with the answers every JSON route gives (413 over the size
//! limit, 415 without `Content-Type: application/json`, 400 for a body that is not a JSON object, with line and
//! column only: serde's message could quote a pasted secret back), and the query string.

use http::StatusCode;
use lambda_http::{Body, Request};
use serde_json::Value;

use crate::api_error::ApiError;

/// The request's query string (API Gateway passes it in the URI too), as a map; the first value of a key wins.
pub fn query(req: &Request) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    for (k, v) in pairs {
        out.entry(k).or_insert(v);
    }
    out
}

/// The request's JSON object body; `None` when the body is empty or blank.
pub fn optional_json(req: &Request, max_bytes: usize) -> Result<Option<Value>, ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => return Ok(None),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if bytes.len() > max_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are at most {max_bytes} bytes"),
        ));
    }
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(Some(v)),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body must be a JSON object",
        )
        .with_field("", "must be a JSON object")),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON (line {}, column {})", e.line(), e.column()),
        )),
    }
}

/// The request's JSON object body, which must be there.
pub fn json(req: &Request, max_bytes: usize) -> Result<Value, ApiError> {
    optional_json(req, max_bytes)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "a JSON object body is required",
        )
        .with_field("", "missing")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(content_type: &str, body: &str) -> Request {
        let mut r = Request::new(Body::Text(body.into()));
        r.headers_mut()
            .insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
        r
    }

    #[test]
    fn query_strings() {
        let mut r = Request::new(Body::Empty);
        *r.uri_mut() = "/leads/x?tenantId=1001&tenantId=2&q=a%20b".parse().unwrap();
        let q = query(&r);
        assert_eq!((q["tenantId"].as_str(), q["q"].as_str()), ("1001", "a b"));
    }

    #[test]
    fn answers() {
        assert_eq!(json(&req("application/json", r#"{"a":1}"#), 100).unwrap()["a"], 1);
        assert_eq!(optional_json(&req("application/json", "  "), 100).unwrap(), None);
        assert_eq!(
            json(&req("application/json", ""), 100).unwrap_err().code,
            "invalid_json"
        );
        assert_eq!(
            json(&req("text/plain", "{}"), 100).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            json(&req("application/json", "[1]"), 100).unwrap_err().code,
            "invalid_json"
        );
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(200));
        assert_eq!(
            json(&req("application/json", &long), 100).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let bad = json(&req("application/json; charset=utf-8", "{\"secret\": oops}"), 100).unwrap_err();
        assert!(bad.message.contains("line 1"), "{}", bad.message);
        assert!(!bad.message.contains("oops"));
    }
}
