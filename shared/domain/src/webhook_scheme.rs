//! The one place that says how a ServiceTitan webhook delivery is signed and laid out.
//!
//! ServiceTitan's V2 webhooks are not publicly documented beyond "an HMAC of the payload in a header" (see the
//! project notes, servicetitan-api.md §4). Everything guessed is therefore configuration with a default, read here
//! and nowhere else: the intake verifies with it and the sandbox signs with it.

use crate::config::{ConfigError, EnvSource, parse_bool};
use crate::signing::SignatureEncoding;

pub const DEFAULT_SIGNATURE_HEADER: &str = "X-ServiceTitan-Signature";
/// ServiceTitan retries on anything but 200 and SQS takes at most 1 MiB, so larger bodies are refused up front.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// JSON pointers tried in order. V1 deliveries carried `__tenantInfo.id` and `__eventInfo.{eventId,webhookType}`;
/// the V2 envelope is unknown, so common envelope names come first.
pub const DEFAULT_TENANT_POINTERS: &[&str] = &["/tenantId", "/tenant/id", "/__tenantInfo/id"];
// Never `/id`: in V1 bodies that is the entity id, and deduplicating on it would swallow later events.
pub const DEFAULT_EVENT_ID_POINTERS: &[&str] = &["/eventId", "/__eventInfo/eventId"];
pub const DEFAULT_EVENT_NAME_POINTERS: &[&str] = &["/eventType", "/event", "/type", "/__eventInfo/webhookType"];
pub const DEFAULT_ENTITY_ID_POINTERS: &[&str] = &["/entityId", "/data/id", "/entity/id", "/id"];
pub const DEFAULT_OCCURRED_AT_POINTERS: &[&str] = &["/occurredAt", "/timestamp", "/createdOn", "/modifiedOn"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureScheme {
    /// Header holding the digest(s). Header names are case-insensitive.
    pub header: String,
    pub encoding: SignatureEncoding,
    /// Accept deliveries with no signature header. Off unless a deployment opts in.
    pub allow_unsigned: bool,
}

impl Default for SignatureScheme {
    fn default() -> Self {
        Self {
            header: DEFAULT_SIGNATURE_HEADER.to_owned(),
            encoding: SignatureEncoding::Auto,
            allow_unsigned: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeScheme {
    pub tenant_pointers: Vec<String>,
    pub event_id_pointers: Vec<String>,
    pub event_name_pointers: Vec<String>,
    pub entity_id_pointers: Vec<String>,
    pub occurred_at_pointers: Vec<String>,
}

impl Default for EnvelopeScheme {
    fn default() -> Self {
        let own = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect();
        Self {
            tenant_pointers: own(DEFAULT_TENANT_POINTERS),
            event_id_pointers: own(DEFAULT_EVENT_ID_POINTERS),
            event_name_pointers: own(DEFAULT_EVENT_NAME_POINTERS),
            entity_id_pointers: own(DEFAULT_ENTITY_ID_POINTERS),
            occurred_at_pointers: own(DEFAULT_OCCURRED_AT_POINTERS),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookScheme {
    pub signature: SignatureScheme,
    pub envelope: EnvelopeScheme,
    pub max_body_bytes: usize,
}

impl Default for WebhookScheme {
    fn default() -> Self {
        Self {
            signature: SignatureScheme::default(),
            envelope: EnvelopeScheme::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl WebhookScheme {
    /// Reads `WEBHOOK_SIGNATURE_HEADER`, `WEBHOOK_SIGNATURE_ENCODING`, `WEBHOOK_ALLOW_UNSIGNED`,
    /// `WEBHOOK_MAX_BODY_BYTES` and the `WEBHOOK_*_POINTERS` lists, each with the defaults above.
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let header = env
            .var("WEBHOOK_SIGNATURE_HEADER")
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_SIGNATURE_HEADER.to_owned());
        if http::HeaderName::from_bytes(header.trim().as_bytes()).is_err() {
            return Err(ConfigError::Invalid {
                key: "WEBHOOK_SIGNATURE_HEADER".into(),
                reason: format!("{header:?} is not a valid HTTP header name"),
            });
        }
        let envelope = EnvelopeScheme {
            tenant_pointers: pointers(env, "WEBHOOK_TENANT_POINTERS", DEFAULT_TENANT_POINTERS)?,
            event_id_pointers: pointers(env, "WEBHOOK_EVENT_ID_POINTERS", DEFAULT_EVENT_ID_POINTERS)?,
            event_name_pointers: pointers(env, "WEBHOOK_EVENT_NAME_POINTERS", DEFAULT_EVENT_NAME_POINTERS)?,
            entity_id_pointers: pointers(env, "WEBHOOK_ENTITY_ID_POINTERS", DEFAULT_ENTITY_ID_POINTERS)?,
            occurred_at_pointers: pointers(env, "WEBHOOK_OCCURRED_AT_POINTERS", DEFAULT_OCCURRED_AT_POINTERS)?,
        };
        Ok(Self {
            signature: SignatureScheme {
                header: header.trim().to_owned(),
                encoding: env.parsed_or("WEBHOOK_SIGNATURE_ENCODING", SignatureEncoding::Auto)?,
                allow_unsigned: parse_bool("WEBHOOK_ALLOW_UNSIGNED", env.var("WEBHOOK_ALLOW_UNSIGNED"), false)?,
            },
            envelope,
            max_body_bytes: env.parsed_or("WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
        })
    }
}

fn pointers(env: &impl EnvSource, key: &str, default: &[&str]) -> Result<Vec<String>, ConfigError> {
    let list = env.list_or(key, default);
    if let Some(bad) = list.iter().find(|p| !p.starts_with('/')) {
        return Err(ConfigError::Invalid {
            key: key.to_owned(),
            reason: format!("{bad:?} is not a JSON pointer (RFC 6901 pointers start with '/')"),
        });
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_and_overrides() {
        let empty: HashMap<String, String> = HashMap::new();
        assert_eq!(WebhookScheme::from_env(&empty).unwrap(), WebhookScheme::default());

        let env: HashMap<String, String> = [
            ("WEBHOOK_SIGNATURE_HEADER", "X-ST-Signature"),
            ("WEBHOOK_SIGNATURE_ENCODING", "hex"),
            ("WEBHOOK_ALLOW_UNSIGNED", "true"),
            ("WEBHOOK_TENANT_POINTERS", "/meta/tenant"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = WebhookScheme::from_env(&env).unwrap();
        assert_eq!(s.signature.header, "X-ST-Signature");
        assert_eq!(s.signature.encoding, SignatureEncoding::Hex);
        assert!(s.signature.allow_unsigned);
        assert_eq!(s.envelope.tenant_pointers, vec!["/meta/tenant"]);
    }

    #[test]
    fn rejects_bad_pointer_and_header() {
        let env: HashMap<String, String> = [("WEBHOOK_EVENT_ID_POINTERS", "eventId")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert!(
            WebhookScheme::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("WEBHOOK_EVENT_ID_POINTERS")
        );
        let env: HashMap<String, String> = [("WEBHOOK_SIGNATURE_HEADER", "bad header")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert!(WebhookScheme::from_env(&env).is_err());
    }
}
