//! HMAC-SHA256 webhook signatures: computing them and verifying them in constant time.
//!
//! What ServiceTitan signs and how it encodes the digest is not publicly documented, so the header name and the
//! accepted encodings come from [`crate::webhook_scheme::SignatureScheme`]. This module only does the maths.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const DIGEST_LEN: usize = 32;

/// How the digest is written in the signature header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Accept hex (64 characters) or base64, whichever the value is.
    #[default]
    Auto,
    Base64,
    Hex,
}

impl std::str::FromStr for SignatureEncoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "base64" => Ok(Self::Base64),
            "hex" => Ok(Self::Hex),
            other => Err(format!("expected auto, base64 or hex, got {other:?}")),
        }
    }
}

/// HMAC-SHA256 of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> [u8; DIGEST_LEN] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value a sender using `encoding` would send (`Auto` signs as base64).
pub fn encode(digest: &[u8], encoding: SignatureEncoding) -> String {
    match encoding {
        SignatureEncoding::Hex => hex::encode(digest),
        SignatureEncoding::Base64 | SignatureEncoding::Auto => STANDARD.encode(digest),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header holds no digest in an accepted encoding")]
    Malformed,
    #[error("no signing key is active")]
    NoActiveKey,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// A key candidate for verification: an id for logs and the raw key bytes.
pub trait VerificationKey {
    fn key_id(&self) -> &str;
    fn key_bytes(&self) -> &[u8];
}

/// Verifies `header` (one or more digests separated by commas or spaces, each optionally prefixed `sha256=`)
/// against `body` under each of `keys`, in order. Returns the id of the first key that matches.
///
/// Each comparison is constant-time (`Mac::verify_slice`), so a forger learns nothing from timing about how close
/// a guess was. Which key matched is not secret, so the search stops at the first match; callers list the key most
/// likely to match first.
pub fn verify<'k, K: VerificationKey>(
    header: Option<&str>,
    encoding: SignatureEncoding,
    body: &[u8],
    keys: &'k [K],
) -> Result<&'k str, VerifyError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(VerifyError::Missing)?;
    let digests: Vec<Vec<u8>> = header
        .split([',', ' '])
        .filter(|t| !t.is_empty())
        .filter_map(|token| decode_digest(token, encoding))
        .collect();
    if digests.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if keys.is_empty() {
        return Err(VerifyError::NoActiveKey);
    }
    for key in keys {
        let mut mac = HmacSha256::new_from_slice(key.key_bytes()).expect("HMAC accepts keys of any length");
        mac.update(body);
        if digests.iter().any(|digest| mac.clone().verify_slice(digest).is_ok()) {
            return Ok(key.key_id());
        }
    }
    Err(VerifyError::Mismatch)
}

