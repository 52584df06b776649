//! Delivery to the AI platform (the sink): an HTTP POST signed by the Standard Webhooks scheme.
//!
//! The `webhook-id` is the follow-up's idempotency key (tenant, run, step, round), the same on every retry, so a
//! receiver that deduplicates on it performs each follow-up once even if a delivery is retried after it had in
//! fact arrived. 2xx is delivered; 429 and 5xx (and no answer) are retried later; any other 4xx is a refusal, not
//! retried. A reply body may carry an opt-out signal (`{"optOut": true | "all" | ["sms", ...]}`).
//!
//! Egress ([`shared::egress`]): the URL must pass the deployment's rules at every send, and the connection goes
//! through a resolver that refuses non-public addresses, so what was checked is what is reached. Redirects are not
//! followed (a 307 would re-post the signed body elsewhere), and at most [`MAX_REPLY_BYTES`] of a reply are read;
//! what reaches the timeline is the status and a fixed reason, never the reply's text.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shared::egress::{EgressError, EgressPolicy, Target};

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

/// The secrets a delivery is signed with: the deployment's, or the active keys of a tenant with its own sink.
type Signers = Vec<SigningSecret>;

/// The most of a reply that is read (an opt-out signal is a few bytes).
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Resolves names for the sink's connections, refusing any that has a non-public address.
struct CheckedResolver(EgressPolicy);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let target = Target {
            host: name.as_str().to_owned(),
            port: 0,
        };
        Box::pin(async move {
            match shared::egress::resolve(&policy, &target).await {
                Ok(Some(addrs)) => Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>),
                Ok(None) => Err(format!("{} does not resolve", target.host).into()),
                Err(e) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// The egress refusal behind a failed request, if that is why it failed.
fn egress_refusal(e: &reqwest::Error) -> Option<&EgressError> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<EgressError>() {
            return Some(refused);
        }
        source = s.source();
    }
    None
}

pub struct Sink {
    http: reqwest::Client,
    policy: EgressPolicy,
    tenant_secrets: shared::sink_secrets::SinkSecrets,
    /// Tenants' active keys, each read at most every `cache_for`.
    tenant_cache: Mutex<std::collections::HashMap<String, (Signers, Timestamp)>>,
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
        policy: EgressPolicy,
        tenant_secrets: shared::sink_secrets::SinkSecrets,
    ) -> Self {
        Self {
            tenant_secrets,
            tenant_cache: Mutex::new(std::collections::HashMap::new()),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(5))
                .user_agent("servicetitan-followups/1")
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(CheckedResolver(policy.clone())))
                .build()
                .expect("the HTTP client builds"),
            policy,
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

    /// Who signs a delivery: the deployment's secret, or for a tenant with its own sink its own active keys (one
    /// signature each, so a rotation has no gap). `None`: the tenant has its own sink but no key yet.
    async fn signers(&self, tenant_id: &str, own_sink: bool, now: Timestamp) -> Result<Option<Signers>, SecretError> {
        if !own_sink {
            return Ok(Some(vec![self.secret(now).await?]));
        }
        if let Some((keys, at)) = self.tenant_cache.lock().expect("tenant secret cache").get(tenant_id)
            && now < *at + self.cache_for
        {
            return Ok((!keys.is_empty()).then(|| keys.clone()));
        }
        let ring = self
            .tenant_secrets
            .ring(tenant_id)
            .await
            .map_err(|e| SecretError::Unavailable(e.to_string()))?
            .unwrap_or_default();
        let keys: Signers = ring
            .active(now)
            .iter()
            .map(|k| SigningSecret::parse(&k.secret).map_err(SecretError::Malformed))
            .collect::<Result<_, _>>()?;
        self.tenant_cache
            .lock()
            .expect("tenant secret cache")
            .insert(tenant_id.to_owned(), (keys.clone(), now));
        Ok((!keys.is_empty()).then_some(keys))
    }

    /// POSTs `body` to `url`, signed at `now` (the stack's clock, so virtual time locally) by the deployment's
    /// secret, or by the tenant's own keys when `own_sink` (the URL is the tenant's setting).
    pub async fn deliver(
        &self,
        url: &str,
        webhook_id: &str,
        body: &str,
        tenant_id: &str,
        own_sink: bool,
        now: Timestamp,
    ) -> Result<Delivery, SecretError> {
        if let Err(e) = self.policy.check_sink(url) {
            warn!(error = %e, "follow-up sink URL refused by the egress rules");
            return Ok(Delivery::Retry {
                reason: format!("not sent: the sink URL is refused ({e}); fix the setting"),
                retry_after: None,
            });
        }
        let Some(signers) = self.signers(tenant_id, own_sink, now).await? else {
            return Ok(Delivery::Retry {
                reason: format!(
                    "not sent: this tenant's own sink has no signing secret yet \
                     (POST /admin/tenants/{tenant_id}/sink-secret makes one)"
                ),
                retry_after: None,
            });
        };
        if shared::deadline::remaining() == Some(Duration::ZERO) {
            // Not begun: a delivery cut off by the invocation's end would leave its outcome unknown.
            return Ok(Delivery::Retry {
                reason: "this invocation had no time left to deliver".into(),
                retry_after: None,
            });
        }
        let ts = now.as_second();
        let signature = signers
            .iter()
            .map(|s| s.sign(webhook_id, ts, body.as_bytes()))
            .collect::<Vec<_>>()
            .join(" ");
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
                if let Some(refused) = egress_refusal(&e) {
                    warn!(error = %refused, "follow-up sink refused at connect time");
                    return Ok(Delivery::Retry {
                        reason: format!("not sent: {refused}"),
                        retry_after: None,
                    });
                }
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
        let phrase = response.status().canonical_reason().unwrap_or("");
        let reply = read_capped(response).await;
        Ok(match status {
            200..=299 => Delivery::Delivered {
                status,
                opt_out: opt_out_signal(&String::from_utf8_lossy(&reply)),
            },
            429 | 500..=599 => Delivery::Retry {
                reason: format!("the AI platform answered {status} {phrase}"),
                retry_after,
            },
            300..=399 => Delivery::Rejected {
                status,
                reason: format!("the AI platform answered a redirect ({status}); redirects are not followed"),
            },
            _ => Delivery::Rejected {
                status,
                reason: format!("the AI platform refused the follow-up ({status} {phrase})"),
            },
        })
    }
}

/// The reply's first [`MAX_REPLY_BYTES`]; the rest is not read.
async fn read_capped(mut response: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_REPLY_BYTES - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_REPLY_BYTES {
            break;
        }
    }
    out
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
