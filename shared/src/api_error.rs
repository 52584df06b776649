//! The HTTP functions' error answers as Lambda responses. The types live in the pure domain
//! ([`domain::api_error`]) and are re-exported here, so a handler imports both from one place.

use http::StatusCode;
use lambda_http::{Body, Response};

pub use domain::api_error::*;

/// An [`ApiError`] as the Lambda's HTTP response: its status, JSON body and extra headers.
pub trait IntoResponse {
    fn into_response(self) -> Response<Body>;
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response<Body> {
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

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body.to_string()))
        .expect("status and headers are valid")
}
