//! Delivery to the AI platform (the sink): an HTTP POST signed by the Standard Webhooks scheme.
//!
//! The `webhook-id` is the follow-up's idempotency key (tenant, run, step, round), the same on every retry, so a
//! receiver that deduplicates on it performs each follow-up once even if a delivery is retried after it had in
//! fact arrived. 2xx is delivered; 429 and 5xx (and no answer) are retried later; any other 4xx is a refusal, not
//! retried. A reply body may carry an opt-out signal (`{"optOut": true | "all" | ["sms", ...]}`).

use std::sync::Mutex;
use std::time::Duration;

use followups::optout::Scope;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use shared::standard_webhooks::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SigningSecret};
use shared::tenant_settings::Channel;
use tracing::warn;

/// What came of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered {
        status: u16,
        /// Channels the reply says the recipient opted out of (`all` for every channel).
        opt_out: Option<OptOutSignal>,
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
    timeout: Duration,
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
            timeout,
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
        if shared::deadline::remaining() == Some(Duration::ZERO) {
            // Not begun: a delivery cut off by the invocation's end would leave its outcome unknown.
            return Ok(Delivery::Retry {
                reason: "this invocation had no time left to deliver".into(),
                retry_after: None,
            });
        }
        let ts = now.as_second();
        let signature = secret.sign(webhook_id, ts, body.as_bytes());
        let response = self
            .http
            .post(url)
            .header(HEADER_ID, webhook_id)
            .header(HEADER_TIMESTAMP, ts.to_string())
            .header(HEADER_SIGNATURE, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(shared::deadline::cap(self.timeout))
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

/// What a reply body's `optOut` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptOutSignal {
    /// `true`: the channel the follow-up went on.
    ThisChannel,
    /// `"all"`, or a list of channels.
    Scope(Scope),
}

/// `{"optOut": true}` (the step's channel), `"all"`, or a list of channels.
fn opt_out_signal(body: &str) -> Option<OptOutSignal> {
    let v = serde_json::from_str::<Value>(body).ok()?;
    match v.get("optOut")? {
        Value::Bool(true) => Some(OptOutSignal::ThisChannel),
        Value::String(s) if s == "all" => Some(OptOutSignal::Scope(Scope::All)),
        Value::Array(items) => {
            if items.iter().any(|i| i.as_str() == Some("all")) {
                return Some(OptOutSignal::Scope(Scope::All));
            }
            let channels: Vec<Channel> = items
                .iter()
                .filter_map(|i| serde_json::from_value::<Channel>(i.clone()).ok())
                .collect();
            (!channels.is_empty()).then_some(OptOutSignal::Scope(Scope::Channels(channels)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reply_bodies_may_opt_out() {
        use super::{OptOutSignal, Scope, opt_out_signal as o};
        use shared::tenant_settings::Channel;
        assert_eq!(o(r#"{"optOut": true}"#), Some(OptOutSignal::ThisChannel));
        assert_eq!(o(r#"{"optOut": "all"}"#), Some(OptOutSignal::Scope(Scope::All)));
        assert_eq!(
            o(r#"{"optOut": ["sms", "fax"]}"#),
            Some(OptOutSignal::Scope(Scope::Channels(vec![Channel::Sms])))
        );
        assert_eq!(o(r#"{"accepted": true}"#), None);
        assert_eq!(o("OK"), None);
    }
}
