//! The Standard Webhooks signature scheme, which signs the follow-ups this product delivers to the AI platform:
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 over
//! "id.timestamp.body">`, with a secret written `whsec_<base64>`.
//!
//! Written here rather than taken from the reference crate: its verification reads the wall clock, and the local
//! stack verifies on its virtual clock. The tests check this code against the reference crate and its published
//! vector.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// Receivers reject timestamps further than this from their clock, either way.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;
const PREFIX: &str = "whsec_";

/// A signing secret's key bytes. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 5 minutes from now")]
    OutsideTolerance,
    #[error("no v1 signature matches")]
    Mismatch,
}

impl SigningSecret {
    /// `whsec_<base64>`, or the bare base64 (the prefix is optional, as in the reference libraries). At least 24
    /// bytes, as the specification asks.
    pub fn parse(secret: &str) -> Result<Self, String> {
        let b64 = secret.trim().strip_prefix(PREFIX).unwrap_or(secret.trim());
        let key = STANDARD
            .decode(b64)
            .map_err(|_| "the signing secret is not whsec_ followed by base64".to_owned())?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "the signing secret decodes to {} bytes; Standard Webhooks needs 24 to 64",
                key.len()
            ));
        }
        Ok(Self(key))
    }

    /// A new random secret in `whsec_` form (for the local stack, feature `testing`; AWS generates the deployed
    /// one). Not a cryptographic generator.
    #[cfg(any(test, feature = "testing"))]
    pub fn generate() -> String {
        use std::hash::{BuildHasher, RandomState};
        let mut bytes = Vec::with_capacity(32);
        for i in 0u8..4 {
            bytes.extend_from_slice(&RandomState::new().hash_one(i).to_le_bytes());
        }
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "v1,{}",
            STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes())
        )
    }

    /// Verifies a delivery's headers and body at `now`, comparing signatures in constant time. `signature` may list
    /// several space-separated signatures (during a secret rotation); one match is enough.
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<(), VerifyError> {
        let id = id.ok_or(VerifyError::Missing(HEADER_ID))?;
        let ts: i64 = timestamp
            .ok_or(VerifyError::Missing(HEADER_TIMESTAMP))?
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadTimestamp)?;
        let signature = signature.ok_or(VerifyError::Missing(HEADER_SIGNATURE))?;
        if (now.as_second() - ts).abs() > TOLERANCE_SECONDS {
            return Err(VerifyError::OutsideTolerance);
        }
        let mac = self.mac(id, ts, body);
        let matched = signature
            .split(' ')
            .filter_map(|s| s.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, b64)| STANDARD.decode(b64).ok())
            .any(|digest| mac.clone().verify_slice(&digest).is_ok());
        if matched { Ok(()) } else { Err(VerifyError::Mismatch) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published `sign` vector of the Standard Webhooks libraries (see the project's notes).
    #[test]
    fn matches_the_published_vector() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            secret,
            "the prefix is optional"
        );
    }

    /// Signatures agree with the Standard Webhooks reference implementation on varied inputs.
    #[test]
    fn agrees_with_the_reference_crate() {
        for (i, body) in ["{}", r#"{"type":"followup.requested","data":{"text":"Hi ☀"}}"#, ""]
            .iter()
            .enumerate()
        {
            let secret_text = SigningSecret::generate();
            let ours = SigningSecret::parse(&secret_text).unwrap();
            let reference = standardwebhooks::Webhook::new(&secret_text).unwrap();
            let id = format!("fu_1001_run.{i}_s0r0");
            let ts = 1_795_000_000 + i as i64;
            assert_eq!(
                ours.sign(&id, ts, body.as_bytes()),
                reference.sign(&id, ts, body.as_bytes()).unwrap()
            );
        }
    }

    #[test]
    fn verifies_in_tolerance_and_rejects_tampering() {
        let secret = SigningSecret::parse(&SigningSecret::generate()).unwrap();
        let now: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let ts = now.as_second();
        let sig = secret.sign("msg_1", ts, b"{}");
        let ts_text = ts.to_string();
        assert_eq!(
            secret.verify(Some("msg_1"), Some(&ts_text), Some(&sig), b"{}", now),
            Ok(())
        );
        // Several signatures, one good (a rotation): accepted.
        let several = format!("v1,AAAA v2,zzz {sig}");
        assert_eq!(
            secret.verify(Some("msg_1"), Some(&ts_text), Some(&several), b"{}", now),
            Ok(())
        );
        assert_eq!(
            secret.verify(Some("msg_1"), Some(&ts_text), Some(&sig), b"{ }", now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            secret.verify(Some("msg_2"), Some(&ts_text), Some(&sig), b"{}", now),
            Err(VerifyError::Mismatch)
        );
        let late = now + jiff::SignedDuration::from_mins(6);
        assert_eq!(
            secret.verify(Some("msg_1"), Some(&ts_text), Some(&sig), b"{}", late),
            Err(VerifyError::OutsideTolerance)
        );
        assert_eq!(
            secret.verify(None, Some(&ts_text), Some(&sig), b"{}", now),
            Err(VerifyError::Missing(HEADER_ID))
        );
        assert!(format!("{secret:?}").contains("redacted"));
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err(), "too short");
    }
}
