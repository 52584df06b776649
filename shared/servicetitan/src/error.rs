use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// ServiceTitan's error body ("Detailed error response, following RFC 7807").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorResponse {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<i32>,
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Field name → messages.
    #[serde(default)]
    pub errors: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub data: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The token endpoint refused the client credentials (`invalid_client`, or similar).
    #[error("ServiceTitan refused the client credentials ({status}): {error}")]
    Auth { status: u16, error: String },
    /// A 4xx from the API (not 401/429, which the client handles). Not retried.
    #[error("ServiceTitan answered {status}: {}", .body.title.as_deref().unwrap_or("no title"))]
    Api { status: u16, body: Box<ApiErrorResponse> },
    /// Still 401 after a fresh token: the app key or the tenant is wrong.
    #[error("ServiceTitan rejected the app key or tenant ({status}): {}", .body.title.as_deref().unwrap_or("no title"))]
    Unauthorized { status: u16, body: Box<ApiErrorResponse> },
    /// Still rate limited after the retries.
    #[error("ServiceTitan rate limit still exceeded after {attempts} attempts")]
    RateLimited { attempts: u32 },
    /// 5xx after the retries.
    #[error("ServiceTitan failed with {status} after {attempts} attempts")]
    Server { status: u16, attempts: u32 },
    #[error("could not reach ServiceTitan: {0}")]
    Transport(String),
    /// The invocation's deadline came before an answer (or before another attempt would fit).
    #[error("ServiceTitan did not answer in the time this invocation has left ({attempts} attempts); retried later")]
    OutOfTime { attempts: u32 },
    #[error("unexpected response from ServiceTitan: {0}")]
    Decode(String),
    #[error("token store: {0}")]
    TokenStore(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// Worth retrying later (a queue redelivery), as opposed to a request that will never succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Transport(_)
                | Self::TokenStore(_)
                | Self::OutOfTime { .. }
        )
    }

    /// Field-level validation messages, if this is a validation error.
    pub fn field_errors(&self) -> Option<&BTreeMap<String, Vec<String>>> {
        match self {
            Self::Api { body, .. } if !body.errors.is_empty() => Some(&body.errors),
            _ => None,
        }
    }
}
