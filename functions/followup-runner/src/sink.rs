//! Delivery to the AI platform (the sink): an HTTP POST signed by the Standard Webhooks scheme.
//!
//! The `webhook-id` is the follow-up's idempotency key (tenant, run, step, round), the same on every retry, so a
//! receiver that deduplicates on it performs each follow-up once even if a delivery is retried after it had in
//! fact arrived. 2xx is delivered; 429 and 5xx (and no answer) are retried later; any other 4xx is a refusal, not
//! retried. A reply body may carry an opt-out signal (`{"optOut": true | "all" | ["sms", ...]}`).

use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use shared::standard_webhooks::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SigningSecret};
use tracing::warn;

/// What came of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered {
        status: u16,
        /// Channels the reply says the recipient opted out of (`all` for every channel).
        opt_out: Vec<String>,
    },
    /// Worth trying again: 429, 5xx, a timeout, no connection.
    Retry {
        reason: String,
        retry_after: Option<SignedDuration>,
    },
    /// Refused for good (another 4xx).
    Rejected { status: u16, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the follow-up signing secret could not be read: {0}")]
    Unavailable(String),
    #[error("the follow-up signing secret is malformed: {0}")]
    Malformed(String),
}

pub struct Sink {
    http: reqwest::Client,
    secrets: aws_sdk_secretsmanager::Client,
    secret_id: String,
    cache_for: SignedDuration,
    cached: Mutex<Option<(SigningSecret, Timestamp)>>,
}

impl Sink {
    pub fn new(
        secrets: aws_sdk_secretsmanager::Client,
        secret_id: String,
        timeout: Duration,
        cache_for: SignedDuration,
    ) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(5))
                .user_agent("servicetitan-followups/1")
                .build()
                .expect("the HTTP client builds"),
            secrets,
            secret_id,
            cache_for,
            cached: Mutex::new(None),
        }
    }

    /// The signing secret, cached for a few minutes (a rotation is seen within that time).
    async fn secret(&self, now: Timestamp) -> Result<SigningSecret, SecretError> {
        if let Some((secret, at)) = self.cached.lock().expect("secret cache lock").as_ref()
            && now < *at + self.cache_for
        {
            return Ok(secret.clone());
        }
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
        let secret = SigningSecret::parse(out.secret_string().unwrap_or_default()).map_err(SecretError::Malformed)?;
        *self.cached.lock().expect("secret cache lock") = Some((secret.clone(), now));
        Ok(secret)
    }

    /// POSTs `body` to `url`, signed at `now` (the stack's clock, so virtual time locally).
    pub async fn deliver(
        &self,
        url: &str,
        webhook_id: &str,
        body: &str,
        now: Timestamp,
    ) -> Result<Delivery, SecretError> {
        let secret = self.secret(now).await?;
        let ts = now.as_second();
        let signature = secret.sign(webhook_id, ts, body.as_bytes());
        let response = self
            .http
            .post(url)
            .header(HEADER_ID, webhook_id)
            .header(HEADER_TIMESTAMP, ts.to_string())
            .header(HEADER_SIGNATURE, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let reason = if e.is_timeout() {
                    "the AI platform did not answer in time"
                } else {
                    "could not reach the AI platform"
                };
                warn!(error = %e.without_url(), "follow-up delivery failed");
                return Ok(Delivery::Retry {
                    reason: reason.into(),
                    retry_after: None,
                });
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|s| SignedDuration::from_secs(s.clamp(1, 3600)));
        let text = response.text().await.unwrap_or_default();
        Ok(match status {
            200..=299 => Delivery::Delivered {
                status,
                opt_out: opt_out_signal(&text),
            },
            429 | 500..=599 => Delivery::Retry {
                reason: format!("the AI platform answered {status}"),
                retry_after,
            },
            _ => Delivery::Rejected {
                status,
                reason: format!(
                    "the AI platform refused the follow-up ({status}): {}",
                    text.chars().take(300).collect::<String>()
                ),
            },
        })
    }
}

/// `{"optOut": true}` (the step's channel, named by the caller as `channel`), `"all"`, or a list of channels.
fn opt_out_signal(body: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    match v.get("optOut") {
        Some(Value::Bool(true)) => vec!["channel".into()],
        Some(Value::String(s)) if s == "all" => vec!["all".into()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|c| matches!(*c, "sms" | "voice" | "email" | "all"))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reply_bodies_may_opt_out() {
        use super::opt_out_signal as o;
        assert_eq!(o(r#"{"optOut": true}"#), vec!["channel"]);
        assert_eq!(o(r#"{"optOut": "all"}"#), vec!["all"]);
        assert_eq!(o(r#"{"optOut": ["sms", "fax"]}"#), vec!["sms"]);
        assert!(o(r#"{"accepted": true}"#).is_empty());
        assert!(o("OK").is_empty());
    }
}
