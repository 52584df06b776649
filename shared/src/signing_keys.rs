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

use crate::clock::SharedClock;
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

impl KeyRing {
    /// Adds a key; it is accepted as soon as the intake next reads the secret.
    pub fn add(&mut self, key: SigningKey) -> Result<(), KeyRingError> {
        if self.keys.iter().any(|k| k.id == key.id) {
            return Err(KeyRingError::DuplicateId(key.id));
        }
        self.keys.push(key);
        Ok(())
    }

    /// Ends a key at `at` (now, or later to let a rotation finish). A key already ending earlier keeps its end.
    /// Refuses to retire the last key that would still be active, which would reject every webhook.
    pub fn retire(&mut self, id: &str, at: Timestamp, now: Timestamp) -> Result<&SigningKey, KeyRingError> {
        let Some(index) = self.keys.iter().position(|k| k.id == id) else {
            return Err(KeyRingError::UnknownId(id.to_owned()));
        };
        let others_active = self.keys.iter().any(|k| k.id != id && k.is_active(now));
        let key = &self.keys[index];
        if key.is_active(now) && !others_active && at <= now {
            return Err(KeyRingError::LastActiveKey(id.to_owned()));
        }
        let key = &mut self.keys[index];
        key.not_after = Some(key.not_after.map_or(at, |t| t.min(at)));
        Ok(&self.keys[index])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("a key with id {0:?} already exists")]
    DuplicateId(String),
    #[error("no key has id {0:?}")]
    UnknownId(String),
    #[error("key {0:?} is the only active key; add its successor first, or every webhook would be rejected")]
    LastActiveKey(String),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("could not read or write the webhook signing keys secret: {0}")]
    Read(String),
    #[error("the webhook signing keys secret is not valid JSON of the form {{\"keys\":[...]}}: {0}")]
    Malformed(String),
}

#[derive(Debug)]
struct Cached {
    ring: Arc<KeyRing>,
    fetched: Timestamp,
}

/// Reads the key ring through a TTL cache. A failed verification may force one early re-read (see
/// [`SigningKeyStore::refresh_if_older_than`]), so a key added during rotation is picked up at once.
///
/// The cache ages on the functions' clock, not on wall time, so that a key's lapse and the cache's expiry are
/// measured on the same time line (the local stack's virtual clock included).
#[derive(Debug)]
pub struct SigningKeyStore {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl: Duration,
    clock: SharedClock,
    cache: RwLock<Option<Cached>>,
}

impl SigningKeyStore {
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        ttl: Duration,
        clock: SharedClock,
    ) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            ttl,
            clock,
            cache: RwLock::new(None),
        }
    }

    /// How long ago the cached copy was read; a copy from the clock's future (it never moves back) counts as new.
    fn age(&self, cached: &Cached) -> Duration {
        Duration::try_from(self.clock.now().duration_since(cached.fetched)).unwrap_or(Duration::ZERO)
    }

    pub async fn ring(&self) -> Result<Arc<KeyRing>, KeyStoreError> {
        if let Some(c) = self.cache.read().await.as_ref()
            && self.age(c) < self.ttl
        {
            return Ok(c.ring.clone());
        }
        self.reload().await
    }

    /// Re-reads the secret if the cached copy is older than `min_age`; returns whether it did.
    pub async fn refresh_if_older_than(&self, min_age: Duration) -> Result<bool, KeyStoreError> {
        let stale = match self.cache.read().await.as_ref() {
            Some(c) => self.age(c) >= min_age,
            None => true,
        };
        if stale {
            self.reload().await?;
        }
        Ok(stale)
    }

    /// Reads the secret, bypassing the cache (for changing it).
    pub async fn read_uncached(&self) -> Result<KeyRing, KeyStoreError> {
        Ok((*self.reload().await?).clone())
    }

    /// Replaces the key ring. Secrets Manager has no compare-and-set, so two concurrent changes can lose one;
    /// key changes are rare and made by a person, and the admin API reads back the result.
    pub async fn write(&self, ring: &KeyRing) -> Result<(), KeyStoreError> {
        let text = serde_json::to_string(ring).map_err(|e| KeyStoreError::Malformed(e.to_string()))?;
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(text)
            .send()
            .await
            .map_err(|e| KeyStoreError::Read(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
        *self.cache.write().await = None;
        Ok(())
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
            fetched: self.clock.now(),
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
    fn rotation_never_leaves_no_active_key() {
        let now: Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
        let key = |id: &str| SigningKey {
            id: id.into(),
            secret: format!("secret-{id}"),
            not_after: None,
        };
        let mut ring = KeyRing { keys: vec![key("k1")] };
        assert_eq!(
            ring.retire("k1", now, now),
            Err(KeyRingError::LastActiveKey("k1".into()))
        );
        assert_eq!(ring.add(key("k1")), Err(KeyRingError::DuplicateId("k1".into())));
        ring.add(key("k2")).unwrap();
        let later = now + jiff::SignedDuration::from_hours(1);
        assert_eq!(ring.retire("k1", later, now).unwrap().not_after, Some(later));
        assert_eq!(
            ring.retire("k1", now, now).unwrap().not_after,
            Some(now),
            "an earlier end wins"
        );
        assert_eq!(ring.active(now).len(), 1);
        assert!(matches!(ring.retire("nope", now, now), Err(KeyRingError::UnknownId(_))));
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