fn decode_digest(token: &str, encoding: SignatureEncoding) -> Option<Vec<u8>> {
    let value = strip_prefix_ignore_case(token, "sha256=").unwrap_or(token);
    let hex = || hex::decode(value).ok();
    let b64 = || STANDARD.decode(value).or_else(|_| STANDARD_NO_PAD.decode(value)).ok();
    let bytes = match encoding {
        SignatureEncoding::Hex => hex(),
        SignatureEncoding::Base64 => b64(),
        // 64 hex characters decode as base64 too, but to 48 bytes, so try hex first for that shape.
        SignatureEncoding::Auto if value.len() == 2 * DIGEST_LEN => hex().or_else(b64),
        SignatureEncoding::Auto => b64(),
    }?;
    (bytes.len() == DIGEST_LEN).then_some(bytes)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Key(&'static str, &'static str);
    impl VerificationKey for Key {
        fn key_id(&self) -> &str {
            self.0
        }
        fn key_bytes(&self) -> &[u8] {
            self.1.as_bytes()
        }
    }

    // Known-answer vectors: see tests/fixtures/signatures/README.md for how each was computed with openssl.
    const FIXTURES: &str = include_str!("../../../tests/fixtures/signatures/vectors.json");

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        key: String,
        body: String,
        hex: String,
        base64: String,
    }

    fn vectors() -> Vec<Vector> {
        serde_json::from_str(FIXTURES).expect("vectors.json parses")
    }

    #[test]
    fn matches_openssl_known_answers() {
        let vectors = vectors();
        assert!(vectors.len() >= 3);
        for v in vectors {
            let digest = sign(v.key.as_bytes(), v.body.as_bytes());
            assert_eq!(encode(&digest, SignatureEncoding::Hex), v.hex, "{}", v.name);
            assert_eq!(encode(&digest, SignatureEncoding::Base64), v.base64, "{}", v.name);
        }
    }

    #[test]
    fn accepts_both_encodings_in_auto_mode_and_the_sha256_prefix() {
        for v in vectors() {
            let keys = [Key("k1", Box::leak(v.key.clone().into_boxed_str()))];
            for header in [
                v.hex.clone(),
                v.base64.clone(),
                format!("sha256={}", v.hex),
                v.hex.to_uppercase(),
            ] {
                assert_eq!(
                    verify(Some(&header), SignatureEncoding::Auto, v.body.as_bytes(), &keys),
                    Ok("k1"),
                    "{header}"
                );
            }
        }
    }

    #[test]
    fn rotation_accepts_any_active_key_and_reports_which() {
        let body = b"{\"eventId\":\"e1\"}";
        let keys = [
            Key("old", "old-key-old-key-old-key-old-key-01"),
            Key("new", "new-key-new-key-new-key-new-key-02"),
        ];
        let by_new = encode(&sign(keys[1].key_bytes(), body), SignatureEncoding::Base64);
        let by_old = encode(&sign(keys[0].key_bytes(), body), SignatureEncoding::Base64);
        assert_eq!(verify(Some(&by_new), SignatureEncoding::Auto, body, &keys), Ok("new"));
        assert_eq!(verify(Some(&by_old), SignatureEncoding::Auto, body, &keys), Ok("old"));
        // A sender signing with both during its own rotation: one match is enough.
        let both = format!("{by_old}, {by_new}");
        assert_eq!(
            verify(Some(&both), SignatureEncoding::Auto, body, &keys[1..]),
            Ok("new")
        );
        // A retired key no longer verifies.
        assert_eq!(
            verify(Some(&by_old), SignatureEncoding::Auto, body, &keys[1..]),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn tampered_body_is_rejected() {
        for v in vectors() {
            let keys = [Key("k", Box::leak(v.key.clone().into_boxed_str()))];
            let mut body = v.body.clone().into_bytes();
            body.push(b' ');
            assert_eq!(
                verify(Some(&v.hex), SignatureEncoding::Auto, &body, &keys),
                Err(VerifyError::Mismatch)
            );
        }
    }

    #[test]
    fn truncated_signature_is_rejected() {
        let v = &vectors()[0];
        let keys = [Key("k", Box::leak(v.key.clone().into_boxed_str()))];
        let short_hex = &v.hex[..v.hex.len() - 2];
        let short_b64 = &v.base64[..v.base64.len() - 4];
        for header in [short_hex, short_b64, &v.hex[..32]] {
            assert_eq!(
                verify(Some(header), SignatureEncoding::Auto, v.body.as_bytes(), &keys),
                Err(VerifyError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn wrong_encoding_is_rejected() {
        let v = &vectors()[0];
        let keys = [Key("k", Box::leak(v.key.clone().into_boxed_str()))];
        let body = v.body.as_bytes();
        assert_eq!(
            verify(Some(&v.base64), SignatureEncoding::Hex, body, &keys),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            verify(Some(&v.hex), SignatureEncoding::Base64, body, &keys),
            Err(VerifyError::Malformed)
        );
        // base64url is not base64: a digest with '-' or '_' must not be read as something else.
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode(sign(v.key.as_bytes(), body));
        if url_safe != v.base64 {
            assert_ne!(verify(Some(&url_safe), SignatureEncoding::Auto, body, &keys), Ok("k"));
        }
        assert_eq!(
            verify(Some("not a signature!"), SignatureEncoding::Auto, body, &keys),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn missing_header_and_no_keys() {
        let keys: [Key; 0] = [];
        assert_eq!(
            verify(None, SignatureEncoding::Auto, b"{}", &keys),
            Err(VerifyError::Missing)
        );
        assert_eq!(
            verify(Some("  "), SignatureEncoding::Auto, b"{}", &keys),
            Err(VerifyError::Missing)
        );
        let sig = encode(&sign(b"k", b"{}"), SignatureEncoding::Hex);
        assert_eq!(
            verify(Some(&sig), SignatureEncoding::Auto, b"{}", &keys),
            Err(VerifyError::NoActiveKey)
        );
    }
}
