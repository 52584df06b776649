//! JSON error bodies for the HTTP functions: the types. The Lambda response is built in `shared::api_error`.
//!
//! Every rejection has a stable machine-readable `code`, a human `message` and, for validation failures, a list of
//! field-level reasons:
//!
//! ```json
//! {"error": {"code": "invalid_json", "message": "...", "fields": [{"field": "/tenantId", "reason": "..."}]}}
//! ```

use http::StatusCode;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
    /// The values that would have been accepted, when there is a short list (e.g. the tenant's job types).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<serde_json::Value>,
    /// Whether a rule the API document's schema cannot state refused the field (see [`ApiError::invalid_body`]),
    /// rather than the schema itself.
    #[serde(skip)]
    pub rule: bool,
}

impl FieldError {
    /// A field the document's schema refuses: a type, a pattern, a missing or unknown field.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
            choices: Vec::new(),
            rule: false,
        }
    }

    /// A field that fits the schema and breaks a rule it cannot state: a time window, a value that must match the
    /// path, a name that must be a real time zone or a real phone number.
    pub fn rule(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            rule: true,
            ..Self::new(field, reason)
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

    /// A refused request body: 400 when a field breaks what the API document's schema says, 422 when every reason
    /// is a [`FieldError::rule`] (the body fits the schema). Every reason is listed either way. `None` when there is
    /// none.
    pub fn invalid_body(code: &'static str, message: &str, fields: Vec<FieldError>) -> Option<Self> {
        if fields.is_empty() {
            return None;
        }
        let status = if fields.iter().all(|f| f.rule) {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        Some(Self::new(status, code, message).with_fields(fields))
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
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

/// A JSON number that is a whole number, as JSON Schema's `integer` counts them: `3` and `3.0` alike. Anything
/// else (a fraction, a string, out of `i64`'s range) is `None`.
pub fn whole_number(v: &serde_json::Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        let f = v.as_f64()?;
        // 2^63 is the first f64 past i64::MAX.
        (f.fract() == 0.0 && f >= i64::MIN as f64 && f < 9_223_372_036_854_775_808.0).then_some(f as i64)
    })
}

/// [`whole_number`], when it is not negative.
pub fn whole_unsigned(v: &serde_json::Value) -> Option<u64> {
    whole_number(v).and_then(|n| u64::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_refused_only_by_rules_is_422_and_one_the_schema_refuses_is_400() {
        assert_eq!(ApiError::invalid_body("x", "m", vec![]), None);
        let rule = || FieldError::rule("/from", "must be within the last 90 days");
        let shape = || FieldError::new("/feeds", "must be a list");
        let e = ApiError::invalid_body("x", "m", vec![rule()]).unwrap();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        let e = ApiError::invalid_body("x", "m", vec![rule(), shape()]).unwrap();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.fields.len(), 2, "every reason is listed");
        assert!(
            !e.body().to_string().contains("rule"),
            "the flag is not part of the answer"
        );
    }

    #[test]
    fn whole_numbers_are_integers_with_or_without_a_point() {
        assert_eq!(whole_number(&json!(3)), Some(3));
        assert_eq!(whole_number(&json!(3.0)), Some(3));
        assert_eq!(whole_number(&json!(-2.0)), Some(-2));
        assert_eq!(whole_number(&json!(3.5)), None);
        assert_eq!(whole_number(&json!("3")), None);
        assert_eq!(whole_number(&json!(1e19)), None, "past i64");
        assert_eq!(whole_unsigned(&json!(-1)), None);
        assert_eq!(whole_unsigned(&json!(720.0)), Some(720));
    }
}
