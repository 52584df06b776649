//! The request pipeline every ServiceTitan call goes through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::SharedClock;
use tracing::{debug, warn};

use crate::auth::{AccessToken, Credentials, TokenProvider, TokenStore, without_url};
use crate::environment::Hosts;
use crate::error::{ApiErrorResponse, Error};
use crate::rate_limit::{RateLimit, RateLimiter};

/// API modules, i.e. the path segment after the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Accounting,
    Crm,
    Dispatch,
    Jpm,
    Marketing,
    Sales,
    Settings,
    Telecom,
}

impl Module {
    pub fn path(self) -> &'static str {
        match self {
            Self::Accounting => "accounting",
            Self::Crm => "crm",
            Self::Dispatch => "dispatch",
            Self::Jpm => "jpm",
            Self::Marketing => "marketing",
            Self::Sales => "sales",
            Self::Settings => "settings",
            Self::Telecom => "telecom",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, for 429s, 5xx and transport errors (a 401 refresh does not count).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured in-process; longer waits fail as [`Error::RateLimited`].
    pub max_retry_after: Duration,
    /// Retry POST and PATCH after 5xx and timeouts too. Off by default: the request may have been applied, and a
    /// create repeated is a duplicate customer or job. Callers whose writes are idempotent may turn it on.
    pub retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(30),
            retry_non_idempotent: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub hosts: Hosts,
    pub retry: RetryPolicy,
    pub rate_limit: RateLimit,
    pub timeout: Duration,
}

impl ClientOptions {
    pub fn new(hosts: Hosts) -> Self {
        Self {
            hosts,
            retry: RetryPolicy::default(),
            rate_limit: RateLimit::default(),
            // ServiceTitan's own API timeout is 100 s; a Lambda should give up well before.
            timeout: Duration::from_secs(30),
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    api_url: String,
    credentials: Arc<Credentials>,
    tokens: TokenProvider,
    limiter: RateLimiter,
    /// The tenant's budget shared with every other process calling it, and this caller's priority.
    budget: Option<(Arc<crate::SharedBudget>, crate::Priority)>,
    retry: RetryPolicy,
    timeout: Duration,
    jitter: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.api_url)
            .field("credentials", &self.credentials)
            .finish()
    }
}

enum Attempt<T> {
    Done(T),
    Retry(Duration),
}

impl Client {
    pub fn new(
        options: ClientOptions,
        credentials: Credentials,
        store: Arc<dyn TokenStore>,
        clock: SharedClock,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("the HTTP client builds");
        let credentials = Arc::new(credentials);
        Self {
            tokens: TokenProvider::new(http.clone(), &options.hosts.auth_url, credentials.clone(), store, clock),
            http,
            api_url: options.hosts.api_url.trim_end_matches('/').to_owned(),
            credentials,
            limiter: RateLimiter::new(options.rate_limit),
            budget: None,
            retry: options.retry,
            timeout: options.timeout,
            jitter: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
        }
    }

    /// Takes a token from the tenant's shared budget before every request, at `priority`.
    pub fn with_budget(mut self, budget: Arc<crate::SharedBudget>, priority: crate::Priority) -> Self {
        self.budget = Some((budget, priority));
        self
    }

    pub fn tenant_id(&self) -> i64 {
        self.credentials.tenant_id
    }

    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// `{api}/{module}/v2/tenant/{t}{path}`. For [`Module::Telecom`] this is the telecom v2 paths
    /// (`/telecom/v2/tenant/{t}/...`); other telecom versions go through [`Client::telecom_url`].
    pub fn url(&self, module: Module, path: &str) -> String {
        format!(
            "{}/{}/v2/tenant/{}{path}",
            self.api_url,
            module.path(),
            self.credentials.tenant_id
        )
    }

    /// `{api}/telecom/v{version}/tenant/{t}{path}`: the telecom server URL has no version; each telecom path carries
    /// its own (`/v2/tenant/{t}/export/calls`, `/v3/tenant/{t}/calls`).
    pub fn telecom_url(&self, version: u8, path: &str) -> String {
        format!(
            "{}/telecom/v{version}/tenant/{}{path}",
            self.api_url, self.credentials.tenant_id
        )
    }

    /// A GET to a telecom path of the given version (see [`Client::telecom_url`]).
    pub async fn telecom_get<T: DeserializeOwned>(
        &self,
        version: u8,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let url = self.telecom_url(version, path);
        decode(&self.send_url(Method::GET, &url, query, None::<&()>).await?)
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        module: Module,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let body = self.send(Method::GET, module, path, query, None::<&()>).await?;
        decode(&body)
    }

    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        module: Module,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        decode(&self.send(Method::POST, module, path, &[], Some(body)).await?)
    }

