//! The app-level webhook HMAC keys, kept in Secrets Manager and cached in memory with a TTL.
//!
//! The secret holds `{"keys": [{"id": "k2", "secret": "...", "not_after": "2027-01-01T00:00:00Z"}, ...]}`. Every
//! key whose `not_after` is absent or still ahead is active, so a rotation adds the new key, switches ServiceTitan
//! over, and lets the old key lapse: there is never a moment with no valid key.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use tokio::time::Instant;

use crate::signing::VerificationKey;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    pub id: String,
    pub secret: String,
    #[serde(default)]
    pub not_after: Option<Timestamp>,
}

// Hand-written so that a key never reaches a log line through `{:?}`.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl SigningKey {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.not_after.is_none_or(|t| t > now)
    }
}

impl VerificationKey for SigningKey {
    fn key_id(&self) -> &str {
        &self.id
    }
    fn key_bytes(&self) -> &[u8] {
        self.secret.as_bytes()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRing {
    pub keys: Vec<SigningKey>,
}

impl KeyRing {
    /// The keys active at `now`, the one most likely in use first: keys without an end date (the current key
    /// after a rotation), then the latest-ending. Verification stops at the first match.
    pub fn active(&self, now: Timestamp) -> Vec<SigningKey> {
        let mut active: Vec<SigningKey> = self.keys.iter().filter(|k| k.is_active(now)).cloned().collect();
        active.sort_by_key(|k| std::cmp::Reverse(k.not_after.unwrap_or(Timestamp::MAX)));
        active
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("could not read the webhook signing keys secret: {0}")]
    Read(String),
    #[error("the webhook signing keys secret is not valid JSON of the form {{\"keys\":[...]}}: {0}")]
    Malformed(String),
}

#[derive(Debug)]
struct Cached {
    ring: Arc<KeyRing>,
    fetched: Instant,
}

/// Reads the key ring through a TTL cache. A failed verification may force one early re-read (see
/// [`SigningKeyStore::refresh_if_older_than`]), so a key added during rotation is picked up at once.
#[derive(Debug)]
pub struct SigningKeyStore {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl: Duration,
    cache: RwLock<Option<Cached>>,
}

impl SigningKeyStore {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>, ttl: Duration) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            ttl,
            cache: RwLock::new(None),
        }
    }

    pub async fn ring(&self) -> Result<Arc<KeyRing>, KeyStoreError> {
        if let Some(c) = self.cache.read().await.as_ref()
            && c.fetched.elapsed() < self.ttl
        {
            return Ok(c.ring.clone());
        }
        self.reload().await
    }

    /// Re-reads the secret if the cached copy is older than `min_age`; returns whether it did.
    pub async fn refresh_if_older_than(&self, min_age: Duration) -> Result<bool, KeyStoreError> {
        let stale = match self.cache.read().await.as_ref() {
            Some(c) => c.fetched.elapsed() >= min_age,
            None => true,
        };
        if stale {
            self.reload().await?;
        }
        Ok(stale)
    }

    async fn reload(&self) -> Result<Arc<KeyRing>, KeyStoreError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| KeyStoreError::Read(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
        let text = out.secret_string().unwrap_or_default();
        let ring: KeyRing = serde_json::from_str(text).map_err(|e| KeyStoreError::Malformed(e.to_string()))?;
        let ring = Arc::new(ring);
        *self.cache.write().await = Some(Cached {
            ring: ring.clone(),
            fetched: Instant::now(),
        });
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_follows_not_after() {
        let now: Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
        let ring: KeyRing = serde_json::from_str(
            r#"{"keys":[{"id":"old","secret":"a","not_after":"2026-11-27T00:00:00Z"},
                        {"id":"cur","secret":"b","not_after":"2026-12-31T00:00:00Z"},
                        {"id":"open","secret":"c"}]}"#,
        )
        .unwrap();
        let ids: Vec<_> = ring.active(now).into_iter().map(|k| k.id).collect();
        assert_eq!(ids, vec!["open", "cur"], "active keys, the open-ended one first");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = SigningKey {
            id: "k1".into(),
            secret: "super-secret-value".into(),
            not_after: None,
        };
        let shown = format!("{k:?} {:?}", KeyRing { keys: vec![k.clone()] });
        assert!(!shown.contains("super-secret-value"), "{shown}");
    }
}
