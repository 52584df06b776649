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
        self.usable_until(now + REFRESH_MARGIN)
    }

    /// Still valid at `t`.
    pub fn usable_until(&self, t: Timestamp) -> bool {
        self.expires_at > t
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
    /// The claim must also fail while the stored token is still valid at `needed_until` (and is not `rejected`, a
    /// token the API just refused): otherwise a caller that read "no token" just before the holder stored one would
    /// refresh again.
    fn try_lease<'a>(
        &'a self,
        _key: &'a TokenKey,
        _lease: &'a Lease<'a>,
        _rejected: Option<&'a AccessToken>,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async { Ok(true) })
    }
    /// Gives up `holder`'s lease after a failed refresh, so others need not wait for it to run out.
    fn release<'a>(&'a self, _key: &'a TokenKey, _holder: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// A claim on the right to refresh one token.
#[derive(Debug, Clone)]
pub struct Lease<'a> {
    pub holder: &'a str,
    pub now: Timestamp,
    /// The lease runs out then, so a crashed holder does not block the others for long.
    pub until: Timestamp,
    /// A stored token valid past this needs no refresh.
    pub needed_until: Timestamp,
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
    /// The last token seen, so a warm Lambda does not read the store on every call.
    cached: Mutex<Option<AccessToken>>,
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
            token_url: token_url(auth_url),
            http,
            credentials,
            store,
            clock,
            refresh: tokio::sync::Mutex::new(()),
            cached: Mutex::new(None),
        }
    }

    /// The store key: the tenant, the auth host and the client, never the secret.
    pub fn key(auth_url: &str, credentials: &Credentials) -> TokenKey {
        TokenKey {
            tenant_id: credentials.tenant_id,
            scope: format!("{}|{}", auth_url.trim_end_matches('/'), credentials.client_id),
        }
    }

    /// A token that is fresh now: from this process's cache, else the store, else a refresh.
    pub async fn token(&self) -> Result<AccessToken, Error> {
        let now = self.clock.now();
        if let Some(t) = self.cached().filter(|t| t.is_fresh(now)) {
            return Ok(t);
        }
        if let Some(t) = self.store.load(&self.key).await?.filter(|t| t.is_fresh(now)) {
            self.remember(&t);
            return Ok(t);
        }
        self.refresh(None, now + REFRESH_MARGIN).await
    }

    /// After the API rejected `rejected` with a 401: a new token, unless another caller already replaced it.
    pub async fn replace(&self, rejected: &AccessToken) -> Result<AccessToken, Error> {
        self.refresh(Some(rejected), self.clock.now() + REFRESH_MARGIN).await
    }

    /// Makes sure the stored token stays valid for at least `ahead` (token-refresh's proactive refresh). Returns
    /// the new token, or `None` when the stored one already lasts long enough. Shares the lease with on-demand
    /// refreshes, so the two never both ask ServiceTitan.
    pub async fn refresh_ahead(&self, ahead: SignedDuration) -> Result<Option<AccessToken>, Error> {
        let needed_until = self.clock.now() + ahead.max(REFRESH_MARGIN);
        if self
            .store
            .load(&self.key)
            .await?
            .is_some_and(|t| t.usable_until(needed_until))
        {
            return Ok(None);
        }
        self.refresh(None, needed_until).await.map(Some)
    }

    fn cached(&self) -> Option<AccessToken> {
        self.cached.lock().expect("token cache lock").clone()
    }

    fn remember(&self, token: &AccessToken) {
        *self.cached.lock().expect("token cache lock") = Some(token.clone());
    }

    /// One refresh at a time: in this process by a mutex, across processes by the store's lease. A caller without
    /// the lease waits for the holder's token to appear, or for the lease to run out.
    async fn refresh(&self, rejected: Option<&AccessToken>, needed_until: Timestamp) -> Result<AccessToken, Error> {
        let _one_at_a_time = self.refresh.lock().await;
        loop {
            let now = self.clock.now();
            if let Some(t) = self
                .store
                .load(&self.key)
                .await?
                // By value: a store may round the expiry (DynamoDB keeps milliseconds).
                .filter(|t| t.usable_until(needed_until) && rejected.is_none_or(|r| r.value != t.value))
            {
                self.remember(&t);
                return Ok(t);
            }
            let lease = Lease {
                holder: &self.holder,
                now,
                until: now + REFRESH_LEASE,
                needed_until,
            };
            if self.store.try_lease(&self.key, &lease, rejected).await? {
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
        let token = request_token(&self.http, &self.token_url, &self.credentials, self.clock.now()).await?;
        self.store.save(&self.key, &token).await?;
        self.remember(&token);
        info!(tenant_id = self.credentials.tenant_id, expires_at = %token.expires_at, "ServiceTitan token refreshed");
        debug!(
            tenant_id = self.credentials.tenant_id,
            scope = self.key.scope,
            "token stored"
        );
        Ok(token)
    }
}

/// The longest a token request may take (less, near the invocation's deadline).
const TOKEN_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One `POST {auth}/connect/token` with the client credentials, outside any store: the tenant-admin function uses
/// it to check pasted credentials before keeping them. `token_url` is the full endpoint URL.
pub async fn request_token(
    http: &reqwest::Client,
    token_url: &str,
    credentials: &Credentials,
    requested_at: Timestamp,
) -> Result<AccessToken, Error> {
    let response = http
        .post(token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.as_str()),
        ])
        .timeout(shared::deadline::cap(TOKEN_REQUEST_TIMEOUT))
        .send()
        .await
        .map_err(|e| Error::Transport(format!("token endpoint: {}", without_url(&e))))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| Error::Transport(without_url(&e)))?;
    if !status.is_success() {
        let error = serde_json::from_str::<TokenError>(&text).unwrap_or_default().error;
        return Err(
            if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
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
            },
        );
    }
    let body: TokenResponse = serde_json::from_str(&text).map_err(|e| Error::Decode(format!("token response: {e}")))?;
    Ok(AccessToken {
        value: body.access_token,
        // Counted from when it was asked for, so network time only makes it expire early, never late.
        expires_at: requested_at + SignedDuration::from_secs(body.expires_in),
    })
}

/// `{auth}/connect/token`.
pub fn token_url(auth_url: &str) -> String {
    format!("{}/connect/token", auth_url.trim_end_matches('/'))
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
