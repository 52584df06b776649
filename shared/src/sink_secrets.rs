//! Signing secrets of tenants that run their own sink (a `followupSinkUrl`): one per tenant, so that one tenant's
//! receiver can never verify, or forge, another's follow-ups.
//!
//! The secret `<prefix><tenant id>/sink-signing` holds a key ring in the form of the webhook keys
//! (`{"keys": [{"id", "secret": "whsec_…", "not_after"}]}`). A rotation adds a key and gives the others an end
//! an overlap from now; until then a delivery carries one signature per active key (Standard Webhooks allows
//! several), so the receiver can switch to the new secret whenever it likes within the overlap.

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};

use crate::signing_keys::{KeyRing, KeyStoreError, SigningKey};

#[derive(Debug, Clone)]
pub struct SinkSecrets {
    client: aws_sdk_secretsmanager::Client,
    /// `TENANT_SECRET_PREFIX` (`<stack>/tenants/`).
    prefix: String,
}

/// A new secret in `whsec_` form: 32 bytes from the operating system's random source.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn unavailable(e: impl std::fmt::Display) -> KeyStoreError {
    KeyStoreError::Read(e.to_string())
}

impl SinkSecrets {
    pub fn new(client: aws_sdk_secretsmanager::Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }

    pub fn name(&self, tenant_id: &str) -> String {
        format!("{}{tenant_id}/sink-signing", self.prefix)
    }

    /// The tenant's ring, or `None` when it has never had one.
    pub async fn ring(&self, tenant_id: &str) -> Result<Option<KeyRing>, KeyStoreError> {
        match self
            .client
            .get_secret_value()
            .secret_id(self.name(tenant_id))
            .send()
            .await
        {
            Ok(out) => serde_json::from_str(out.secret_string().unwrap_or_default())
                .map(Some)
                .map_err(|e| KeyStoreError::Malformed(e.to_string())),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(unavailable(DisplayErrorContext(e))),
        }
    }

    /// Adds a new key (returned, with its secret, this once) and ends every other active key `overlap` from now.
    pub async fn rotate(
        &self,
        tenant_id: &str,
        now: Timestamp,
        overlap: SignedDuration,
    ) -> Result<(SigningKey, KeyRing), KeyStoreError> {
        let existing = self.ring(tenant_id).await?;
        let mut ring = existing.clone().unwrap_or_default();
        let end = now + overlap;
        for key in ring.keys.iter_mut().filter(|k| k.is_active(now)) {
            key.not_after = Some(key.not_after.map_or(end, |t| t.min(end)));
        }
        let mut id = format!("s{}", now.as_second());
        while ring.keys.iter().any(|k| k.id == id) {
            id.push('b');
        }
        let key = SigningKey {
            id,
            secret: new_secret(),
            not_after: None,
        };
        ring.keys.push(key.clone());
        // Keys ended long ago only make the secret longer.
        ring.keys.retain(|k| {
            k.not_after
                .is_none_or(|t| t > now - SignedDuration::from_hours(24 * 30))
        });
        let text = serde_json::to_string(&ring).map_err(|e| KeyStoreError::Malformed(e.to_string()))?;
        let name = self.name(tenant_id);
        let created = match existing {
            Some(_) => false,
            None => match self
                .client
                .create_secret()
                .name(&name)
                .secret_string(&text)
                .send()
                .await
            {
                Ok(_) => true,
                // Created meanwhile by a concurrent rotation: write over it like any other.
                Err(e) if e.code() == Some("ResourceExistsException") => false,
                Err(e) => return Err(unavailable(DisplayErrorContext(e))),
            },
        };
        if !created {
            self.client
                .put_secret_value()
                .secret_id(&name)
                .secret_string(&text)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(e)))?;
        }
        Ok((key, ring))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_secrets_are_standard_webhooks_secrets_and_differ() {
        let a = super::new_secret();
        let b = super::new_secret();
        assert_ne!(a, b);
        assert!(crate::standard_webhooks::SigningSecret::parse(&a).is_ok());
        assert!(a.starts_with("whsec_"));
    }
}
