//! JSON error bodies for the HTTP functions.
//!
//! Every rejection has a stable machine-readable `code`, a human `message` and, for validation failures, a list of
//! field-level reasons:
//!
//! ```json
//! {"error": {"code": "invalid_json", "message": "...", "fields": [{"field": "/tenantId", "reason": "..."}]}}
//! ```

use http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
    /// The values that would have been accepted, when there is a short list (e.g. the tenant's job types).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<serde_json::Value>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
            choices: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<FieldError>,
    /// Extra response headers, e.g. `Allow` on a 405.
    pub headers: Vec<(http::HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>, reason: impl Into<String>) -> Self {
        self.fields.push(FieldError::new(field, reason));
        self
    }

    pub fn with_fields(mut self, fields: impl IntoIterator<Item = FieldError>) -> Self {
        self.fields.extend(fields);
        self
    }

    pub fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if !self.fields.is_empty() {
            error["fields"] = serde_json::to_value(&self.fields).unwrap_or_default();
        }
        serde_json::json!({ "error": error })
    }

    pub fn into_response(self) -> Response<Body> {
        let mut builder = Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Body::Text(self.body().to_string()))
            .expect("status and headers are valid")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body.to_string()))
        .expect("status and headers are valid")
}