    pub async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        module: Module,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        decode(&self.send(Method::PUT, module, path, &[], Some(body)).await?)
    }

    /// For actions that answer 200 with an empty body (cancel, dismiss, ...).
    pub async fn put_empty<B: Serialize + ?Sized>(&self, module: Module, path: &str, body: &B) -> Result<(), Error> {
        self.send(Method::PUT, module, path, &[], Some(body)).await.map(|_| ())
    }

    /// Sends one request through the rate limiter, token refresh and retry policy; returns the body of a 2xx.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        module: Module,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<bytes_body::Body, Error> {
        self.send_url(method, &self.url(module, path), query, body).await
    }

    /// [`Client::send`] to a full URL (for paths [`Client::url`] does not build, such as telecom v3).
    pub async fn send_url<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<bytes_body::Body, Error> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::InvalidRequest(format!("the request body does not serialise: {e}")))?;
        let idempotent = !matches!(method, Method::POST | Method::PATCH) || self.retry.retry_non_idempotent;
        let mut token = self.tokens.token().await?;
        let mut refreshed = false;
        let mut attempt = 1;
        loop {
            self.limiter.acquire(self.credentials.tenant_id).await;
            if let Some((budget, priority)) = &self.budget {
                budget.acquire(self.credentials.tenant_id, *priority).await;
            }
            // The invocation ends soon: stop while there is time to record that, rather than be cut off mid-call.
            if shared::deadline::remaining() == Some(Duration::ZERO) {
                return Err(Error::OutOfTime { attempts: attempt - 1 });
            }
            match self
                .attempt(&method, url, query, body.as_deref(), &token, idempotent, attempt)
                .await
            {
                Ok(Attempt::Done(bytes)) => return Ok(bytes),
                Ok(Attempt::Retry(delay)) if !shared::deadline::fits(delay) => {
                    return Err(Error::OutOfTime { attempts: attempt });
                }
                Ok(Attempt::Retry(delay)) => {
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                }
                // One refresh and one retry per call: a second 401 means the app key or tenant is wrong.
                Err(Error::Unauthorized { status: 401, .. }) if !refreshed => {
                    refreshed = true;
                    token = self.tokens.replace(&token).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        token: &AccessToken,
        idempotent: bool,
        attempt: u32,
    ) -> Result<Attempt<bytes_body::Body>, Error> {
        let mut request = self
            .http
            .request(method.clone(), url)
            .query(query)
            .header(http::header::AUTHORIZATION, format!("Bearer {}", token.value))
            .header("ST-App-Key", &self.credentials.app_key)
            .header(http::header::ACCEPT, "application/json")
            .timeout(shared::deadline::cap(self.timeout));
        if let Some(body) = body {
            request = request
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let can_retry = attempt < self.retry.max_attempts;
        let response = match request.send().await {
            Ok(r) => r,
            // A failed connect never reached ServiceTitan, so even a create is safe to repeat.
            Err(e) if can_retry && (e.is_connect() || (idempotent && (e.is_timeout() || e.is_request()))) => {
                warn!(
                    attempt,
                    error = without_url(&e),
                    "ServiceTitan request failed; retrying"
                );
                return Ok(Attempt::Retry(self.backoff(attempt)));
            }
            Err(e) => return Err(Error::Transport(without_url(&e))),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(|e| Error::Transport(without_url(&e)))?;
        debug!(%method, status = status.as_u16(), attempt, "ServiceTitan call");
        if status.is_success() {
            return Ok(Attempt::Done(bytes_body::Body(bytes.to_vec())));
        }
        let api_error = || Box::new(serde_json::from_slice::<ApiErrorResponse>(&bytes).unwrap_or_default());
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Error::Unauthorized {
                status: status.as_u16(),
                body: api_error(),
            }),
            StatusCode::TOO_MANY_REQUESTS => {
                // For the operations dashboard: 429s mean the shared budget is set above what ServiceTitan allows.
                shared::metrics::emit(
                    "servicetitan",
                    &self.credentials.tenant_id.to_string(),
                    &[(crate::THROTTLED_METRIC, 1)],
                    jiff::Timestamp::now(),
                );
                // Retry-After, else the seconds in the title ("Rate limit is exceeded. Try again in N seconds.").
                let wait = retry_after
                    .or_else(|| seconds_in_title(api_error().title.as_deref()))
                    .unwrap_or_else(|| self.backoff(attempt));
                if !can_retry || wait > self.retry.max_retry_after {
                    return Err(Error::RateLimited { attempts: attempt });
                }
                warn!(
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "ServiceTitan rate limit; waiting"
                );
                Ok(Attempt::Retry(wait))
            }
            s if s.is_server_error() => {
                if can_retry && idempotent {
                    warn!(attempt, status = s.as_u16(), "ServiceTitan server error; retrying");
                    Ok(Attempt::Retry(retry_after.unwrap_or_else(|| self.backoff(attempt))))
                } else {
                    Err(Error::Server {
                        status: s.as_u16(),
                        attempts: attempt,
                    })
                }
            }
            s => Err(Error::Api {
                status: s.as_u16(),
                body: api_error(),
            }),
        }
    }

    /// Exponential backoff with full jitter, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .retry
            .base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.retry.max_delay);
        // xorshift64: jitter needs spread, not cryptographic randomness.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        cap.mul_f64((x % 10_000) as f64 / 10_000.0)
    }
}

fn decode<T: DeserializeOwned>(body: &bytes_body::Body) -> Result<T, Error> {
    let bytes = if body.0.is_empty() { b"null".as_slice() } else { &body.0 };
    serde_json::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))
}

/// "Rate limit is exceeded. Try again in 3 seconds." → 3 s.
fn seconds_in_title(title: Option<&str>) -> Option<Duration> {
    let words: Vec<&str> = title?.split_whitespace().collect();
    let at = words.iter().rposition(|w| w.starts_with("second"))?;
    words
        .get(at.checked_sub(1)?)?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A response body.
pub mod bytes_body {
    #[derive(Debug, Clone, Default)]
    pub struct Body(pub Vec<u8>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_wait_from_the_title() {
        assert_eq!(
            seconds_in_title(Some("Rate limit is exceeded. Try again in 3 seconds.")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            seconds_in_title(Some("Try again in 1 second")),
            Some(Duration::from_secs(1))
        );
        assert_eq!(seconds_in_title(Some("Too many requests")), None);
        assert_eq!(seconds_in_title(None), None);
    }
}
