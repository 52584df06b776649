//! OAuth2 client credentials against `POST {auth}/connect/token`.
//!
//! Tokens last 900 s and there are no refresh tokens, so a token is reused until [`REFRESH_MARGIN`] before it
//! expires and then requested again. Where tokens are kept is pluggable ([`TokenStore`]): in memory here, in
//! DynamoDB shared across Lambdas with the tenants work. One refresh runs at a time per provider, so a burst of
//! callers causes one token request.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use shared::SharedClock;
use tracing::{debug, info};

use crate::error::Error;

/// Refresh this long before expiry, so a token never expires mid-request.
pub const REFRESH_MARGIN: SignedDuration = SignedDuration::from_secs(60);

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub tenant_id: i64,
    pub client_id: String,
    pub client_secret: String,
    pub app_key: String,
}

// Hand-written so that secrets never reach a log line through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("app_key", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub value: String,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl AccessToken {
    /// Usable now, with the refresh margin to spare.
    pub fn is_fresh(&self, now: Timestamp) -> bool {
        self.expires_at - REFRESH_MARGIN > now
    }
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// How long one caller may hold the right to refresh before another may take over (covers a crashed Lambda).
pub const REFRESH_LEASE: SignedDuration = SignedDuration::from_secs(20);

/// Which token: the tenant, and the auth host and client it was issued to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub tenant_id: i64,
    /// `<auth host>|<client id>`; never the secret.
    pub scope: String,
}

/// Where tokens are kept between calls. A store shared by several processes also arbitrates who refreshes
/// ([`TokenStore::try_lease`]), so that a burst of Lambdas makes one token request.
pub trait TokenStore: Send + Sync {
    fn load<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<AccessToken>>;
    /// Stores a fresh token and ends any refresh lease on it.
    fn save<'a>(&'a self, key: &'a TokenKey, token: &'a AccessToken) -> StoreFuture<'a, ()>;
    /// Claims the refresh for `holder` until `until`; `false` while another holder's lease is live. A store used
    /// by one process has nobody to arbitrate with.
    ///
    /// The claim must also fail while the stored token is still fresh at `now` (and is not `rejected`, a token the
    /// API just refused): otherwise a caller that read "no token" just before the holder stored one would refresh
    /// again.
    fn try_lease<'a>(
        &'a self,
        _key: &'a TokenKey,
        _holder: &'a str,
        _now: Timestamp,
        _until: Timestamp,
        _rejected: Option<&'a AccessToken>,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async { Ok(true) })
    }
    /// Gives up `holder`'s lease after a failed refresh, so others need not wait for it to run out.
    fn release<'a>(&'a self, _key: &'a TokenKey, _holder: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// Tokens kept in this process only.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<TokenKey, AccessToken>>,
}

impl TokenStore for MemoryTokenStore {
    fn load<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<AccessToken>> {
        let token = self.tokens.lock().expect("token map lock").get(key).cloned();
        Box::pin(async move { Ok(token) })
    }

    fn save<'a>(&'a self, key: &'a TokenKey, token: &'a AccessToken) -> StoreFuture<'a, ()> {
        self.tokens
            .lock()
            .expect("token map lock")
            .insert(key.clone(), token.clone());
        Box::pin(async { Ok(()) })
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
}

pub struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    credentials: Arc<Credentials>,
    store: Arc<dyn TokenStore>,
    clock: SharedClock,
    key: TokenKey,
    /// Identifies this provider in refresh leases.
    holder: String,
    refresh: tokio::sync::Mutex<()>,
}

impl TokenProvider {
    pub fn new(
        http: reqwest::Client,
        auth_url: &str,
        credentials: Arc<Credentials>,
        store: Arc<dyn TokenStore>,
        clock: SharedClock,
    ) -> Self {
        Self {
            key: Self::key(auth_url, &credentials),
            holder: holder_id(),
            token_url: format!("{}/connect/token", auth_url.trim_end_matches('/')),
            http,
            credentials,
            store,
            clock,
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The store key: the tenant, the auth host and the client, never the secret.
    pub fn key(auth_url: &str, credentials: &Credentials) -> TokenKey {
        TokenKey {
            tenant_id: credentials.tenant_id,
            scope: format!("{}|{}", auth_url.trim_end_matches('/'), credentials.client_id),
        }
    }

    /// A token that is fresh now.
    pub async fn token(&self) -> Result<AccessToken, Error> {
        if let Some(t) = self
            .store
            .load(&self.key)
            .await?
            .filter(|t| t.is_fresh(self.clock.now()))
        {
            return Ok(t);
        }
        self.refresh(None).await
    }

    /// After the API rejected `rejected` with a 401: a new token, unless another caller already replaced it.
    pub async fn replace(&self, rejected: &AccessToken) -> Result<AccessToken, Error> {
        self.refresh(Some(rejected)).await
    }

    /// One refresh at a time: in this process by a mutex, across processes by the store's lease. A caller without
    /// the lease waits for the holder's token to appear, or for the lease to run out.
    async fn refresh(&self, rejected: Option<&AccessToken>) -> Result<AccessToken, Error> {
        let _one_at_a_time = self.refresh.lock().await;
        loop {
            let now = self.clock.now();
            if let Some(t) = self
                .store
                .load(&self.key)
                .await?
                .filter(|t| t.is_fresh(now) && Some(t) != rejected)
            {
                return Ok(t);
            }
            if self
                .store
                .try_lease(&self.key, &self.holder, now, now + REFRESH_LEASE, rejected)
                .await?
            {
                let fetched = self.fetch().await;
                if fetched.is_err() {
                    self.store.release(&self.key, &self.holder).await?;
                }
                return fetched;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn fetch(&self) -> Result<AccessToken, Error> {
        let requested_at = self.clock.now();
        let response = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.credentials.client_id.as_str()),
                ("client_secret", self.credentials.client_secret.as_str()),
            ])
            .send()
            .await
            .map_err(|e| Error::Transport(format!("token endpoint: {}", without_url(&e))))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Error::Transport(without_url(&e)))?;
        if !status.is_success() {
            let error = serde_json::from_str::<TokenError>(&text).unwrap_or_default().error;
            return Err(if status.is_server_error() {
                Error::Server {
                    status: status.as_u16(),
                    attempts: 1,
                }
            } else {
                Error::Auth {
                    status: status.as_u16(),
                    error: if error.is_empty() {
                        "unknown error".into()
                    } else {
                        error
                    },
                }
            });
        }
        let body: TokenResponse =
            serde_json::from_str(&text).map_err(|e| Error::Decode(format!("token response: {e}")))?;
        let token = AccessToken {
            value: body.access_token,
            // Counted from when it was asked for, so network time only makes it expire early, never late.
            expires_at: requested_at + SignedDuration::from_secs(body.expires_in),
        };
        self.store.save(&self.key, &token).await?;
        info!(tenant_id = self.credentials.tenant_id, expires_at = %token.expires_at, "ServiceTitan token refreshed");
        debug!(scope = self.key.scope, "token stored");
        Ok(token)
    }
}

/// Unique enough for a lease holder: process, a counter and the start time.
fn holder_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}-{}", std::process::id(), Timestamp::now().as_nanosecond())
}

/// reqwest errors can carry the URL; keep messages short and free of query strings.
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url (") {
        e.truncate(i);
    }
    e
}
